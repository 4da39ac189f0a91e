import pino, { type LoggerOptions } from 'pino';
import type { AppConfig } from '../config/config.schema.js';
import { requestContext } from './request-context.js';

/**
 * Paths pino replaces with [redacted]. Covers headers and any body or object field named like a
 * secret, at the top level and one or two levels down.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  ...['password', 'newPassword', 'currentPassword', 'passwordHash', 'token', 'accessToken', 'refreshToken', 'secret', 'apiKey', 'authorization', 'cookie', 'databaseUrl', 'DATABASE_URL', 'REDIS_URL', 'SMTP_URL'].flatMap(
    (field) => [field, `*.${field}`, `*.*.${field}`],
  ),
];

/**
 * Errors are logged with their type, message, code and stack only. PostgreSQL errors also carry
 * `detail` (row values such as emails), `where` and `internalQuery` (SQL text); those stay out.
 */
export function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const { code, constraint, table } = error as Error & { code?: unknown; constraint?: unknown; table?: unknown };
  return {
    type: error.name,
    message: error.message,
    ...(typeof code === 'string' && { code }),
    ...(typeof constraint === 'string' && { constraint }),
    ...(typeof table === 'string' && { table }),
    stack: error.stack,
    ...(error.cause !== undefined && { cause: serializeError(error.cause) }),
  };
}

/** pino options shared by the HTTP logger and the process logger. */
export function loggerOptions(config: AppConfig): LoggerOptions {
  return {
    level: config.LOG_LEVEL,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    base: { service: 'groundwork', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Lines logged away from the HTTP hooks (services, repositories) still carry the
    // request id, read from the request's AsyncLocalStorage context.
    // A call that names requestId itself (the HTTP hooks do) keeps it, so no line has it twice.
    mixin: (mergeObject) => {
      if ('requestId' in mergeObject) return {};
      const context = requestContext.current();
      return context ? { requestId: context.requestId } : {};
    },
  };
}

/** A logger for code that runs outside Nest's DI (bootstrap, scripts, the embedded database). */
export function createProcessLogger(config: AppConfig): pino.Logger {
  return pino(loggerOptions(config));
}
