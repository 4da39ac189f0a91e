import { errorCodes, type ErrorCode } from './error-codes.js';

/** One problem with one input field, as returned in `error.details`. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * The only error type services throw. It carries a registered code; the REST, GraphQL and gRPC
 * mappers turn it into their transport's status and envelope.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, options: { message?: string; details?: unknown; cause?: unknown } = {}) {
    super(options.message ?? errorCodes[code].message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
  }

  get httpStatus(): number {
    return errorCodes[this.code].httpStatus;
  }

  static validation(details: FieldProblem[], message?: string): AppError {
    return new AppError('VALIDATION_FAILED', { details, ...(message ? { message } : {}) });
  }
}
