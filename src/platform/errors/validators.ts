import { plainToInstance } from 'class-transformer';
import { registerDecorator, validate, type ValidationOptions } from 'class-validator';
import type { FieldProblem } from './app-error.js';
import { flattenValidationErrors } from './validation.js';

const MAX_JSON_BYTES = 8192;
const MAX_JSON_DEPTH = 5;

function depthOf(value: unknown, level = 0): number {
  if (level > MAX_JSON_DEPTH) return level;
  if (value === null || typeof value !== 'object') return level;
  let deepest = level + 1;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, level + 1));
  return deepest;
}

/** A plain JSON object of bounded size and depth, so a jsonb column cannot be used to store megabytes. */
export function IsSmallJsonObject(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) => {
    registerDecorator({
      name: 'isSmallJsonObject',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: `$property must be a JSON object of at most ${MAX_JSON_BYTES} bytes and ${MAX_JSON_DEPTH} levels`,
        ...options,
      },
      validator: {
        validate(value: unknown): boolean {
          if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
          return Buffer.byteLength(JSON.stringify(value)) <= MAX_JSON_BYTES && depthOf(value) <= MAX_JSON_DEPTH;
        },
      },
    });
  };
}

/**
 * Validates one plain object against a DTO class with the same rules as the global pipe. Used where
 * items of one request are judged separately (207 batch endpoints).
 */
export async function validatePlain<T extends object>(
  dto: new () => T,
  plain: Record<string, unknown>,
): Promise<{ value: T; problems: [] } | { value: undefined; problems: FieldProblem[] }> {
  const value = plainToInstance(dto, plain);
  const errors = await validate(value, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true, stopAtFirstError: true });
  if (errors.length > 0) return { value: undefined, problems: flattenValidationErrors(errors) };
  return { value, problems: [] };
}
