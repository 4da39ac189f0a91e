import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { expectErrorEnvelope, sortedKeys } from '../helpers/api.js';
import { createProduct, inventoryOf, PRODUCT_KEYS, type ProductJson } from '../helpers/commerce.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';

describe('catalog: products and inventory', () => {
  let t: TestApp;
  let orgAdmin: TestPrincipal;
  beforeAll(async () => {
    t = await startTestApp();
    const { rows } = await t.sql.query<{ id: string }>(`INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), 'Other', 'other-products') RETURNING id`);
    orgAdmin = await createPrincipal(t.app, t.sql, { role: 'admin', organizationId: rows[0]!.id });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a platform admin creates a product; it starts with no stock and shows exactly the public fields', async () => {
    const product = await createProduct(t, { price: 1299, currency: 'EUR' });
    expect(sortedKeys(product)).toEqual(PRODUCT_KEYS);
    expect(product).toMatchObject({ price: 1299, currency: 'EUR', active: true, available: 0, version: 1 });
  });

  it('refuses a duplicate SKU, bad prices and currencies, and non-managers', async () => {
    const product = await createProduct(t);
    const dup = await t.app.inject({ method: 'POST', url: '/products', payload: { sku: product.sku, name: 'x', price: 1, currency: 'EUR' } });
    expectErrorEnvelope(dup, { status: 409, code: 'DUPLICATE_SKU', url: '/products' });
    for (const payload of [
      { sku: 'OK-1', name: 'x', price: -1, currency: 'EUR' },
      { sku: 'OK-1', name: 'x', price: 1.5, currency: 'EUR' },
      { sku: 'OK-1', name: 'x', price: 1, currency: 'eur' },
      { sku: 'bad sku', name: 'x', price: 1, currency: 'EUR' },
    ]) {
      expectErrorEnvelope(await t.app.inject({ method: 'POST', url: '/products', payload }), { status: 400, code: 'VALIDATION_FAILED', url: '/products' });
    }
    // An admin of another organization administers its organization, not the platform's catalog.
    const res = await t.app.inject({ method: 'POST', url: '/products', headers: orgAdmin.headers, payload: { sku: 'OK-2', name: 'x', price: 1, currency: 'EUR' } });
    expectErrorEnvelope(res, { status: 403, code: 'FORBIDDEN', url: '/products' });
  });

  it('PUT inventory sets stock; product responses show available; stock below reserved is refused by the CHECK', async () => {
    const product = await createProduct(t, { stock: 7 });
    const got = await t.anonymous({ method: 'GET', url: `/products/${product.id}` });
    expect(got.json<ProductJson>().available).toBe(7);
    await t.sql.query('UPDATE inventory SET reserved = 5 WHERE product_id = $1', [product.id]);
    const read = await t.anonymous({ method: 'GET', url: `/products/${product.id}` });
    expect(read.json<ProductJson>().available).toBe(2);
    const url = `/products/${product.id}/inventory`;
    expectErrorEnvelope(await t.app.inject({ method: 'PUT', url, payload: { onHand: 4 } }), { status: 409, code: 'INVENTORY_BELOW_RESERVED', url });
    expectErrorEnvelope(await t.app.inject({ method: 'PUT', url, payload: { onHand: -1 } }), { status: 400, code: 'VALIDATION_FAILED', url });
    expect(await inventoryOf(t, product.id)).toEqual({ on_hand: 7, reserved: 5 });
    const ok = await t.app.inject({ method: 'PUT', url, payload: { onHand: 5 } });
    expect(ok.json()).toEqual({ productId: product.id, onHand: 5, reserved: 5, available: 0 });
    const unknown = `/products/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}/inventory`;
    expectErrorEnvelope(await t.app.inject({ method: 'PUT', url: unknown, payload: { onHand: 1 } }), { status: 404, code: 'PRODUCT_NOT_FOUND', url: unknown });
  });

  it('the database itself refuses negative stock and over-reservation', async () => {
    const product = await createProduct(t, { stock: 3 });
    await expect(t.sql.query('UPDATE inventory SET on_hand = -1 WHERE product_id = $1', [product.id])).rejects.toMatchObject({ code: '23514' });
    await expect(t.sql.query('UPDATE inventory SET reserved = -1 WHERE product_id = $1', [product.id])).rejects.toMatchObject({ code: '23514' });
    await expect(t.sql.query('UPDATE inventory SET reserved = 4 WHERE product_id = $1', [product.id])).rejects.toMatchObject({ code: '23514' });
  });

  it('public get and list carry an ETag and Cache-Control: public; If-None-Match gets 304; a change changes the ETag', async () => {
    const product = await createProduct(t, { stock: 1 });
    const url = `/products/${product.id}`;
    const first = await t.anonymous({ method: 'GET', url });
    expect(first.statusCode).toBe(200);
    expect(first.headers['cache-control']).toMatch(/^public/);
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await t.anonymous({ method: 'GET', url, headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.etag).toBe(etag);

    const patched = await t.app.inject({ method: 'PATCH', url, payload: { name: 'Renamed' } });
    expect(patched.json<ProductJson>()).toMatchObject({ name: 'Renamed', version: 2 });
    const changed = await t.anonymous({ method: 'GET', url, headers: { 'if-none-match': etag } });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);

    const list = await t.anonymous({ method: 'GET', url: '/products?limit=100' });
    expect(list.statusCode).toBe(200);
    expect(list.headers['cache-control']).toMatch(/^public/);
    const listAgain = await t.anonymous({ method: 'GET', url: '/products?limit=100', headers: { 'if-none-match': list.headers.etag as string } });
    expect(listAgain.statusCode).toBe(304);
  });

  it('inactive products vanish from the public catalog', async () => {
    const product = await createProduct(t);
    await t.app.inject({ method: 'PATCH', url: `/products/${product.id}`, payload: { active: false } });
    expectErrorEnvelope(await t.anonymous({ method: 'GET', url: `/products/${product.id}` }), { status: 404, code: 'PRODUCT_NOT_FOUND', url: `/products/${product.id}` });
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.anonymous({ method: 'GET', url: `/products?limit=2${cursor ? `&cursor=${cursor}` : ''}` });
      const page = res.json<{ data: ProductJson[]; nextCursor: string | null }>();
      all.push(...page.data.map((item) => item.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(all).not.toContain(product.id);
    expect(new Set(all).size).toBe(all.length);
    const { rows } = await t.sql.query<{ count: number }>('SELECT count(*)::int AS count FROM products WHERE active');
    expect(all.length).toBe(rows[0]!.count);
  });

  it('batch price update applies in chunked transactions, reports unknown ids, refuses duplicates', async () => {
    const products = await Promise.all(Array.from({ length: 3 }, () => createProduct(t, { price: 100 })));
    const unknown = '01900000-0000-7000-8000-000000000000';
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/products/prices',
      payload: { updates: [...products.map((p, i) => ({ productId: p.id, price: 200 + i })), { productId: unknown, price: 5 }] },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ updated: 3, chunks: 1, notFound: [unknown] });
    for (const [i, p] of products.entries()) {
      const got = await t.anonymous({ method: 'GET', url: `/products/${p.id}` });
      expect(got.json<ProductJson>()).toMatchObject({ price: 200 + i, version: 2 });
    }
    const dup = await t.app.inject({ method: 'PATCH', url: '/products/prices', payload: { updates: [{ productId: unknown, price: 1 }, { productId: unknown, price: 2 }] } });
    expectErrorEnvelope(dup, { status: 400, code: 'VALIDATION_FAILED', url: '/products/prices' });
  });

  it('a batch larger than one chunk runs in several transactions', async () => {
    const { rows } = await t.sql.query<{ id: string }>(
      `INSERT INTO products (id, sku, name, price, currency)
       SELECT gen_random_uuid(), 'BULK-' || g, 'Bulk ' || g, 100, 'EUR' FROM generate_series(1, 1100) g RETURNING id`,
    );
    const res = await t.app.inject({ method: 'PATCH', url: '/products/prices', payload: { updates: rows.map((row) => ({ productId: row.id, price: 150 })) } });
    expect(res.json()).toEqual({ updated: 1100, chunks: 3, notFound: [] });
  });
});
