/**
 * What a ResilientHttpClient call can fail with, after its retries. Every error names the downstream
 * service, so a caller (a gateway driver) can map it to its own AppError without parsing messages.
 * They are not AppErrors on purpose: whether "payment provider unavailable" is a 503 for the client
 * or a saga compensation is the caller's decision, not the transport's.
 */
export abstract class HttpClientError extends Error {
  /** Whether the downstream may have processed the request (matters for non-idempotent calls). */
  abstract readonly mayHaveReachedServer: boolean;

  constructor(
    readonly service: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The circuit breaker of the service is open (or half-open with its probe in flight): nothing was sent. */
export class CircuitOpenError extends HttpClientError {
  readonly mayHaveReachedServer = false;

  constructor(service: string, cause?: unknown) {
    super(service, `${service}: circuit breaker is open; call not attempted`, { cause });
  }
}

/** An attempt did not complete within its timeout; the request may or may not have been processed. */
export class HttpTimeoutError extends HttpClientError {
  readonly mayHaveReachedServer = true;

  constructor(
    service: string,
    readonly timeoutMs: number,
    cause?: unknown,
  ) {
    super(service, `${service}: no response within ${timeoutMs} ms`, { cause });
  }
}

/** The connection failed or was dropped (refused, reset, closed mid-response). */
export class HttpNetworkError extends HttpClientError {
  readonly mayHaveReachedServer: boolean;
  /** The socket-level code (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, ...), when there is one. */
  readonly code: string | undefined;

  constructor(service: string, cause: unknown) {
    const code = errorCode(cause);
    super(service, `${service}: network error${code ? ` (${code})` : ''}`, { cause });
    this.code = code;
    // A refused or unresolvable connection never carried the request; anything later might have.
    this.mayHaveReachedServer = !(code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'UND_ERR_CONNECT_TIMEOUT');
  }
}

/**
 * The downstream answered 5xx or 429 and the call was not (or no longer) retried. 4xx answers other
 * than 429 are not errors of the client: they are returned as responses for the caller to read.
 */
export class HttpStatusError extends HttpClientError {
  readonly mayHaveReachedServer = true;

  constructor(
    service: string,
    readonly status: number,
    readonly body: unknown,
    /** Retry-After of a 429 or 503, in milliseconds, when the downstream sent one. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(service, `${service}: answered ${status}`);
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== error ? errorCode(cause) : undefined;
}
