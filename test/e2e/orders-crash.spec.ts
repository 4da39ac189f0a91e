import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPaymentProvider, type PaymentProvider } from '../../payment-provider/server.js';
import { createTestDatabase, dropTestDatabase } from '../helpers/database.js';
import { endPool } from '../helpers/pool.js';
import { buildProject, httpRequest, killIfRunning, signInOverHttp, spawnNode, type ServiceProcess } from '../helpers/process.js';

// Crash safety with real processes: the compiled service is killed with SIGKILL at two points of the
// order saga and started again; the payment provider runs in this test process and outlives it.
const MAIN = 'dist/src/main.js';
const ORDERS = 3;
const QUANTITY = 2;
const STOCK = 20;

describe('order saga crash safety (kill -9 and restart)', () => {
  let provider: PaymentProvider;
  let databaseUrl: string;
  let sql: pg.Pool;
  let dataDir: string;
  const started: ServiceProcess[] = [];
  const adminEmail = `admin-${randomBytes(4).toString('hex')}@crash.test`;
  const adminPassword = `Pw-${randomBytes(12).toString('base64url')}`;

  async function startService(): Promise<{ service: ServiceProcess; baseUrl: string; auth: { authorization: string } }> {
    const service = spawnNode(MAIN, [], {
      DATABASE_URL: databaseUrl,
      HOST: '127.0.0.1',
      PORT: '0',
      GRPC_PORT: '0',
      MIGRATE_ON_START: 'false',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      ADMIN_EMAIL: adminEmail,
      ADMIN_PASSWORD: adminPassword,
      PAYMENT_PROVIDER_URL: provider.url,
      // A killed process's sagas are resumed once its lease lapses.
      SAGA_LEASE_MS: '3000',
      SAGA_RECOVERY_INTERVAL_MS: '200',
      APP_ROLE: 'all',
    });
    started.push(service);
    const serving = await service.waitForLine((line) => line.msg === 'groundwork is serving', 60_000);
    const baseUrl = String(serving.url);
    return { service, baseUrl, auth: await signInOverHttp(baseUrl, adminEmail, adminPassword) };
  }

  async function kill(service: ServiceProcess): Promise<void> {
    service.child.kill('SIGKILL');
    expect(await service.exited).toBe('SIGKILL');
  }

  async function newProduct(baseUrl: string, auth: Record<string, string>): Promise<string> {
    const created = await httpRequest(`${baseUrl}/products`, {
      method: 'POST',
      headers: auth,
      body: { sku: `CRASH-${randomBytes(4).toString('hex')}`, name: 'Crash test', price: 1500, currency: 'EUR' },
    });
    expect(created.status, created.body).toBe(201);
    const id = (JSON.parse(created.body) as { id: string }).id;
    const stocked = await httpRequest(`${baseUrl}/products/${id}/inventory`, { method: 'PUT', headers: auth, body: { onHand: STOCK } });
    expect(stocked.status, stocked.body).toBe(200);
    return id;
  }

  async function placeOrders(baseUrl: string, auth: Record<string, string>, productId: string): Promise<string[]> {
    const results = await Promise.all(
      Array.from({ length: ORDERS }, () =>
        httpRequest(`${baseUrl}/orders`, {
          method: 'POST',
          headers: { ...auth, 'idempotency-key': `crash-${randomBytes(6).toString('hex')}` },
          body: { items: [{ productId, quantity: QUANTITY }] },
        }),
      ),
    );
    for (const result of results) expect(result.status, result.body).toBe(201);
    return results.map((result) => (JSON.parse(result.body) as { id: string }).id);
  }

  async function waitForAllFinal(orderIds: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { rows } = await sql.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM saga_instances WHERE order_id = ANY($1::uuid[]) AND status IN ('COMPLETED', 'COMPENSATED')`,
        [orderIds],
      );
      if (rows[0]!.count === orderIds.length) return;
      await sleep(50);
    }
    throw new Error('sagas did not finish after the restart');
  }

  /** Every order final, CONFIRMED here (the provider declines nothing), one charge each, nothing left reserved. */
  async function expectSettled(productId: string, orderIds: string[]): Promise<void> {
    const { rows } = await sql.query<{ id: string; status: string; payment_id: string | null }>('SELECT id, status, payment_id FROM orders WHERE id = ANY($1::uuid[])', [orderIds]);
    expect(rows.map((row) => row.status)).toEqual(orderIds.map(() => 'CONFIRMED'));
    for (const row of rows) {
      const charges = provider.chargesFor(row.id);
      expect(charges, `charges of order ${row.id}`).toHaveLength(1);
      expect(charges[0]!.id).toBe(row.payment_id);
    }
    const inventory = await sql.query<{ on_hand: number; reserved: number }>('SELECT on_hand, reserved FROM inventory WHERE product_id = $1', [productId]);
    expect(inventory.rows[0]).toEqual({ on_hand: STOCK - ORDERS * QUANTITY, reserved: 0 });
    const events = await sql.query<{ event_type: string; count: number }>(
      'SELECT event_type, count(*)::int AS count FROM outbox WHERE aggregate_id = ANY($1) GROUP BY event_type ORDER BY event_type',
      [orderIds],
    );
    expect(events.rows).toEqual([
      { event_type: 'OrderConfirmed', count: ORDERS },
      { event_type: 'OrderCreated', count: ORDERS },
    ]);
  }

  beforeAll(async () => {
    await buildProject();
    provider = await startPaymentProvider();
    databaseUrl = await createTestDatabase();
    sql = new pg.Pool({ connectionString: databaseUrl, max: 3 });
    dataDir = path.join(tmpdir(), `gw-orders-crash-${randomBytes(4).toString('hex')}`);
  }, 240_000);

  afterAll(async () => {
    for (const service of started) await killIfRunning(service);
    if (sql) await endPool(sql);
    if (databaseUrl) await dropTestDatabase(databaseUrl);
    await provider?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('killed right after the reservation commits (charges in flight): the restarted service confirms each order once', async () => {
    const first = await startService();
    const productId = await newProduct(first.baseUrl, first.auth);
    // The charges reach the provider and take a second to answer; the service dies meanwhile.
    provider.inject({ latency: { ms: 1000, count: ORDERS } });
    const orderIds = await placeOrders(first.baseUrl, first.auth, productId);
    await kill(first.service);
    provider.clearFaults();

    const reserved = await sql.query<{ reserved: number }>('SELECT reserved FROM inventory WHERE product_id = $1', [productId]);
    expect(reserved.rows[0]!.reserved).toBe(ORDERS * QUANTITY);
    const pending = await sql.query<{ count: number }>(`SELECT count(*)::int AS count FROM orders WHERE id = ANY($1::uuid[]) AND status = 'PENDING'`, [orderIds]);
    expect(pending.rows[0]!.count).toBe(ORDERS);

    const second = await startService();
    await waitForAllFinal(orderIds, 60_000);
    await expectSettled(productId, orderIds);
    await kill(second.service);
  }, 180_000);

  it('killed right after the charge succeeds (before the confirmation commits): the restarted service confirms without charging again', async () => {
    const first = await startService();
    const productId = await newProduct(first.baseUrl, first.auth);
    // The provider's delay gives this test time to take the product's inventory row once the
    // orders are placed; the confirm transactions then block on it after the charges succeeded,
    // and the process dies right there.
    provider.inject({ latency: { ms: 2500, count: ORDERS } });
    const blocker = new pg.Client({ connectionString: databaseUrl });
    await blocker.connect();
    try {
      const orderIds = await placeOrders(first.baseUrl, first.auth, productId);
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM inventory WHERE product_id = $1 FOR UPDATE', [productId]);
      for (const orderId of orderIds) {
        await first.service.waitForLine((line) => line.msg === 'order saga step succeeded' && line.orderId === orderId && line.step === 'charge', 30_000);
      }
      await kill(first.service);
      await blocker.query('ROLLBACK');

      const steps = await sql.query<{ status: string; order_status: string }>(
        `SELECT st.status, o.status AS order_status FROM saga_steps st JOIN saga_instances s ON s.id = st.saga_id JOIN orders o ON o.id = s.order_id
          WHERE o.id = ANY($1::uuid[]) AND st.step = 'charge'`,
        [orderIds],
      );
      expect(steps.rows).toEqual(orderIds.map(() => ({ status: 'SUCCEEDED', order_status: 'PENDING' })));
      expect(orderIds.map((id) => provider.chargesFor(id).length)).toEqual(orderIds.map(() => 1));

      const second = await startService();
      await waitForAllFinal(orderIds, 60_000);
      await expectSettled(productId, orderIds);
      await kill(second.service);
    } finally {
      await blocker.end();
    }
  }, 180_000);
});
