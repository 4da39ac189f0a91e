import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPaymentProvider, type Charge, type PaymentProvider } from '../../payment-provider/server.js';

// The development payment provider over real sockets: idempotency as real providers implement it,
// and each injected fault doing what the resilience tests rely on.

interface ErrorBody {
  error: { code: string; message: string };
}

let provider: PaymentProvider;

beforeAll(async () => {
  provider = await startPaymentProvider();
});
afterAll(async () => {
  await provider?.close();
});
beforeEach(() => {
  provider.reset();
});

function post(path: string, body: unknown, key?: string): Promise<Response> {
  return fetch(`${provider.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key !== undefined && { 'idempotency-key': key }) },
    body: JSON.stringify(body),
  });
}

const order = (reference = `order-${randomUUID()}`) => ({ amount: 12_50, currency: 'EUR', reference });

describe('payment provider: charges', () => {
  it('creates a charge and returns it by id', async () => {
    const res = await post('/charges', order('order-1'), 'key-1');
    expect(res.status).toBe(201);
    const charge = (await res.json()) as Charge;
    expect(charge).toMatchObject({ status: 'succeeded', amount: 1250, currency: 'EUR', reference: 'order-1', amountRefunded: 0 });
    expect(charge.id).toMatch(/^ch_[0-9a-f]{32}$/);

    const read = await fetch(`${provider.url}/charges/${charge.id}`);
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual(charge);
    const byReference = await fetch(`${provider.url}/charges?reference=order-1`);
    expect(((await byReference.json()) as { data: Charge[] }).data.map((c) => c.id)).toEqual([charge.id]);
  });

  it('requires an Idempotency-Key and a valid body, and stores nothing otherwise', async () => {
    const missing = await post('/charges', order());
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as ErrorBody).error.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
    for (const body of [{ amount: -1, currency: 'EUR', reference: 'x' }, { amount: 1.5, currency: 'EUR', reference: 'x' }, { amount: 100, currency: 'euro', reference: 'x' }, { amount: 100, currency: 'EUR' }]) {
      const res = await post('/charges', body, randomUUID());
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const notJson = await fetch(`${provider.url}/charges`, { method: 'POST', headers: { 'idempotency-key': 'k' }, body: '{' });
    expect(notJson.status).toBe(400);
    expect(provider.charges()).toEqual([]);
  });

  it('replays the stored result for the same key and body, and refuses the key with another body (422)', async () => {
    const body = order();
    const first = await post('/charges', body, 'same-key');
    const again = await post('/charges', body, 'same-key');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());

    const other = await post('/charges', { ...body, amount: 99_99 }, 'same-key');
    expect(other.status).toBe(422);
    expect(((await other.json()) as ErrorBody).error.code).toBe('IDEMPOTENCY_KEY_REUSED');

    expect(provider.chargesFor(body.reference)).toHaveLength(1);
    expect(provider.stats().byKey['same-key']).toEqual({ calls: 3, charges: 1, refunds: 0 });
    expect(provider.callsFor('same-key')).toBe(3);
  });

  it('declines a reference starting with "decline" and the next charges when told to (402, stored)', async () => {
    const declined = await post('/charges', order('decline-order-7'), 'd-1');
    expect(declined.status).toBe(402);
    expect(await declined.json()).toMatchObject({ status: 'declined', declineCode: 'card_declined' });
    const replay = await post('/charges', order('decline-order-7'), 'd-1');
    expect(replay.status).toBe(402);

    provider.inject({ decline: { count: 1 } });
    expect((await post('/charges', order(), 'd-2')).status).toBe(402);
    expect((await post('/charges', order(), 'd-3')).status).toBe(201);
    expect(provider.charges().map((c) => c.status)).toEqual(['declined', 'declined', 'succeeded']);
  });
});

describe('payment provider: refunds', () => {
  it('refunds a charge idempotently and never beyond its amount', async () => {
    const charge = (await (await post('/charges', order(), 'c-1')).json()) as Charge;
    const refund = await post(`/charges/${charge.id}/refunds`, {}, 'r-1');
    expect(refund.status).toBe(201);
    const replay = await post(`/charges/${charge.id}/refunds`, {}, 'r-1');
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.json()).toEqual(await refund.json());
    const more = await post(`/charges/${charge.id}/refunds`, { amount: 1 }, 'r-2');
    expect(more.status).toBe(409);
    expect(((await more.json()) as ErrorBody).error.code).toBe('REFUND_EXCEEDS_CHARGE');

    const read = (await (await fetch(`${provider.url}/charges/${charge.id}`)).json()) as Charge;
    expect(read.amountRefunded).toBe(charge.amount);
    expect(read.refunds).toHaveLength(1);
    expect(provider.stats()).toMatchObject({ charges: 1, refunds: 1 });
  });

  it('answers 404 for an unknown charge and 409 for a declined one', async () => {
    expect((await post('/charges/ch_unknown/refunds', {}, 'r-x')).status).toBe(404);
    const declined = (await (await post('/charges', order('decline-1'), 'c-d')).json()) as Charge;
    const res = await post(`/charges/${declined.id}/refunds`, {}, 'r-d');
    expect(res.status).toBe(409);
    expect(((await res.json()) as ErrorBody).error.code).toBe('CHARGE_NOT_REFUNDABLE');
  });
});

describe('payment provider: fault injection', () => {
  it('fails the next N requests with a 5xx without charging, then recovers', async () => {
    provider.inject({ fail: { count: 2, status: 500 } });
    const body = order();
    expect((await post('/charges', body, 'f-1')).status).toBe(500);
    expect((await post('/charges', body, 'f-1')).status).toBe(500);
    expect((await post('/charges', body, 'f-1')).status).toBe(201);
    expect(provider.chargesFor(body.reference)).toHaveLength(1);
    expect(provider.calls().map((call) => call.outcome)).toEqual([500, 500, 201]);
  });

  it('rate-limits with 429 and Retry-After', async () => {
    provider.inject({ rateLimit: { count: 1, retryAfterSeconds: 7 } });
    const res = await post('/charges', order(), 'rl-1');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(provider.charges()).toEqual([]);
  });

  it('drops the connection before processing (nothing charged)', async () => {
    provider.inject({ drop: { count: 1 } });
    await expect(post('/charges', order(), 'drop-1')).rejects.toThrow();
    expect(provider.charges()).toEqual([]);
    expect(provider.calls()[0]?.outcome).toBe('dropped');
  });

  it('drops the connection after processing (charged, answer lost); a retry with the key replays', async () => {
    provider.inject({ drop: { count: 1, when: 'after' } });
    const body = order();
    await expect(post('/charges', body, 'drop-2')).rejects.toThrow();
    expect(provider.chargesFor(body.reference)).toHaveLength(1);
    const retry = await post('/charges', body, 'drop-2');
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(provider.chargesFor(body.reference)).toHaveLength(1);
  });

  it('delays the next requests by the injected latency', async () => {
    provider.inject({ latency: { ms: 300, count: 1 } });
    const started = performance.now();
    expect((await fetch(`${provider.url}/charges/ch_none`)).status).toBe(404);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('takes fault plans and serves counters over HTTP (for a provider in another process)', async () => {
    const plan = await fetch(`${provider.url}/_control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fail: { count: 1 } }) });
    expect(plan.status).toBe(200);
    expect((await post('/charges', order(), 'http-1')).status).toBe(503);
    expect((await post('/charges', order(), 'http-2')).status).toBe(201);
    const stats = (await (await fetch(`${provider.url}/_control/stats`)).json()) as ReturnType<PaymentProvider['stats']>;
    expect(stats).toMatchObject({ calls: 2, charges: 1, byKey: { 'http-1': { calls: 1, charges: 0 }, 'http-2': { calls: 1, charges: 1 } } });
    const calls = (await (await fetch(`${provider.url}/_control/calls`)).json()) as { data: unknown[] };
    expect(calls.data).toHaveLength(2);
    const bad = await fetch(`${provider.url}/_control/faults`, { method: 'POST', body: JSON.stringify({ fail: { count: 'many' } }) });
    expect(bad.status).toBe(400);
    expect((await fetch(`${provider.url}/_control/reset`, { method: 'POST' })).status).toBe(204);
    expect(provider.stats()).toEqual({ calls: 0, charges: 0, refunds: 0, byKey: {} });
  });

  it('records the request id and traceparent of every call', async () => {
    await fetch(`${provider.url}/charges/ch_none`, { headers: { 'x-request-id': 'req-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    expect(provider.calls()[0]).toMatchObject({ requestId: 'req-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', outcome: 404 });
  });
});
