import { ParseUUIDPipe, ValidationPipe, type ValidationError } from '@nestjs/common';
import { AppError, type FieldProblem } from './app-error.js';

/** Flattens class-validator's tree into `[{field: "users[3].email", message}]`. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const error of errors) {
    const isIndex = /^\d+$/.test(error.property);
    const field = parent === '' ? error.property : isIndex ? `${parent}[${error.property}]` : `${parent}.${error.property}`;
    for (const message of Object.values(error.constraints ?? {})) {
      problems.push({ field, message });
    }
    if (error.children && error.children.length > 0) {
      problems.push(...flattenValidationErrors(error.children, field));
    }
  }
  return problems;
}

/**
 * The global pipe: unknown fields are refused (not silently dropped), values are converted to the
 * DTO's types, and failures become VALIDATION_FAILED with one detail per field.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    stopAtFirstError: true,
    exceptionFactory: (errors) => AppError.validation(flattenValidationErrors(errors)),
  });
}

/** ParseUUIDPipe whose failure is a VALIDATION_FAILED envelope naming the parameter. */
export const uuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => AppError.validation([{ field: 'id', message: 'id must be a UUID' }]),
});
