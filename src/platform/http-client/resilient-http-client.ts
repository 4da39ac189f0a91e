import { randomUUID } from 'node:crypto';
import {
  BrokenCircuitError,
  CircuitState,
  CountBreaker,
  DelegateBackoff,
  TimeoutStrategy,
  circuitBreaker,
  decorrelatedJitterGenerator,
  handleWhen,
  retry,
  timeout,
  wrap,
  type CircuitBreakerPolicy,
  type IPolicy,
  type IRetryBackoffContext,
  type RetryPolicy,
} from 'cockatiel';
import type { Logger } from 'pino';
import { Pool } from 'undici';
import { requestContext } from '../observability/request-context.js';
import { CircuitOpenError, HttpClientError, HttpNetworkError, HttpStatusError, HttpTimeoutError } from './http-client.errors.js';
import type { AttemptOutcome, CircuitStateName, FailureReason, HttpClientMetrics } from './http-client.metrics.js';
import { formatTraceParent, traceOf } from './trace-context.js';

export type HttpMethod = 'GET' | 'HEAD' | 'OPTIONS' | 'PUT' | 'DELETE' | 'POST' | 'PATCH';

// RFC 9110 section 9.2.2: repeating these has the same effect as sending them once.
const IDEMPOTENT_METHODS: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** How one downstream service is called. Every field has a default from the configuration. */
export interface ResilientHttpClientOptions {
  /** Origin (and optional path prefix) of the downstream, e.g. http://payments.internal:8080/v1. */
  baseUrl: string;
  /** Per-attempt timeout in milliseconds; a call may override it. */
  timeoutMs: number;
  retry: {
    /** Attempts in total, the first included (1 disables retries). */
    maxAttempts: number;
    /** Scale of the exponential backoff (decorrelated jitter), in milliseconds. */
    initialDelayMs: number;
    /** Longest backoff between two attempts, in milliseconds. */
    maxDelayMs: number;
    /** Longest Retry-After the client waits; a 429/503 asking for longer is not retried. */
    maxRetryAfterMs: number;
  };
  breaker: {
    /** Share of failed calls (0-1) in the window that opens the breaker. */
    failureRatio: number;
    /** How many of the latest calls the ratio is computed over. */
    windowSize: number;
    /** Calls needed in the window before the ratio can open the breaker. */
    minimumCalls: number;
    /** How long the breaker stays open before it lets one probe through (half-open). */
    halfOpenAfterMs: number;
  };
  /** Headers sent on every call (e.g. an API key); per-call headers win. */
  headers?: Readonly<Record<string, string>>;
  /** Keep-alive connections to the downstream. */
  connections?: number;
}

/** A downstream's answer as the caller sees it. */
export interface HttpResponse<T> {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Parsed JSON when the response says it is JSON, the text otherwise, undefined when empty. */
  body: T;
  /** Requests that went on the wire for this call (0 when a fallback answered an open breaker). */
  attempts: number;
  /** True when the body came from the call's fallback, not from the downstream. */
  fromFallback: boolean;
}

/** What a fallback returns in place of the downstream's answer. */
export interface FallbackResponse<T> {
  status: number;
  body: T;
  headers?: Record<string, string>;
}

export interface HttpCallOptions<T = unknown> {
  query?: Readonly<Record<string, string | number | boolean | undefined>>;
  headers?: Readonly<Record<string, string>>;
  /**
   * Sent as the Idempotency-Key header. A call that has one is retried even when its method is not
   * idempotent (POST, PATCH): the downstream deduplicates the repeats.
   */
  idempotencyKey?: string;
  /** Per-attempt timeout for this call, in milliseconds. */
  timeoutMs?: number;
  /** Aborts the call (no retry, no fallback, not counted against the breaker). */
  signal?: AbortSignal;
  /** Answers instead of failing when the call fails after its retries or the breaker is open. */
  fallback?: (error: HttpClientError) => FallbackResponse<T> | Promise<FallbackResponse<T>>;
}

export interface HttpRequest<T = unknown> extends HttpCallOptions<T> {
  method: HttpMethod;
  /** Path below the base URL, starting with '/'. */
  path: string;
  /** Sent as JSON. */
  body?: unknown;
}

interface Attempt {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

const STATE_NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'isolated',
};

/**
 * An HTTP client for one downstream service: per-attempt timeout, retries with exponential jittered
 * backoff (only where repeating is safe), a failure-ratio circuit breaker, an optional fallback,
 * request id and trace propagation, and metrics. Get one from HttpClientFactory.forService().
 */
export class ResilientHttpClient {
  private readonly pool: Pool;
  private readonly origin: string;
  private readonly pathPrefix: string;
  private readonly breaker: CircuitBreakerPolicy;
  private readonly retrying: RetryPolicy;
  private readonly options: ResilientHttpClientOptions;
  readonly baseUrl: string;

  constructor(
    /** The downstream's name: the `service` label of its metrics and the name in its errors. */
    readonly service: string,
    options: ResilientHttpClientOptions,
    private readonly metrics: HttpClientMetrics,
    private readonly logger: Logger,
  ) {
    this.options = options;
    this.baseUrl = options.baseUrl;
    validate(service, options);
    const base = new URL(options.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`${service}: baseUrl must be http or https`);
    this.origin = base.origin;
    this.pathPrefix = base.pathname.replace(/\/+$/, '');
    this.pool = new Pool(this.origin, { connections: options.connections ?? 16 });

    // Only failures that say the downstream is unwell count against it: timeouts, network errors
    // and 5xx. A 429 is the downstream protecting itself and is handled by Retry-After; 4xx
    // answers are the caller's problem; a caller's abort says nothing about the downstream.
    this.breaker = circuitBreaker(
      handleWhen((error) => error instanceof HttpTimeoutError || error instanceof HttpNetworkError || (error instanceof HttpStatusError && error.status >= 500)),
      {
        halfOpenAfter: options.breaker.halfOpenAfterMs,
        breaker: new CountBreaker({
          threshold: options.breaker.failureRatio,
          size: options.breaker.windowSize,
          minimumNumberOfCalls: options.breaker.minimumCalls,
        }),
      },
    );
    this.metrics.setCircuitState(service, 'closed');
    this.breaker.onStateChange((state) => {
      const name = STATE_NAMES[state];
      this.metrics.setCircuitState(service, name);
      const line = { downstream: service, circuit: name };
      if (state === CircuitState.Open) this.logger.warn(line, 'circuit breaker opened: calls fail fast');
      else if (state === CircuitState.HalfOpen) this.logger.info(line, 'circuit breaker half-open: probing');
      else this.logger.info(line, 'circuit breaker closed');
    });

    this.retrying = retry(handleWhen((error) => this.isRetryable(error)), {
      maxAttempts: options.retry.maxAttempts - 1,
      backoff: new DelegateBackoff<IRetryBackoffContext<unknown>, [number, number] | undefined>((context, state) => {
        const error = 'error' in context.result ? context.result.error : undefined;
        const [jittered, nextState] = decorrelatedJitterGenerator(state, {
          generator: decorrelatedJitterGenerator,
          initialDelay: options.retry.initialDelayMs,
          maxDelay: options.retry.maxDelayMs,
          exponent: 2,
        });
        // The downstream said when to come back; isRetryable already refused waits over the cap.
        const retryAfter = error instanceof HttpStatusError ? error.retryAfterMs : undefined;
        return { delay: retryAfter ?? jittered, state: nextState };
      }),
    });
    this.retrying.onRetry((event) => {
      const error = 'error' in event ? event.error : undefined;
      const reason = retryReason(error);
      this.metrics.retries.inc({ downstream: service, reason });
      this.logger.warn({ downstream: service, attempt: event.attempt, delayMs: Math.round(event.delay), reason }, 'outbound call failed; retrying');
    });
  }

  /** The breaker's state: closed, open, half_open or isolated. */
  get circuitState(): CircuitStateName {
    return STATE_NAMES[this.breaker.state];
  }

  /** GET a path; retried on failure (GET is idempotent). */
  get<T = unknown>(path: string, options: HttpCallOptions<T> = {}): Promise<HttpResponse<T>> {
    return this.request<T>({ ...options, method: 'GET', path });
  }

  /** POST a JSON body; retried only when the call carries an idempotency key. */
  post<T = unknown>(path: string, body: unknown, options: HttpCallOptions<T> = {}): Promise<HttpResponse<T>> {
    return this.request<T>({ ...options, method: 'POST', path, body });
  }

  /** PUT a JSON body; retried on failure (PUT is idempotent). */
  put<T = unknown>(path: string, body: unknown, options: HttpCallOptions<T> = {}): Promise<HttpResponse<T>> {
    return this.request<T>({ ...options, method: 'PUT', path, body });
  }

  /** DELETE a path; retried on failure (DELETE is idempotent). */
  delete<T = unknown>(path: string, options: HttpCallOptions<T> = {}): Promise<HttpResponse<T>> {
    return this.request<T>({ ...options, method: 'DELETE', path });
  }

  /**
   * Sends one logical call. Resolves with the response for 1xx-4xx answers except 429 (a 4xx is the
   * caller's to interpret); rejects with an HttpClientError for timeouts, network errors, 5xx and
   * 429 once retries are spent or not allowed, and CircuitOpenError while the breaker is open,
   * unless a fallback answers.
   */
  async request<T = unknown>(request: HttpRequest<T>): Promise<HttpResponse<T>> {
    const { method } = request;
    const headers = this.buildHeaders(request);
    const idempotent = IDEMPOTENT_METHODS.has(method) || headers['idempotency-key'] !== undefined;
    const timeoutMs = request.timeoutMs ?? this.options.timeoutMs;
    const path = this.buildPath(request);
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const trace = traceOf(requestContext.current());
    const callerSignal = request.signal;

    // Outermost to innermost: retry (only when repeating is safe), the breaker (so every attempt
    // counts and an open breaker stops the retries), the per-attempt timeout.
    const perAttempt = timeout(timeoutMs, { strategy: TimeoutStrategy.Cooperative, abortOnReturn: true });
    const policy: IPolicy = idempotent && this.options.retry.maxAttempts > 1 ? wrap(this.retrying, this.breaker, perAttempt) : wrap(this.breaker, perAttempt);
    let attempts = 0;
    try {
      const result = await policy.execute(async ({ signal }) => {
        attempts += 1;
        // Each attempt is its own span of the caller's trace.
        headers.traceparent = formatTraceParent(trace);
        return this.attempt(method, path, headers, body, signal, timeoutMs, callerSignal);
      }, callerSignal);
      this.metrics.calls.inc({ downstream: this.service, method, result: 'success' });
      return { ...result, body: result.body as T, attempts, fromFallback: false };
    } catch (thrown) {
      if (callerSignal?.aborted) throw thrown;
      const error = thrown instanceof BrokenCircuitError ? new CircuitOpenError(this.service, thrown) : thrown;
      if (!(error instanceof HttpClientError)) throw error;
      this.metrics.failures.inc({ downstream: this.service, reason: failureReason(error) });
      if (request.fallback) {
        const fallback = await request.fallback(error);
        this.metrics.calls.inc({ downstream: this.service, method, result: 'fallback' });
        this.logger.warn({ downstream: this.service, method, path, err: error }, 'outbound call failed; fallback answered');
        return { status: fallback.status, headers: fallback.headers ?? {}, body: fallback.body, attempts, fromFallback: true };
      }
      this.metrics.calls.inc({ downstream: this.service, method, result: 'failure' });
      throw error;
    }
  }

  /** Closes the keep-alive connections; calls after this fail. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  private async attempt(
    method: HttpMethod,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
    timeoutMs: number,
    callerSignal: AbortSignal | undefined,
  ): Promise<Attempt> {
    const started = performance.now();
    let outcome: AttemptOutcome = 'network';
    try {
      const response = await this.pool.request({ method, path, headers, body, signal });
      // The body is read inside the attempt, so a response that stalls mid-body also times out.
      const text = await response.body.text();
      const status = response.statusCode;
      const parsed = parseBody(text, response.headers['content-type']);
      outcome = status === 429 ? '429' : status >= 500 ? '5xx' : status >= 400 ? '4xx' : status >= 300 ? '3xx' : '2xx';
      if (status >= 500 || status === 429) {
        throw new HttpStatusError(this.service, status, parsed, retryAfterMs(response.headers['retry-after']));
      }
      return { status, headers: response.headers, body: parsed };
    } catch (error) {
      if (error instanceof HttpClientError) throw error;
      if (callerSignal?.aborted) {
        outcome = 'aborted';
        throw error;
      }
      if (signal.aborted) {
        outcome = 'timeout';
        throw new HttpTimeoutError(this.service, timeoutMs, error);
      }
      throw new HttpNetworkError(this.service, error);
    } finally {
      this.metrics.attemptDuration.observe({ downstream: this.service, method, outcome }, (performance.now() - started) / 1000);
    }
  }

  private isRetryable(error: unknown): boolean {
    if (error instanceof HttpTimeoutError || error instanceof HttpNetworkError) return true;
    if (!(error instanceof HttpStatusError)) return false;
    if (error.status !== 429 && error.status < 500) return false;
    // Retrying sooner than the downstream asked would be refused again; waiting longer than the
    // cap would hold the caller too long. Either way the caller gets the error now.
    return error.retryAfterMs === undefined || error.retryAfterMs <= this.options.retry.maxRetryAfterMs;
  }

  private buildHeaders(request: HttpRequest<unknown>): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [name, value] of Object.entries({ ...this.options.headers, ...request.headers })) headers[name.toLowerCase()] = value;
    if (request.idempotencyKey !== undefined) headers['idempotency-key'] = request.idempotencyKey;
    // One id for every attempt of the call, so the downstream's logs group them.
    headers['x-request-id'] = requestContext.current()?.requestId ?? headers['x-request-id'] ?? randomUUID();
    return headers;
  }

  private buildPath(request: HttpRequest<unknown>): string {
    if (!request.path.startsWith('/')) throw new TypeError(`${this.service}: path must start with '/'`);
    let path = `${this.pathPrefix}${request.path}`;
    if (request.query) {
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries(request.query)) if (value !== undefined) query.append(name, String(value));
      const text = query.toString();
      if (text) path += `${path.includes('?') ? '&' : '?'}${text}`;
    }
    return path;
  }
}

function validate(service: string, options: ResilientHttpClientOptions): void {
  const { retry: r, breaker: b } = options;
  const problems = [
    Number.isInteger(options.timeoutMs) && options.timeoutMs > 0 ? undefined : 'timeoutMs must be a positive integer',
    Number.isInteger(r.maxAttempts) && r.maxAttempts >= 1 ? undefined : 'retry.maxAttempts must be an integer >= 1',
    r.initialDelayMs >= 0 && r.maxDelayMs >= r.initialDelayMs ? undefined : 'retry delays must satisfy 0 <= initialDelayMs <= maxDelayMs',
    r.maxRetryAfterMs >= 0 ? undefined : 'retry.maxRetryAfterMs must be >= 0',
    b.failureRatio > 0 && b.failureRatio <= 1 ? undefined : 'breaker.failureRatio must be in (0, 1]',
    Number.isInteger(b.windowSize) && b.windowSize >= 1 && b.minimumCalls >= 1 && b.minimumCalls <= b.windowSize ? undefined : 'breaker needs 1 <= minimumCalls <= windowSize',
    b.halfOpenAfterMs > 0 ? undefined : 'breaker.halfOpenAfterMs must be > 0',
  ].filter((problem) => problem !== undefined);
  if (problems.length > 0) throw new TypeError(`${service}: ${problems.join('; ')}`);
}

function parseBody(text: string, contentType: string | string[] | undefined): unknown {
  if (text === '') return undefined;
  const type = Array.isArray(contentType) ? contentType[0] : contentType;
  if (type && /[/+]json\b/i.test(type)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date (RFC 9110 section 10.2.3). */
export function retryAfterMs(header: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An HTTP date names its weekday and month; anything else (a negative number) is malformed.
  if (!/^[A-Za-z]{3},/.test(value)) return undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function retryReason(error: unknown): string {
  if (error instanceof HttpTimeoutError) return 'timeout';
  if (error instanceof HttpStatusError) return error.status === 429 ? '429' : '5xx';
  return 'network';
}

function failureReason(error: HttpClientError): FailureReason {
  if (error instanceof CircuitOpenError) return 'circuit_open';
  if (error instanceof HttpTimeoutError) return 'timeout';
  if (error instanceof HttpStatusError) return 'status';
  return 'network';
}
