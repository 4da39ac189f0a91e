/**
 * A small payment provider for development and tests: charges and refunds that honour
 * Idempotency-Key the way real providers do, plus switches that make it misbehave (latency, 5xx,
 * 429 with Retry-After, dropped connections, declines) and counters of what it saw.
 *
 * Standalone on purpose: it imports nothing from src/, has no dependencies beyond node:, and runs
 * in its own process (`npm run payment-provider`) or inside a test process (startPaymentProvider),
 * where it outlives a service the test kills.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A reference starting with this is declined (402), for trying the decline path by hand. */
export const DECLINE_REFERENCE_PREFIX = 'decline';

const MAX_BODY_BYTES = 64 * 1024;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const CURRENCY = /^[A-Z]{3}$/;

export interface Refund {
  id: string;
  chargeId: string;
  amount: number;
  status: 'succeeded';
  createdAt: string;
}

export interface Charge {
  id: string;
  status: 'succeeded' | 'declined';
  amount: number;
  currency: string;
  reference: string;
  amountRefunded: number;
  declineCode?: string;
  refunds: Refund[];
  createdAt: string;
}

/** One request the provider received on its payment routes, whatever came of it. */
export interface ObservedCall {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  requestId: string | undefined;
  traceparent: string | undefined;
  /** The status answered, 'dropped' when the connection was cut, undefined while in flight. */
  outcome: number | 'dropped' | undefined;
  /** True when the answer was a stored idempotent result. */
  replayed: boolean;
  at: string;
}

export interface KeyStats {
  /** Requests that carried the key (faulted and replayed ones included). */
  calls: number;
  /** Charges created under the key: 0 or 1 however many calls. */
  charges: number;
  /** Refunds created under the key: 0 or 1. */
  refunds: number;
}

export interface ProviderStats {
  calls: number;
  charges: number;
  refunds: number;
  byKey: Record<string, KeyStats>;
}

/** Misbehaviour to inject. Each `count` is consumed by the next payment requests, in order. */
export interface FaultPlan {
  /** Wait this long before handling a request; `count` limits it to the next N requests. */
  latency?: { ms: number; count?: number };
  /** Answer the next `count` requests with `status` (default 503) without processing them. */
  fail?: { count: number; status?: number };
  /** Answer the next `count` requests 429 with Retry-After, without processing them. */
  rateLimit?: { count: number; retryAfterSeconds: number };
  /**
   * Cut the connection of the next `count` requests: `before` processing (nothing happened) or
   * `after` (the charge was made, the answer is lost: the case idempotency keys exist for).
   */
  drop?: { count: number; when?: 'before' | 'after' };
  /** Decline the next `count` new charges (402). */
  decline?: { count: number };
}

export interface PaymentProviderOptions {
  /** 0 or unset picks a free port. */
  port?: number;
  host?: string;
  /** Called with one object per finished request (the CLI prints them); silent when unset. */
  log?: (line: Record<string, unknown>) => void;
}

export interface PaymentProvider {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  readonly port: number;
  /** Adds faults to the ones pending (counts of the same kind are replaced). */
  inject(plan: FaultPlan): void;
  /** Removes every pending fault. */
  clearFaults(): void;
  /** Forgets charges, refunds, idempotency records, observed calls and faults. */
  reset(): void;
  /** Requests seen with this Idempotency-Key. */
  callsFor(idempotencyKey: string): number;
  /** Every request seen on the payment routes, oldest first. */
  calls(): ObservedCall[];
  /** Every charge, oldest first. */
  charges(): Charge[];
  /** The charges made for a reference (one per order when the caller is idempotent). */
  chargesFor(reference: string): Charge[];
  stats(): ProviderStats;
  /** Stops listening and cuts open connections. */
  close(): Promise<void>;
}

interface StoredResult {
  fingerprint: string;
  status: number;
  body: unknown;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  replayed?: boolean;
}

class BadRequest extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Starts a payment provider listening on host:port; resolves once it accepts connections. */
export async function startPaymentProvider(options: PaymentProviderOptions = {}): Promise<PaymentProvider> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log;
  const state = {
    charges: new Map<string, Charge>(),
    idempotency: new Map<string, StoredResult>(),
    calls: [] as ObservedCall[],
    byKey: new Map<string, KeyStats>(),
  };
  let faults: FaultPlan = {};
  const closing = new AbortController();
  const sockets = new Set<Socket>();

  const keyStats = (key: string): KeyStats => {
    let stats = state.byKey.get(key);
    if (!stats) {
      stats = { calls: 0, charges: 0, refunds: 0 };
      state.byKey.set(key, stats);
    }
    return stats;
  };

  /** Consumes one unit of a counted fault; true when it applies to this request. */
  const take = <K extends 'fail' | 'rateLimit' | 'drop' | 'decline'>(kind: K): FaultPlan[K] | undefined => {
    const fault = faults[kind];
    if (!fault || fault.count <= 0) return undefined;
    const taken = { ...fault };
    fault.count -= 1;
    if (fault.count === 0) delete faults[kind];
    return taken;
  };

  const takeLatency = (): number => {
    const latency = faults.latency;
    if (!latency || latency.ms <= 0) return 0;
    if (latency.count !== undefined) {
      latency.count -= 1;
      if (latency.count <= 0) delete faults.latency;
    }
    return latency.ms;
  };

  /** Runs a mutation once per (scope, key): repeats with the same body replay its stored answer. */
  const idempotent = (scope: string, key: string, fingerprint: string, run: () => Answer): Answer => {
    const recordKey = `${scope}\n${key}`;
    const stored = state.idempotency.get(recordKey);
    if (stored) {
      if (stored.fingerprint !== fingerprint) {
        return errorAnswer(422, 'IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request body');
      }
      return { status: stored.status, body: stored.body, headers: { 'idempotent-replayed': 'true' }, replayed: true };
    }
    const answer = run();
    state.idempotency.set(recordKey, { fingerprint, status: answer.status, body: answer.body });
    return answer;
  };

  const createCharge = (key: string, input: unknown): Answer => {
    const { amount, currency, reference } = chargeInput(input);
    return idempotent('charges', key, JSON.stringify([amount, currency, reference]), () => {
      const declined = reference.startsWith(DECLINE_REFERENCE_PREFIX) || take('decline') !== undefined;
      const charge: Charge = {
        id: `ch_${randomUUID().replaceAll('-', '')}`,
        status: declined ? 'declined' : 'succeeded',
        amount,
        currency,
        reference,
        amountRefunded: 0,
        ...(declined && { declineCode: 'card_declined' }),
        refunds: [],
        createdAt: new Date().toISOString(),
      };
      state.charges.set(charge.id, charge);
      keyStats(key).charges += 1;
      return { status: declined ? 402 : 201, body: publicCharge(charge) };
    });
  };

  const createRefund = (key: string, chargeId: string, input: unknown): Answer => {
    const requested = refundInput(input);
    return idempotent(`refunds ${chargeId}`, key, JSON.stringify([requested ?? null]), () => {
      const charge = state.charges.get(chargeId);
      if (!charge) return errorAnswer(404, 'CHARGE_NOT_FOUND', 'no such charge');
      if (charge.status !== 'succeeded') return errorAnswer(409, 'CHARGE_NOT_REFUNDABLE', 'a declined charge cannot be refunded');
      const amount = requested ?? charge.amount - charge.amountRefunded;
      if (amount <= 0 || charge.amountRefunded + amount > charge.amount) {
        return errorAnswer(409, 'REFUND_EXCEEDS_CHARGE', 'the refund exceeds what is left of the charge');
      }
      const refund: Refund = { id: `re_${randomUUID().replaceAll('-', '')}`, chargeId, amount, status: 'succeeded', createdAt: new Date().toISOString() };
      charge.refunds.push(refund);
      charge.amountRefunded += amount;
      keyStats(key).refunds += 1;
      return { status: 201, body: refund };
    });
  };

  /** The payment routes; undefined when the path is not one of them. */
  const route = (method: string, url: URL): ((key: string | undefined, body: unknown) => Answer) | undefined => {
    const path = url.pathname;
    if (path === '/charges' && method === 'POST') {
      return (key, body) => createCharge(requireKey(key), body);
    }
    if (path === '/charges' && method === 'GET') {
      // Lets a caller that lost an answer find what it charged for an order.
      return () => {
        const reference = url.searchParams.get('reference');
        if (!reference) return errorAnswer(400, 'REFERENCE_REQUIRED', 'list charges with ?reference=');
        return { status: 200, body: { data: [...state.charges.values()].filter((c) => c.reference === reference).map(publicCharge) } };
      };
    }
    const refund = /^\/charges\/([A-Za-z0-9_]{1,64})\/refunds$/.exec(path);
    if (refund && method === 'POST') return (key, body) => createRefund(requireKey(key), refund[1] as string, body);
    const one = /^\/charges\/([A-Za-z0-9_]{1,64})$/.exec(path);
    if (one && method === 'GET') {
      return () => {
        const charge = state.charges.get(one[1] as string);
        return charge ? { status: 200, body: publicCharge(charge) } : errorAnswer(404, 'CHARGE_NOT_FOUND', 'no such charge');
      };
    }
    return undefined;
  };

  const handlePayment = async (
    request: IncomingMessage,
    response: ServerResponse,
    method: string,
    url: URL,
    handler: (key: string | undefined, body: unknown) => Answer,
  ): Promise<void> => {
    const key = header(request, 'idempotency-key');
    const call: ObservedCall = {
      method,
      path: url.pathname,
      idempotencyKey: key,
      requestId: header(request, 'x-request-id'),
      traceparent: header(request, 'traceparent'),
      outcome: undefined,
      replayed: false,
      at: new Date().toISOString(),
    };
    state.calls.push(call);
    if (key !== undefined) keyStats(key).calls += 1;

    const body = await readJson(request);
    const delay = takeLatency();
    if (delay > 0) await sleep(delay, undefined, { signal: closing.signal }).catch(() => undefined);
    if (closing.signal.aborted) return;

    const drop = faults.drop;
    if (drop && (drop.when ?? 'before') === 'before' && take('drop')) {
      call.outcome = 'dropped';
      request.socket.destroy();
      return;
    }
    const limited = take('rateLimit');
    if (limited) {
      const answer = errorAnswer(429, 'RATE_LIMITED', 'too many requests');
      call.outcome = 429;
      return send(response, { ...answer, headers: { 'retry-after': String(limited.retryAfterSeconds) } });
    }
    const failure = take('fail');
    if (failure) {
      const status = failure.status ?? 503;
      call.outcome = status;
      return send(response, errorAnswer(status, 'INJECTED_FAILURE', 'injected failure'));
    }

    let answer: Answer;
    try {
      if (body instanceof BadRequest) throw body;
      answer = handler(key, body);
    } catch (error) {
      if (!(error instanceof BadRequest)) throw error;
      answer = errorAnswer(error.status, error.code, error.message);
    }
    call.replayed = answer.replayed === true;

    // After processing: the effect happened, the caller never hears of it.
    const lateDrop = faults.drop;
    if (lateDrop && lateDrop.when === 'after' && take('drop')) {
      call.outcome = 'dropped';
      request.socket.destroy();
      return;
    }
    call.outcome = answer.status;
    send(response, answer);
  };

  const handleControl = async (request: IncomingMessage, response: ServerResponse, method: string, path: string): Promise<void> => {
    if (method === 'GET' && path === '/_control/stats') return send(response, { status: 200, body: stats() });
    if (method === 'GET' && path === '/_control/calls') return send(response, { status: 200, body: { data: state.calls } });
    if (method === 'POST' && path === '/_control/faults') {
      const plan = faultPlan(await readJson(request));
      if (!plan) return send(response, errorAnswer(400, 'INVALID_REQUEST', 'send a JSON fault plan (see FaultPlan in payment-provider/server.ts)'));
      inject(plan);
      return send(response, { status: 200, body: { faults } });
    }
    if (method === 'POST' && path === '/_control/reset') {
      reset();
      return send(response, { status: 204, body: undefined });
    }
    return send(response, errorAnswer(404, 'NOT_FOUND', 'no such route'));
  };

  const stats = (): ProviderStats => ({
    calls: state.calls.length,
    charges: state.charges.size,
    refunds: [...state.charges.values()].reduce((sum, charge) => sum + charge.refunds.length, 0),
    byKey: Object.fromEntries([...state.byKey].map(([key, value]) => [key, { ...value }])),
  });

  const inject = (plan: FaultPlan): void => {
    const copy = structuredClone(plan);
    faults = { ...faults, ...copy };
  };

  const reset = (): void => {
    state.charges.clear();
    state.idempotency.clear();
    state.calls.length = 0;
    state.byKey.clear();
    faults = {};
  };

  const server = createServer((request, response) => {
    const started = performance.now();
    const method = request.method ?? 'GET';
    const url = new URL(request.url ?? '/', 'http://provider.invalid');
    const handler = route(method, url);
    const work =
      url.pathname === '/health'
        ? Promise.resolve(send(response, { status: 200, body: { status: 'ok' } }))
        : url.pathname.startsWith('/_control/')
          ? handleControl(request, response, method, url.pathname)
          : handler
            ? handlePayment(request, response, method, url, handler)
            : Promise.resolve(send(response, errorAnswer(404, 'NOT_FOUND', 'no such route')));
    work
      .catch((error: unknown) => {
        if (!response.headersSent) send(response, errorAnswer(500, 'INTERNAL', 'internal error'));
        log?.({ level: 'error', message: error instanceof Error ? error.message : String(error) });
      })
      .finally(() => {
        log?.({
          method,
          path: url.pathname,
          status: response.headersSent ? response.statusCode : 'dropped',
          idempotencyKey: header(request, 'idempotency-key'),
          requestId: header(request, 'x-request-id'),
          ms: Math.round(performance.now() - started),
        });
      });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    inject,
    clearFaults: () => {
      faults = {};
    },
    reset,
    callsFor: (key) => state.byKey.get(key)?.calls ?? 0,
    calls: () => state.calls.map((call) => ({ ...call })),
    charges: () => [...state.charges.values()].map((charge) => structuredClone(charge)),
    chargesFor: (reference) => [...state.charges.values()].filter((charge) => charge.reference === reference).map((charge) => structuredClone(charge)),
    stats,
    close: async () => {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** A fault plan received over HTTP, checked field by field; undefined when anything is off. */
function faultPlan(value: unknown): FaultPlan | undefined {
  if (typeof value !== 'object' || value === null || value instanceof BadRequest) return undefined;
  const plan = value as Record<string, unknown>;
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const shape = (key: string, check: (field: Record<string, unknown>) => boolean): boolean => {
    const field = plan[key];
    return field === undefined || (typeof field === 'object' && field !== null && check(field as Record<string, unknown>));
  };
  const known = ['latency', 'fail', 'rateLimit', 'drop', 'decline'];
  const valid =
    Object.keys(plan).every((key) => known.includes(key)) &&
    shape('latency', (f) => count(f.ms) && (f.count === undefined || count(f.count))) &&
    shape('fail', (f) => count(f.count) && (f.status === undefined || (typeof f.status === 'number' && f.status >= 500 && f.status <= 599))) &&
    shape('rateLimit', (f) => count(f.count) && count(f.retryAfterSeconds)) &&
    shape('drop', (f) => count(f.count) && (f.when === undefined || f.when === 'before' || f.when === 'after')) &&
    shape('decline', (f) => count(f.count));
  return valid ? plan : undefined;
}

function requireKey(key: string | undefined): string {
  if (key === undefined) throw new BadRequest(400, 'IDEMPOTENCY_KEY_REQUIRED', 'the Idempotency-Key header is required');
  if (!IDEMPOTENCY_KEY.test(key)) throw new BadRequest(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1-255 visible ASCII characters');
  return key;
}

function chargeInput(input: unknown): { amount: number; currency: string; reference: string } {
  const body = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const { amount, currency, reference } = body;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) {
    throw new BadRequest(400, 'INVALID_REQUEST', 'amount must be a positive integer (minor units)');
  }
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) throw new BadRequest(400, 'INVALID_REQUEST', 'currency must be an ISO 4217 code');
  if (typeof reference !== 'string' || reference.length === 0 || reference.length > 200) {
    throw new BadRequest(400, 'INVALID_REQUEST', 'reference must be 1-200 characters');
  }
  return { amount, currency, reference };
}

function refundInput(input: unknown): number | undefined {
  if (input === undefined) return undefined;
  const amount = (typeof input === 'object' && input !== null ? input : {}) as { amount?: unknown };
  if (amount.amount === undefined) return undefined;
  if (typeof amount.amount !== 'number' || !Number.isSafeInteger(amount.amount) || amount.amount <= 0) {
    throw new BadRequest(400, 'INVALID_REQUEST', 'amount must be a positive integer (minor units)');
  }
  return amount.amount;
}

function publicCharge(charge: Charge): Charge {
  return structuredClone(charge);
}

function errorAnswer(status: number, code: string, message: string): Answer {
  return { status, body: { error: { code, message } } };
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The parsed JSON body, undefined when empty, a BadRequest when malformed or too large. */
async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return new BadRequest(413, 'BODY_TOO_LARGE', 'body too large');
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return new BadRequest(400, 'INVALID_JSON', 'body is not JSON');
  }
}

function send(response: ServerResponse, answer: Answer): void {
  if (response.headersSent || response.destroyed) return;
  const payload = answer.body === undefined ? '' : JSON.stringify(answer.body);
  response.writeHead(answer.status, {
    ...(payload && { 'content-type': 'application/json' }),
    'content-length': Buffer.byteLength(payload),
    ...answer.headers,
  });
  response.end(payload);
}
