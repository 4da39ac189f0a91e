import { plainToInstance } from 'class-transformer';
import { NotContains, registerDecorator, validate, ValidateIf, type ValidationOptions } from 'class-validator';
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

/** Whether a JSON value holds U+0000 in any string or key; jsonb refuses it. */
function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([key, child]) => key.includes('\u0000') || containsNul(child));
}

/**
 * A plain JSON object of bounded size and depth, so a jsonb column cannot be used to store megabytes,
 * and without NUL characters, which jsonb cannot store.
 */
export function IsSmallJsonObject(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) => {
    registerDecorator({
      name: 'isSmallJsonObject',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: `$property must be a JSON object of at most ${MAX_JSON_BYTES} bytes and ${MAX_JSON_DEPTH} levels, without NUL characters`,
        ...options,
      },
      validator: {
        validate(value: unknown): boolean {
          if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
          // Size and depth first: they bound the walk for NUL characters.
          return Buffer.byteLength(JSON.stringify(value)) <= MAX_JSON_BYTES && depthOf(value) <= MAX_JSON_DEPTH && !containsNul(value);
        },
      },
    });
  };
}

/**
 * Refuses strings containing U+0000. PostgreSQL text cannot hold it, so without this check the
 * value fails in the database as a 500 instead of a 400 naming the field.
 */
export function HasNoNulCharacter(options?: ValidationOptions): PropertyDecorator {
  return NotContains('\u0000', { message: '$property must not contain NUL characters', ...options });
}

/**
 * Like IsOptional, but only an absent property skips validation: null is validated, and refused,
 * like any other value. For PATCH fields whose column cannot be NULL, where IsOptional would let
 * null through to the database.
 */
export function IsOptionalNotNull(options?: ValidationOptions): PropertyDecorator {
  return ValidateIf((_object, value) => value !== undefined, options);
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
