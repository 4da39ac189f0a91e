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
