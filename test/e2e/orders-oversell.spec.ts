import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPaymentProvider, type PaymentProvider } from '../../payment-provider/server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createProduct, inventoryOf, waitForFinal } from '../helpers/commerce.js';
import { httpRequest } from '../helpers/process.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';

const STOCK = 50;
const CHECKOUTS = 500;

/** Sum of a counter's samples in Prometheus text that match every label given. */
function counterValue(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('no oversell under a flash sale', () => {
  let t: TestApp;
  let provider: PaymentProvider;
  let baseUrl: string;
  let buyers: TestPrincipal[];
  beforeAll(async () => {
    provider = await startPaymentProvider();
    t = await startTestApp({ PAYMENT_PROVIDER_URL: provider.url, SAGA_RECOVERY_INTERVAL_MS: '200' });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.getHttpServer().address();
    baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    buyers = await Promise.all(Array.from({ length: 10 }, () => createPrincipal(t.app, t.sql)));
  });
  afterAll(async () => {
    await t?.close();
    await provider?.close();
  });

  it(`stock ${STOCK}, ${CHECKOUTS} concurrent checkouts on separate connections: exactly ${STOCK} succeed, the rest 409, no 5xx, stock ends at 0`, async () => {
    const product = await createProduct(t, { stock: STOCK, price: 4999 });
    const before = counterValue((await t.anonymous('/metrics')).body, 'db_transaction_retries_total', { isolation: 'serializable' });

    const results = await Promise.all(
      Array.from({ length: CHECKOUTS }, (_, index) =>
        httpRequest(`${baseUrl}/orders`, {
          method: 'POST',
          headers: { ...buyers[index % buyers.length]!.headers, 'idempotency-key': `flash-${index}` },
          body: { items: [{ productId: product.id, quantity: 1 }] },
          timeoutMs: 120_000,
        }),
      ),
    );

    const byStatus = new Map<number, number>();
    for (const result of results) byStatus.set(result.status, (byStatus.get(result.status) ?? 0) + 1);
    expect(Object.fromEntries(byStatus)).toEqual({ 201: STOCK, 409: CHECKOUTS - STOCK });
    for (const result of results.filter((r) => r.status === 409)) {
      expect((JSON.parse(result.body) as { error: { code: string } }).error.code).toBe('INSUFFICIENT_INVENTORY');
    }

    const created = results.filter((r) => r.status === 201).map((r) => (JSON.parse(r.body) as { id: string }).id);
    for (const id of created) expect((await waitForFinal(t.sql, id, 60_000)).status).toBe('CONFIRMED');
    expect(await inventoryOf(t, product.id)).toEqual({ on_hand: 0, reserved: 0 });
    const { rows } = await t.sql.query<{ sold: number }>('SELECT coalesce(sum(quantity), 0)::int AS sold FROM order_items WHERE product_id = $1', [product.id]);
    expect(rows[0]!.sold).toBe(STOCK);
    expect(provider.charges().filter((charge) => charge.status === 'succeeded')).toHaveLength(STOCK);

    // The contention really happened and was absorbed by retrying whole transactions.
    const after = counterValue((await t.anonymous('/metrics')).body, 'db_transaction_retries_total', { isolation: 'serializable' });
    expect(after - before).toBeGreaterThan(0);
  });
});
