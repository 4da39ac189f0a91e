import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPaymentProvider, type Charge, type PaymentProvider } from '../../payment-provider/server.js';
import { loadConfig } from '../../src/platform/config/config.schema.js';
import { CircuitOpenError, HttpNetworkError, HttpStatusError, HttpTimeoutError } from '../../src/platform/http-client/http-client.errors.js';
import { HttpClientFactory, type HttpClientSettings } from '../../src/platform/http-client/http-client.factory.js';
import { MetricsService } from '../../src/platform/observability/metrics.js';
import { requestContext } from '../../src/platform/observability/request-context.js';
import { startTestApp } from '../helpers/app.js';
import { ignoreClosingErrors } from '../helpers/pool.js';

// ResilientHttpClient against the real payment-provider server over real sockets. Backoffs are
// shortened so the suite is quick; what is asserted is counts and outcomes, never durations
// (except lower bounds, which CPU contention cannot break).

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

let provider: PaymentProvider;
let metrics: MetricsService;
let factory: HttpClientFactory;
const logs: Array<Record<string, unknown>> = [];
let serviceCounter = 0;

/** A client with its own breaker (a fresh service name) per test, pointed at `url`. */
function client(settings: Partial<HttpClientSettings> = {}) {
  serviceCounter += 1;
  return factory.forService(`payments-${serviceCounter}`, {
    baseUrl: provider.url,
    ...settings,
    retry: { initialDelayMs: 5, maxDelayMs: 20, ...settings.retry },
  });
}

const charge = (reference = `order-${randomUUID()}`) => ({ amount: 42_00, currency: 'EUR', reference });

/** The value of one sample of a registry metric, matched by a subset of labels (0 when absent). */
async function sample(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name.replace(/_(count|sum|bucket)$/, ''));
  if (!metric) return 0;
  const { values } = await metric.get();
  const found = values.find((value) => (!('metricName' in value) || value.metricName === name) && Object.entries(labels).every(([key, expected]) => String(value.labels[key]) === expected));
  return found?.value ?? 0;
}

/** One sample of a Prometheus text exposition, matched by name and a subset of labels. */
function exposed(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

beforeAll(async () => {
  provider = await startPaymentProvider();
  metrics = new MetricsService();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  factory = new HttpClientFactory(loadConfig({ HTTP_CLIENT_TIMEOUT_MS: '5000' }), metrics, pino({ level: 'info' }, sink));
});
afterAll(async () => {
  await factory?.onApplicationShutdown();
  await provider?.close();
});
beforeEach(() => {
  provider.reset();
});

describe('retries', () => {
  it('two 5xx then success: one logical charge, three calls with the same idempotency key', async () => {
    const payments = client();
    provider.inject({ fail: { count: 2, status: 503 } });
    const body = charge();
    const res = await payments.post<Charge>('/charges', body, { idempotencyKey: 'order-1-charge' });

    expect(res.status).toBe(201);
    expect(res.attempts).toBe(3);
    expect(res.body).toMatchObject({ status: 'succeeded', reference: body.reference });
    expect(provider.callsFor('order-1-charge')).toBe(3);
    expect(provider.chargesFor(body.reference)).toHaveLength(1);
    expect(provider.calls().map((call) => call.outcome)).toEqual([503, 503, 201]);
    expect(await sample(metrics.registry, 'http_client_retries_total', { downstream: payments.service, reason: '5xx' })).toBe(2);
    expect(await sample(metrics.registry, 'http_client_calls_total', { downstream: payments.service, method: 'POST', result: 'success' })).toBe(1);
    expect(logs.filter((line) => line.downstream === payments.service && line.msg === 'outbound call failed; retrying')).toHaveLength(2);
  });

  it('does not retry a POST without an idempotency key', async () => {
    const payments = client();
    provider.inject({ fail: { count: 1, status: 503 } });
    const error = await payments.post('/charges', charge()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error).toMatchObject({ status: 503, service: payments.service });
    expect(provider.stats().calls).toBe(1);
    expect(await sample(metrics.registry, 'http_client_retries_total', { downstream: payments.service, reason: '5xx' })).toBe(0);
  });

  it('does not retry a POST without a key whose connection dropped: it may have been processed', async () => {
    const payments = client();
    provider.inject({ drop: { count: 1, when: 'after' } });
    const body = charge();
    const error = await payments.post('/charges', body, { headers: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpNetworkError);
    expect((error as HttpNetworkError).mayHaveReachedServer).toBe(true);
    expect(provider.stats().calls).toBe(1);
  });

  it('retries a keyed POST whose answer was lost after the charge: the provider replays, one charge', async () => {
    const payments = client();
    provider.inject({ drop: { count: 1, when: 'after' } });
    const body = charge();
    const res = await payments.post<Charge>('/charges', body, { idempotencyKey: 'lost-answer' });
    expect(res.status).toBe(201);
    expect(res.attempts).toBe(2);
    expect(res.headers['idempotent-replayed']).toBe('true');
    expect(provider.chargesFor(body.reference)).toHaveLength(1);
    expect(await sample(metrics.registry, 'http_client_retries_total', { downstream: payments.service, reason: 'network' })).toBe(1);
  });

  it('retries an idempotent GET on a network error', async () => {
    const payments = client();
    provider.inject({ drop: { count: 2 } });
    const res = await payments.get('/charges/ch_missing');
    expect(res.status).toBe(404);
    expect(res.attempts).toBe(3);
  });

  it('returns 4xx answers to the caller without retrying them', async () => {
    const payments = client();
    const body = charge();
    await payments.post('/charges', body, { idempotencyKey: 'k-4xx' });
    const mismatch = await payments.post<{ error: { code: string } }>('/charges', { ...body, amount: 1 }, { idempotencyKey: 'k-4xx' });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(mismatch.attempts).toBe(1);
    const declined = await payments.post<Charge>('/charges', charge('decline-me'), { idempotencyKey: 'k-402' });
    expect(declined.status).toBe(402);
    expect(declined.body.status).toBe('declined');
  });

  it('gives up after the configured attempts with the last 5xx', async () => {
    const payments = client({ retry: { maxAttempts: 2 } });
    provider.inject({ fail: { count: 5, status: 502 } });
    const error = await payments.get('/charges/ch_any').catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'HttpStatusError', status: 502 });
    expect(provider.stats().calls).toBe(2);
    expect(await sample(metrics.registry, 'http_client_failures_total', { downstream: payments.service, reason: 'status' })).toBe(1);
  });
});

describe('429 and Retry-After', () => {
  it('waits for Retry-After before retrying', async () => {
    const payments = client({ retry: { maxRetryAfterMs: 5_000 } });
    provider.inject({ rateLimit: { count: 1, retryAfterSeconds: 1 } });
    const started = performance.now();
    const res = await payments.post('/charges', charge(), { idempotencyKey: 'rl-1' });
    const elapsed = performance.now() - started;
    expect(res.status).toBe(201);
    expect(res.attempts).toBe(2);
    // The jittered backoff here is at most 20 ms; only Retry-After explains a second's wait.
    expect(elapsed).toBeGreaterThanOrEqual(990);
    expect(provider.calls().map((call) => call.outcome)).toEqual([429, 201]);
    expect(await sample(metrics.registry, 'http_client_retries_total', { downstream: payments.service, reason: '429' })).toBe(1);
  });

  it('fails at once when Retry-After is longer than the cap', async () => {
    const payments = client({ retry: { maxRetryAfterMs: 500 } });
    provider.inject({ rateLimit: { count: 1, retryAfterSeconds: 30 } });
    const error = await payments.get('/charges/ch_any').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 30_000 });
    expect(provider.stats().calls).toBe(1);
  });

  it('does not count 429s against the breaker', async () => {
    const payments = client({ retry: { maxAttempts: 1 }, breaker: { windowSize: 2, minimumCalls: 2, failureRatio: 0.5 } });
    provider.inject({ rateLimit: { count: 3, retryAfterSeconds: 1 } });
    for (let i = 0; i < 3; i += 1) await expect(payments.get('/charges/ch_any')).rejects.toBeInstanceOf(HttpStatusError);
    expect(payments.circuitState).toBe('closed');
  });
});

describe('timeouts', () => {
  it('fails a call to a slow provider with HttpTimeoutError', async () => {
    const payments = client({ timeoutMs: 200, retry: { maxAttempts: 1 } });
    provider.inject({ latency: { ms: 5_000, count: 1 } });
    const error = await payments.get('/charges/ch_any').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpTimeoutError);
    expect(error).toMatchObject({ timeoutMs: 200, mayHaveReachedServer: true });
    expect(await sample(metrics.registry, 'http_client_request_duration_seconds_count', { downstream: payments.service, outcome: 'timeout' })).toBe(1);
    expect(await sample(metrics.registry, 'http_client_failures_total', { downstream: payments.service, reason: 'timeout' })).toBe(1);
  });

  it('retries an idempotent call that timed out, and a per-call timeout overrides the client default', async () => {
    const payments = client({ timeoutMs: 60_000 });
    provider.inject({ latency: { ms: 5_000, count: 1 } });
    const res = await payments.get('/charges/ch_any', { timeoutMs: 1_000 });
    expect(res.status).toBe(404);
    expect(res.attempts).toBe(2);
    expect(await sample(metrics.registry, 'http_client_retries_total', { downstream: payments.service, reason: 'timeout' })).toBe(1);
  });

  it('stops at once, without retry, when the caller aborts', async () => {
    const payments = client();
    provider.inject({ latency: { ms: 5_000 } });
    const controller = new AbortController();
    const pending = payments.get('/charges/ch_any', { signal: controller.signal }).catch((e: unknown) => e);
    await sleep(50);
    controller.abort();
    const error = await pending;
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(HttpTimeoutError);
    expect(provider.stats().calls).toBe(1);
    provider.clearFaults();
  });
});

describe('circuit breaker', () => {
  const breaker = { failureRatio: 0.5, windowSize: 4, minimumCalls: 4, halfOpenAfterMs: 300 };

  it('opens after the failure ratio is reached, then fails fast without touching the network', async () => {
    const payments = client({ retry: { maxAttempts: 1 }, breaker });
    const created = await payments.post<Charge>('/charges', charge(), { idempotencyKey: 'cb-1' });
    provider.inject({ fail: { count: 1_000, status: 500 } });
    const before = provider.stats().calls;
    // One success and three failures in a window of four: 75% > 50%, the breaker opens.
    for (let i = 0; i < 3; i += 1) await expect(payments.get(`/charges/${created.body.id}`)).rejects.toBeInstanceOf(HttpStatusError);
    expect(payments.circuitState).toBe('open');
    expect(provider.stats().calls).toBe(before + 3);

    for (let i = 0; i < 5; i += 1) {
      const error = await payments.get(`/charges/${created.body.id}`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CircuitOpenError);
      expect((error as CircuitOpenError).mayHaveReachedServer).toBe(false);
    }
    expect(provider.stats().calls).toBe(before + 3);
    expect(await sample(metrics.registry, 'http_client_failures_total', { downstream: payments.service, reason: 'circuit_open' })).toBe(5);
    expect(await sample(metrics.registry, 'http_client_circuit_state', { downstream: payments.service, state: 'open' })).toBe(1);
    expect(await sample(metrics.registry, 'http_client_circuit_state', { downstream: payments.service, state: 'closed' })).toBe(0);
    expect(logs.some((line) => line.downstream === payments.service && line.msg === 'circuit breaker opened: calls fail fast')).toBe(true);

    // The provider recovers; after halfOpenAfter one probe goes through and closes the breaker.
    provider.clearFaults();
    await sleep(breaker.halfOpenAfterMs + 50);
    const probe = await payments.get<Charge>(`/charges/${created.body.id}`);
    expect(probe.status).toBe(200);
    expect(probe.attempts).toBe(1);
    expect(payments.circuitState).toBe('closed');
    expect(provider.stats().calls).toBe(before + 4);
    expect(await sample(metrics.registry, 'http_client_circuit_state', { downstream: payments.service, state: 'closed' })).toBe(1);
  });

  it('stops retrying as soon as the breaker opens', async () => {
    const payments = client({ retry: { maxAttempts: 10 }, breaker: { ...breaker, minimumCalls: 2, windowSize: 2 } });
    provider.inject({ fail: { count: 1_000, status: 503 } });
    await expect(payments.post('/charges', charge(), { idempotencyKey: 'cb-retry' })).rejects.toBeInstanceOf(CircuitOpenError);
    expect(provider.callsFor('cb-retry')).toBe(2);
    provider.clearFaults();
  });

  it('a failed half-open probe opens the breaker again', async () => {
    const payments = client({ retry: { maxAttempts: 1 }, breaker: { ...breaker, minimumCalls: 2, windowSize: 2 } });
    provider.inject({ fail: { count: 1_000, status: 500 } });
    for (let i = 0; i < 2; i += 1) await expect(payments.get('/charges/ch_x')).rejects.toBeInstanceOf(HttpStatusError);
    expect(payments.circuitState).toBe('open');
    await sleep(breaker.halfOpenAfterMs + 50);
    await expect(payments.get('/charges/ch_x')).rejects.toBeInstanceOf(HttpStatusError);
    expect(payments.circuitState).toBe('open');
    await expect(payments.get('/charges/ch_x')).rejects.toBeInstanceOf(CircuitOpenError);
    expect(provider.stats().calls).toBe(3);
    provider.clearFaults();
  });

  it('provider down: network errors open the breaker; provider back: the half-open probe closes it', async () => {
    const own = await startPaymentProvider();
    const port = own.port;
    const payments = factory.forService('payments-down', { baseUrl: own.url, retry: { maxAttempts: 1 }, breaker: { ...breaker, minimumCalls: 3, windowSize: 3 } });
    expect((await payments.post('/charges', charge(), { idempotencyKey: 'down-1' })).status).toBe(201);
    await own.close();

    for (let i = 0; i < 2; i += 1) {
      const error = await payments.get('/health').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpNetworkError);
    }
    expect(payments.circuitState).toBe('open');
    const attempts = await sample(metrics.registry, 'http_client_request_duration_seconds_count', { downstream: 'payments-down', outcome: 'network' });
    expect(attempts).toBe(2);
    await expect(payments.get('/health')).rejects.toBeInstanceOf(CircuitOpenError);
    // No attempt was made while open.
    expect(await sample(metrics.registry, 'http_client_request_duration_seconds_count', { downstream: 'payments-down', outcome: 'network' })).toBe(2);

    const back = await startPaymentProvider({ port });
    try {
      await sleep(breaker.halfOpenAfterMs + 50);
      const probe = await payments.get('/health');
      expect(probe.status).toBe(200);
      expect(payments.circuitState).toBe('closed');
      expect(back.stats().calls).toBe(0); // /health is not a payment route; the probe reached it
    } finally {
      await back.close();
    }
  });

  it('keeps one breaker per downstream: an open one does not affect another service', async () => {
    const failing = client({ retry: { maxAttempts: 1 }, breaker: { ...breaker, minimumCalls: 1, windowSize: 1 } });
    const healthy = client();
    provider.inject({ fail: { count: 1, status: 500 } });
    await expect(failing.get('/charges/ch_x')).rejects.toBeInstanceOf(HttpStatusError);
    expect(failing.circuitState).toBe('open');
    expect((await healthy.get('/charges/ch_x')).status).toBe(404);
    expect(healthy.circuitState).toBe('closed');
  });
});

describe('fallback', () => {
  it('answers from the fallback when the call fails or the breaker is open', async () => {
    const payments = client({ retry: { maxAttempts: 1 }, breaker: { failureRatio: 0.5, windowSize: 1, minimumCalls: 1, halfOpenAfterMs: 60_000 } });
    provider.inject({ fail: { count: 1, status: 500 } });
    const seen: string[] = [];
    const fallback = (error: Error) => {
      seen.push(error.name);
      return { status: 200, body: { cached: true } };
    };
    const first = await payments.get<{ cached: boolean }>('/charges/ch_x', { fallback });
    expect(first).toMatchObject({ status: 200, body: { cached: true }, fromFallback: true, attempts: 1 });
    const second = await payments.get<{ cached: boolean }>('/charges/ch_x', { fallback });
    expect(second).toMatchObject({ fromFallback: true, attempts: 0 });
    expect(seen).toEqual(['HttpStatusError', 'CircuitOpenError']);
    expect(await sample(metrics.registry, 'http_client_calls_total', { downstream: payments.service, method: 'GET', result: 'fallback' })).toBe(2);
  });
});

describe('propagation', () => {
  it('sends the request id and continues the caller traceparent on every attempt', async () => {
    const payments = client();
    provider.inject({ fail: { count: 1 } });
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await requestContext.run({ requestId: 'req-from-client', traceparent: incoming }, () =>
      payments.post('/charges', charge(), { idempotencyKey: 'trace-1' }),
    );
    const calls = provider.calls();
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      expect(call.requestId).toBe('req-from-client');
      const [, traceId, spanId] = TRACEPARENT.exec(call.traceparent ?? '') ?? [];
      expect(traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(spanId).not.toBe('00f067aa0ba902b7');
    }
    // Each attempt is its own span.
    expect(calls[0]?.traceparent).not.toBe(calls[1]?.traceparent);
  });

  it('starts a trace per request when none came in, shared by the calls of that request', async () => {
    const payments = client();
    await requestContext.run({ requestId: 'req-2', traceparent: 'not-a-traceparent' }, async () => {
      await payments.get('/charges/ch_a');
      await payments.get('/charges/ch_b');
    });
    const [first, second] = provider.calls().map((call) => TRACEPARENT.exec(call.traceparent ?? '')?.[1]);
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(second).toBe(first);
  });

  it('outside a request, generates one request id and trace per call, kept across its retries', async () => {
    const payments = client();
    provider.inject({ fail: { count: 1 } });
    await payments.get('/charges/ch_a');
    await payments.get('/charges/ch_b');
    const calls = provider.calls();
    expect(calls).toHaveLength(3);
    expect(calls[0]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(calls[1]?.requestId).toBe(calls[0]?.requestId);
    expect(calls[2]?.requestId).not.toBe(calls[0]?.requestId);
    const traces = calls.map((call) => TRACEPARENT.exec(call.traceparent ?? '')?.[1]);
    expect(traces[1]).toBe(traces[0]);
    expect(traces[2]).not.toBe(traces[0]);
  });
});

describe('factory', () => {
  it('returns the same client for the same service and refuses another base URL for it', () => {
    const a = factory.forService('ledger', { baseUrl: provider.url });
    expect(factory.forService('ledger', { baseUrl: provider.url })).toBe(a);
    expect(() => factory.forService('ledger', { baseUrl: 'http://127.0.0.1:1' })).toThrow(/already has a client/);
    expect(() => factory.forService('Bad Name', { baseUrl: provider.url })).toThrow(/service name/);
    expect(() => factory.forService('bad-ratio', { baseUrl: provider.url, breaker: { failureRatio: 2 } })).toThrow(/failureRatio/);
  });
});

describe('in the application', () => {
  let t: Awaited<ReturnType<typeof startTestApp>> | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('is injectable and its metrics are on /metrics next to the server metrics', async () => {
    t = await startTestApp({ HTTP_CLIENT_TIMEOUT_MS: '1500' });
    ignoreClosingErrors(t.sql);
    const payments = t.app.get(HttpClientFactory).forService('payment-provider', { baseUrl: provider.url });
    provider.inject({ fail: { count: 1 } });
    await payments.post('/charges', charge(), { idempotencyKey: 'app-1' });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const downstream = 'payment-provider';
    const scraped = (name: string, labels: Record<string, string>) => exposed(res.body, name, { service: 'groundwork', downstream, ...labels });
    expect(scraped('http_client_calls_total', { method: 'POST', result: 'success' })).toBe(1);
    expect(scraped('http_client_retries_total', { reason: '5xx' })).toBe(1);
    expect(scraped('http_client_circuit_state', { state: 'closed' })).toBe(1);
    expect(scraped('http_client_circuit_state', { state: 'open' })).toBe(0);
    expect(scraped('http_client_request_duration_seconds_count', { method: 'POST', outcome: '5xx' })).toBe(1);
    expect(scraped('http_client_request_duration_seconds_count', { method: 'POST', outcome: '2xx' })).toBe(1);
  });
});
