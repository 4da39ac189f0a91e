import type pg from 'pg';
import { expect } from 'vitest';
import type { TestApp } from './app.js';

export interface ProductJson {
  id: string;
  sku: string;
  name: string;
  price: number;
  currency: string;
  active: boolean;
  available: number;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export const PRODUCT_KEYS = ['active', 'available', 'createdAt', 'currency', 'id', 'name', 'price', 'sku', 'updatedAt', 'version'];

let counter = 0;

/** Creates a product (as the test app's platform admin) and sets its stock. */
export async function createProduct(t: TestApp, options: { price?: number; currency?: string; stock?: number; sku?: string } = {}): Promise<ProductJson> {
  counter += 1;
  const res = await t.app.inject({
    method: 'POST',
    url: '/products',
    payload: {
      sku: options.sku ?? `SKU-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`,
      name: `Product ${counter}`,
      price: options.price ?? 1000,
      currency: options.currency ?? 'EUR',
    },
  });
  expect(res.statusCode, res.body).toBe(201);
  const product = res.json<ProductJson>();
  if (options.stock !== undefined) {
    const stock = await t.app.inject({ method: 'PUT', url: `/products/${product.id}/inventory`, payload: { onHand: options.stock } });
    expect(stock.statusCode, stock.body).toBe(200);
    product.available = options.stock;
  }
  return product;
}

/** on_hand and reserved of a product, read straight from the table. */
export async function inventoryOf(t: TestApp, productId: string): Promise<{ on_hand: number; reserved: number }> {
  const { rows } = await t.sql.query<{ on_hand: number; reserved: number }>('SELECT on_hand, reserved FROM inventory WHERE product_id = $1', [productId]);
  return rows[0]!;
}

export interface OrderJson {
  id: string;
  userId: string;
  organizationId: string | null;
  status: 'PENDING' | 'CONFIRMED' | 'CANCELLED';
  currency: string;
  total: number;
  paymentId: string | null;
  cancelReason: string | null;
  items: Array<{ productId: string; quantity: number; unitPrice: number; lineTotal: number }>;
  createdAt: string;
  updatedAt: string;
}

let keyCounter = 0;
/** A fresh Idempotency-Key. */
export function newKey(): string {
  keyCounter += 1;
  return `key-${process.pid}-${keyCounter}-${Math.random().toString(36).slice(2, 10)}`;
}

/** POST /orders as `headers`' principal (the harness admin when omitted). */
export function placeOrder(
  t: TestApp,
  items: Array<{ productId: string; quantity: number }>,
  options: { key?: string | null; headers?: Record<string, string> } = {},
) {
  const key = options.key === undefined ? newKey() : options.key;
  return t.app.inject({
    method: 'POST',
    url: '/orders',
    headers: { ...options.headers, ...(key !== null && { 'idempotency-key': key }) },
    payload: { items },
  });
}

/** Polls the order row until the saga has moved it out of PENDING (or the deadline passes). */
export async function waitForFinal(sql: pg.Pool, orderId: string, timeoutMs = 20_000): Promise<{ status: string; cancel_reason: string | null; payment_id: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await sql.query<{ status: string; cancel_reason: string | null; payment_id: string | null }>(
      'SELECT o.status, o.cancel_reason, o.payment_id FROM orders o JOIN saga_instances s ON s.order_id = o.id WHERE o.id = $1 AND s.status IN ($2, $3)',
      [orderId, 'COMPLETED', 'COMPENSATED'],
    );
    if (rows[0]) return rows[0];
    if (Date.now() > deadline) throw new Error(`order ${orderId} still unfinished after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Event types the outbox holds for an order, in write order. */
export async function orderEvents(sql: pg.Pool, orderId: string): Promise<string[]> {
  const { rows } = await sql.query<{ event_type: string }>('SELECT event_type FROM outbox WHERE aggregate_id = $1 ORDER BY position', [orderId]);
  return rows.map((row) => row.event_type);
}
