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
  /** Response headers the error implies (Retry-After of a 429); transports that have headers send them. */
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(
    code: ErrorCode,
    options: { message?: string; details?: unknown; cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(options.message ?? errorCodes[code].message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
    this.headers = options.headers;
  }

  get httpStatus(): number {
    return errorCodes[this.code].httpStatus;
  }

  static validation(details: FieldProblem[], message?: string): AppError {
    return new AppError('VALIDATION_FAILED', { details, ...(message ? { message } : {}) });
  }
}
