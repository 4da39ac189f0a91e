import 'reflect-metadata';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPaymentProvider, type PaymentProvider } from '../../payment-provider/server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { expectErrorEnvelope } from '../helpers/api.js';
import { createProduct, inventoryOf, newKey, orderEvents, placeOrder, waitForFinal, type OrderJson } from '../helpers/commerce.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';

describe('orders: idempotent placement, server-side totals, the payment saga, access', () => {
  let t: TestApp;
  let provider: PaymentProvider;
  let alice: TestPrincipal;
  let bob: TestPrincipal;
  beforeAll(async () => {
    provider = await startPaymentProvider();
    t = await startTestApp({ PAYMENT_PROVIDER_URL: provider.url, SAGA_RECOVERY_INTERVAL_MS: '100', HTTP_CLIENT_BREAKER_HALF_OPEN_MS: '200' });
    alice = await createPrincipal(t.app, t.sql);
    bob = await createPrincipal(t.app, t.sql);
  });
  afterAll(async () => {
    await t?.close();
    await provider?.close();
  });
  beforeEach(() => provider.clearFaults());

  describe('Idempotency-Key', () => {
    it('is required: without it (or with an unusable one) nothing is created', async () => {
      const product = await createProduct(t, { stock: 5 });
      for (const key of [null, '', 'has space', 'x'.repeat(256)]) {
        const res = await placeOrder(t, [{ productId: product.id, quantity: 1 }], { key, headers: alice.headers });
        expectErrorEnvelope(res, { status: 400, code: 'IDEMPOTENCY_KEY_REQUIRED', url: '/orders' });
      }
      expect(await inventoryOf(t, product.id)).toEqual({ on_hand: 5, reserved: 0 });
    });

    it('the same key and body replays the first response; one order exists', async () => {
      const product = await createProduct(t, { stock: 5, price: 700 });
      const key = newKey();
      const first = await placeOrder(t, [{ productId: product.id, quantity: 2 }], { key, headers: alice.headers });
      expect(first.statusCode, first.body).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const order = first.json<OrderJson>();
      expect(first.headers.location).toBe(`/orders/${order.id}`);
      const again = await placeOrder(t, [{ productId: product.id, quantity: 2 }], { key, headers: alice.headers });
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json()).toEqual(first.json());
      const { rows } = await t.sql.query('SELECT id FROM orders WHERE user_id = $1 AND id IN (SELECT order_id FROM order_items WHERE product_id = $2)', [alice.id, product.id]);
      expect(rows).toHaveLength(1);
      await waitForFinal(t.sql, order.id);
      // Another user's identical key is another request.
      const bobs = await placeOrder(t, [{ productId: product.id, quantity: 2 }], { key, headers: bob.headers });
      expect(bobs.statusCode).toBe(201);
      expect(bobs.json<OrderJson>().id).not.toBe(order.id);
    });

    it('the same key with a different body is 422 and changes nothing', async () => {
      const product = await createProduct(t, { stock: 5 });
      const key = newKey();
      expect((await placeOrder(t, [{ productId: product.id, quantity: 1 }], { key, headers: alice.headers })).statusCode).toBe(201);
      const res = await placeOrder(t, [{ productId: product.id, quantity: 3 }], { key, headers: alice.headers });
      expectErrorEnvelope(res, { status: 422, code: 'IDEMPOTENCY_KEY_MISMATCH', url: '/orders' });
      const { rows } = await t.sql.query<{ count: number }>('SELECT count(*)::int AS count FROM order_items WHERE product_id = $1', [product.id]);
      expect(rows[0]!.count).toBe(1);
    });

    it('a concurrent duplicate gets 409 while the first runs, then replays', async () => {
      const product = await createProduct(t, { stock: 5 });
      const key = newKey();
      // Hold the product's inventory row so the first request's transaction waits inside.
      const blocker = new pg.Client({ connectionString: t.config.DATABASE_URL });
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM inventory WHERE product_id = $1 FOR UPDATE', [product.id]);
      const first = placeOrder(t, [{ productId: product.id, quantity: 1 }], { key, headers: alice.headers });
      // The key is claimed before the transaction starts; wait until it is.
      for (let i = 0; i < 200; i++) {
        const { rows } = await t.sql.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [key]);
        if (rows.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // ... and until its transaction (which has already written the key's response) waits on the row.
      for (let i = 0; i < 500; i++) {
        const { rows } = await t.sql.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        if (rows.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const duplicate = await placeOrder(t, [{ productId: product.id, quantity: 1 }], { key, headers: alice.headers });
      expectErrorEnvelope(duplicate, { status: 409, code: 'IDEMPOTENCY_KEY_IN_USE', url: '/orders' });
      expect(duplicate.headers['retry-after']).toBe('1');
      await blocker.query('ROLLBACK');
      await blocker.end();
      const done = await first;
      expect(done.statusCode, done.body).toBe(201);
      const replay = await placeOrder(t, [{ productId: product.id, quantity: 1 }], { key, headers: alice.headers });
      expect(replay.statusCode).toBe(201);
      expect(replay.json()).toEqual(done.json());
    });

    it('a claim whose request died (lease lapsed, nothing created) is taken over', async () => {
      const product = await createProduct(t, { stock: 2 });
      const key = newKey();
      await t.sql.query(
        `INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, locked_until)
         VALUES ($1, 'POST /orders', $2, decode(repeat('00', 32), 'hex'), 'in_progress', now() - interval '1 second')`,
        [alice.id, key],
      );
      const res = await placeOrder(t, [{ productId: product.id, quantity: 1 }], { key, headers: alice.headers });
      expect(res.statusCode, res.body).toBe(201);
      await waitForFinal(t.sql, res.json<OrderJson>().id);
    });

    it('a refused order frees its key: the same key works once stock arrives', async () => {
      const product = await createProduct(t, { stock: 0 });
      const key = newKey();
      const refused = await placeOrder(t, [{ productId: product.id, quantity: 1 }], { key, headers: alice.headers });
      expectErrorEnvelope(refused, { status: 409, code: 'INSUFFICIENT_INVENTORY', url: '/orders' });
      await t.app.inject({ method: 'PUT', url: `/products/${product.id}/inventory`, payload: { onHand: 1 } });
      expect((await placeOrder(t, [{ productId: product.id, quantity: 1 }], { key, headers: alice.headers })).statusCode).toBe(201);
    });
  });

  describe('placement', () => {
    it('prices and totals come from the catalog; a client-sent price is refused', async () => {
      const a = await createProduct(t, { stock: 10, price: 250 });
      const b = await createProduct(t, { stock: 10, price: 1000 });
      const res = await placeOrder(
        t,
        [
          { productId: a.id, quantity: 3 },
          { productId: b.id, quantity: 1 },
        ],
        { headers: alice.headers },
      );
      expect(res.statusCode, res.body).toBe(201);
      const order = res.json<OrderJson>();
      expect(order).toMatchObject({ status: 'PENDING', total: 1750, currency: 'EUR', userId: alice.id, paymentId: null });
      expect(order.items).toEqual(
        expect.arrayContaining([
          { productId: a.id, quantity: 3, unitPrice: 250, lineTotal: 750 },
          { productId: b.id, quantity: 1, unitPrice: 1000, lineTotal: 1000 },
        ]),
      );
      const cheat = await t.app.inject({
        method: 'POST',
        url: '/orders',
        headers: { ...alice.headers, 'idempotency-key': newKey() },
        payload: { items: [{ productId: a.id, quantity: 1, unitPrice: 1 }], total: 1 },
      });
      expectErrorEnvelope(cheat, { status: 400, code: 'VALIDATION_FAILED', url: '/orders' });
    });

    it('INSUFFICIENT_INVENTORY names every short product and reserves nothing', async () => {
      const plenty = await createProduct(t, { stock: 10 });
      const short1 = await createProduct(t, { stock: 1 });
      const short2 = await createProduct(t, { stock: 0 });
      const res = await placeOrder(
        t,
        [
          { productId: plenty.id, quantity: 2 },
          { productId: short1.id, quantity: 2 },
          { productId: short2.id, quantity: 1 },
        ],
        { headers: alice.headers },
      );
      const error = expectErrorEnvelope(res, { status: 409, code: 'INSUFFICIENT_INVENTORY', url: '/orders' });
      const messages = (error.details as Array<{ message: string }>).map((detail) => detail.message).join('\n');
      expect(messages).toContain(short1.id);
      expect(messages).toContain(short2.id);
      expect(messages).not.toContain(plenty.id);
      expect(await inventoryOf(t, plenty.id)).toEqual({ on_hand: 10, reserved: 0 });
    });

    it('unknown or inactive products, mixed currencies and repeated products are refused', async () => {
      const eur = await createProduct(t, { stock: 5, currency: 'EUR' });
      const usd = await createProduct(t, { stock: 5, currency: 'USD' });
      const unknown = '01900000-0000-7000-8000-00000000abcd';
      expectErrorEnvelope(await placeOrder(t, [{ productId: unknown, quantity: 1 }], { headers: alice.headers }), { status: 422, code: 'PRODUCT_UNAVAILABLE', url: '/orders' });
      expectErrorEnvelope(
        await placeOrder(
          t,
          [
            { productId: eur.id, quantity: 1 },
            { productId: usd.id, quantity: 1 },
          ],
          { headers: alice.headers },
        ),
        { status: 422, code: 'CURRENCY_MISMATCH', url: '/orders' },
      );
      expectErrorEnvelope(
        await placeOrder(
          t,
          [
            { productId: eur.id, quantity: 1 },
            { productId: eur.id, quantity: 1 },
          ],
          { headers: alice.headers },
        ),
        { status: 400, code: 'VALIDATION_FAILED', url: '/orders' },
      );
      for (const items of [[], [{ productId: eur.id, quantity: 0 }], [{ productId: 'nope', quantity: 1 }]]) {
        expectErrorEnvelope(await placeOrder(t, items, { headers: alice.headers }), { status: 400, code: 'VALIDATION_FAILED', url: '/orders' });
      }
      expect(await inventoryOf(t, eur.id)).toEqual({ on_hand: 5, reserved: 0 });
    });
  });

  describe('the payment saga', () => {
    it('charges once, confirms, turns the reservation into a sale, and writes OrderCreated then OrderConfirmed', async () => {
      const product = await createProduct(t, { stock: 5, price: 300 });
      const res = await placeOrder(t, [{ productId: product.id, quantity: 2 }], { headers: alice.headers });
      const order = res.json<OrderJson>();
      const final = await waitForFinal(t.sql, order.id);
      expect(final.status).toBe('CONFIRMED');
      expect(await inventoryOf(t, product.id)).toEqual({ on_hand: 3, reserved: 0 });
      const charges = provider.chargesFor(order.id);
      expect(charges).toHaveLength(1);
      expect(charges[0]).toMatchObject({ amount: 600, currency: 'EUR', status: 'succeeded' });
      expect(final.payment_id).toBe(charges[0]!.id);
      expect(await orderEvents(t.sql, order.id)).toEqual(['OrderCreated', 'OrderConfirmed']);
      const got = await t.app.inject({ method: 'GET', url: `/orders/${order.id}`, headers: alice.headers });
      expect(got.json<OrderJson>()).toMatchObject({ status: 'CONFIRMED', paymentId: charges[0]!.id });
      const steps = await t.sql.query<{ step: string; status: string }>(
        'SELECT step, status FROM saga_steps WHERE saga_id = (SELECT id FROM saga_instances WHERE order_id = $1) ORDER BY started_at, step',
        [order.id],
      );
      expect(Object.fromEntries(steps.rows.map((row) => [row.step, row.status]))).toEqual({ reserve: 'SUCCEEDED', charge: 'SUCCEEDED', confirm: 'SUCCEEDED' });
    });

    it('payment declined -> stock released, order CANCELLED, OrderCancelled in the outbox', async () => {
      const product = await createProduct(t, { stock: 4 });
      provider.inject({ decline: { count: 1 } });
      const order = (await placeOrder(t, [{ productId: product.id, quantity: 3 }], { headers: alice.headers })).json<OrderJson>();
      const final = await waitForFinal(t.sql, order.id);
      expect(final).toMatchObject({ status: 'CANCELLED', cancel_reason: 'payment_declined', payment_id: null });
      expect(await inventoryOf(t, product.id)).toEqual({ on_hand: 4, reserved: 0 });
      expect(await orderEvents(t.sql, order.id)).toEqual(['OrderCreated', 'OrderCancelled']);
      const { rows } = await t.sql.query<{ status: string; failure_reason: string }>('SELECT status, failure_reason FROM saga_instances WHERE order_id = $1', [order.id]);
      expect(rows[0]).toEqual({ status: 'COMPENSATED', failure_reason: 'payment_declined' });
    });

    it('two 5xx then success: the client retries with the same key, the provider makes one charge', async () => {
      const product = await createProduct(t, { stock: 4 });
      provider.inject({ fail: { count: 2, status: 503 } });
      const order = (await placeOrder(t, [{ productId: product.id, quantity: 1 }], { headers: alice.headers })).json<OrderJson>();
      expect((await waitForFinal(t.sql, order.id)).status).toBe('CONFIRMED');
      expect(provider.chargesFor(order.id)).toHaveLength(1);
      expect(provider.callsFor(`order-${order.id}-charge`)).toBe(3);
    });

    it('a charge whose answer was lost is replayed by key, not repeated', async () => {
      const product = await createProduct(t, { stock: 4 });
      provider.inject({ drop: { count: 1, when: 'after' } });
      const order = (await placeOrder(t, [{ productId: product.id, quantity: 1 }], { headers: alice.headers })).json<OrderJson>();
      expect((await waitForFinal(t.sql, order.id)).status).toBe('CONFIRMED');
      expect(provider.chargesFor(order.id)).toHaveLength(1);
    });

    it('cancelling while the charge is in flight releases the stock at once and the saga refunds the charge', async () => {
      const product = await createProduct(t, { stock: 4, price: 900 });
      provider.inject({ latency: { ms: 1500, count: 1 } });
      const order = (await placeOrder(t, [{ productId: product.id, quantity: 2 }], { headers: alice.headers })).json<OrderJson>();
      // Cancel once the charge request is at the provider (held there by the latency).
      for (let i = 0; i < 500 && provider.callsFor(`order-${order.id}-charge`) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(provider.callsFor(`order-${order.id}-charge`)).toBe(1);
      const cancelled = await t.app.inject({ method: 'POST', url: `/orders/${order.id}/cancel`, headers: alice.headers });
      expect(cancelled.statusCode, cancelled.body).toBe(200);
      expect(cancelled.json<OrderJson>()).toMatchObject({ status: 'CANCELLED', cancelReason: 'cancelled_by_user' });
      expect(await inventoryOf(t, product.id)).toEqual({ on_hand: 4, reserved: 0 });
      await waitForFinal(t.sql, order.id);
      const charges = provider.chargesFor(order.id);
      expect(charges).toHaveLength(1);
      expect(charges[0]).toMatchObject({ amount: 1800, amountRefunded: 1800 });
      expect(await inventoryOf(t, product.id)).toEqual({ on_hand: 4, reserved: 0 });
      expect(await orderEvents(t.sql, order.id)).toEqual(['OrderCreated', 'OrderCancelled']);
      const again = await t.app.inject({ method: 'POST', url: `/orders/${order.id}/cancel`, headers: alice.headers });
      expectErrorEnvelope(again, { status: 409, code: 'ORDER_NOT_CANCELLABLE', url: `/orders/${order.id}/cancel` });
    });

    it('a CONFIRMED order cannot be cancelled', async () => {
      const product = await createProduct(t, { stock: 4 });
      const order = (await placeOrder(t, [{ productId: product.id, quantity: 1 }], { headers: alice.headers })).json<OrderJson>();
      expect((await waitForFinal(t.sql, order.id)).status).toBe('CONFIRMED');
      const res = await t.app.inject({ method: 'POST', url: `/orders/${order.id}/cancel`, headers: alice.headers });
      expectErrorEnvelope(res, { status: 409, code: 'ORDER_NOT_CANCELLABLE', url: `/orders/${order.id}/cancel` });
      expect(await inventoryOf(t, product.id)).toEqual({ on_hand: 3, reserved: 0 });
    });

    it('metrics count orders, saga steps and compensations', async () => {
      const text = (await t.anonymous({ method: 'GET', url: '/metrics' })).body;
      expect(text).toMatch(/orders_created_total\{[^}]*\} [1-9]/);
      expect(text).toMatch(/orders_confirmed_total\{[^}]*\} [1-9]/);
      expect(text).toMatch(/orders_cancelled_total\{[^}]*reason="payment_declined"[^}]*\} 1/);
      expect(text).toMatch(/saga_compensations_total\{[^}]*reason="payment_declined"[^}]*\} 1/);
      expect(text).toMatch(/saga_step_duration_seconds_count\{[^}]*step="charge"/);
    });
  });

  describe('access (BOLA)', () => {
    it("user B can neither read, list nor cancel user A's order (404, as if it did not exist)", async () => {
      const product = await createProduct(t, { stock: 5 });
      provider.inject({ latency: { ms: 300, count: 1 } });
      const order = (await placeOrder(t, [{ productId: product.id, quantity: 1 }], { headers: alice.headers })).json<OrderJson>();
      const url = `/orders/${order.id}`;
      expectErrorEnvelope(await t.app.inject({ method: 'GET', url, headers: bob.headers }), { status: 404, code: 'ORDER_NOT_FOUND', url });
      expectErrorEnvelope(await t.app.inject({ method: 'POST', url: `${url}/cancel`, headers: bob.headers }), { status: 404, code: 'ORDER_NOT_FOUND', url: `${url}/cancel` });
      const bobsList = await t.app.inject({ method: 'GET', url: '/orders?limit=100', headers: bob.headers });
      expect(bobsList.json<{ data: OrderJson[] }>().data.map((o) => o.id)).not.toContain(order.id);
      expect(bobsList.json<{ data: OrderJson[] }>().data.every((o) => o.userId === bob.id)).toBe(true);
      const alicesList = await t.app.inject({ method: 'GET', url: '/orders?limit=100', headers: alice.headers });
      expect(alicesList.json<{ data: OrderJson[] }>().data.map((o) => o.id)).toContain(order.id);
      await waitForFinal(t.sql, order.id);
    });

    it("an organization admin sees its organization's orders; another organization's admin gets 404", async () => {
      const product = await createProduct(t, { stock: 5 });
      const order = (await placeOrder(t, [{ productId: product.id, quantity: 1 }], { headers: alice.headers })).json<OrderJson>();
      const { rows } = await t.sql.query<{ id: string }>(`INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), 'Elsewhere', 'elsewhere-orders') RETURNING id`);
      const foreignAdmin = await createPrincipal(t.app, t.sql, { role: 'admin', organizationId: rows[0]!.id });
      const localAdmin = await createPrincipal(t.app, t.sql, { role: 'admin', organizationId: alice.organizationId });
      const url = `/orders/${order.id}`;
      expect((await t.app.inject({ method: 'GET', url, headers: localAdmin.headers })).statusCode).toBe(200);
      expectErrorEnvelope(await t.app.inject({ method: 'GET', url, headers: foreignAdmin.headers }), { status: 404, code: 'ORDER_NOT_FOUND', url });
      const foreignList = await t.app.inject({ method: 'GET', url: '/orders?limit=100', headers: foreignAdmin.headers });
      expect(foreignList.json<{ data: OrderJson[] }>().data).toEqual([]);
      await waitForFinal(t.sql, order.id);
    });

    it('pages through orders newest first with a cursor', async () => {
      const carol = await createPrincipal(t.app, t.sql);
      const product = await createProduct(t, { stock: 10 });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await placeOrder(t, [{ productId: product.id, quantity: 1 }], { headers: carol.headers })).json<OrderJson>().id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await t.app.inject({ method: 'GET', url: `/orders?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: carol.headers });
        const page: { data: OrderJson[]; nextCursor: string | null } = res.json();
        seen.push(...page.data.map((o) => o.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual([...ids].reverse());
      for (const id of ids) await waitForFinal(t.sql, id);
    });
  });
});

