import { HttpException } from '@nestjs/common';
import { AppError } from './app-error.js';
import { errorCodes, type ErrorCode } from './error-codes.js';

/** The REST error envelope, as the guideline gives it, plus the request id. */
export interface ErrorEnvelope {
  error: {
    code: ErrorCode;
    message: string;
    details: unknown;
    timestamp: string;
    path: string;
    requestId: string | undefined;
  };
}

export interface MappedError {
  status: number;
  code: ErrorCode;
  message: string;
  details: unknown;
  /** True for errors the client did not cause; they are logged with their stack. */
  unexpected: boolean;
  headers?: Record<string, string>;
}

// Fastify's own errors (body parsing, content type, limits) carry these codes.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MALFORMED_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_REQUEST',
  FST_ERR_CTP_EMPTY_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_BAD_URL: 'MALFORMED_URL',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
};

// PostgreSQL conditions and socket errors that mean "a dependency is overloaded or unreachable",
// not "your request is wrong": the client may retry.
const UNAVAILABLE_CODES = new Set([
  '57014', // query_canceled (statement timeout)
  '53300', // too_many_connections
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now
  '08006', // connection_failure
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '3D000', // invalid_catalog_name: the database is gone (dropped or not yet restored)
  '28000', // invalid_authorization_specification
  '28P01', // invalid_password: credentials rotated under us
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
]);

const HTTP_STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'MALFORMED_REQUEST',
  404: 'ROUTE_NOT_FOUND',
  414: 'URI_TOO_LONG',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  503: 'SERVICE_UNAVAILABLE',
};

function registered(code: ErrorCode, extra: Partial<MappedError> = {}): MappedError {
  const definition = errorCodes[code];
  return {
    status: definition.httpStatus,
    code,
    message: definition.message,
    details: undefined,
    unexpected: false,
    ...extra,
  };
}

/** Maps anything thrown while serving a request to a status and a client-safe error. */
export function mapErrorToRest(exception: unknown): MappedError {
  if (exception instanceof AppError) {
    return registered(exception.code, {
      message: exception.message,
      details: exception.details,
      ...(exception.headers && { headers: { ...exception.headers } }),
    });
  }

  const fastifyCode = (exception as { code?: unknown } | null)?.code;
  if (typeof fastifyCode === 'string') {
    const mapped = FASTIFY_CODES[fastifyCode];
    if (mapped) return registered(mapped);
    if (UNAVAILABLE_CODES.has(fastifyCode)) {
      return registered('SERVICE_UNAVAILABLE', { headers: { 'retry-after': '1' }, unexpected: true });
    }
  }
  if (
    exception instanceof Error &&
    /timeout exceeded when trying to connect|Connection terminated unexpectedly/i.test(exception.message)
  ) {
    return registered('SERVICE_UNAVAILABLE', { headers: { 'retry-after': '1' }, unexpected: true });
  }

  // Framework exceptions (router 404, body parser 400) and fastify errors with a 4xx statusCode.
  const status =
    exception instanceof HttpException
      ? exception.getStatus()
      : (exception as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = HTTP_STATUS_CODES[status];
    if (code) return registered(code);
    return registered('MALFORMED_REQUEST', { status });
  }
  if (status === 503) return registered('SERVICE_UNAVAILABLE', { headers: { 'retry-after': '1' } });

  return registered('INTERNAL', { unexpected: true });
}

export function buildEnvelope(mapped: MappedError, path: string, requestId: string | undefined): ErrorEnvelope {
  return {
    error: {
      code: mapped.code,
      message: mapped.message,
      details: mapped.details ?? null,
      timestamp: new Date().toISOString(),
      path,
      requestId,
    },
  };
}
