import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noneMatch, strongEtag } from '../../src/platform/http-cache/http-cache.js';
import { MetricsService } from '../../src/platform/observability/metrics.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createPrincipal } from '../helpers/principals.js';

// HTTP caching (@HttpCache): strong ETag on the exact bytes, If-None-Match -> 304 without a body,
// Cache-Control per route and Vary where the answer depends on a header. The app runs with the
// in-process cache only (REDIS_URL cleared), which also proves single-flight without Redis.
describe('HTTP caching', () => {
  let t: TestApp;
  let userId: string;
  beforeAll(async () => {
    t = await startTestApp({ REDIS_URL: '' });
    const created = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'etag@http-cache.test', name: 'Etag' } });
    userId = created.json<{ id: string }>().id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /users/:id: strong ETag, private no-cache, Vary Authorization; If-None-Match gives 304 with no body', async () => {
    const first = await t.app.inject({ method: 'GET', url: `/users/${userId}` });
    expect(first.statusCode).toBe(200);
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(etag).toBe(strongEtag(first.body));
    expect(first.headers['cache-control']).toBe('private, no-cache');
    expect(first.headers.vary).toBe('Authorization');

    const revalidated = await t.app.inject({ method: 'GET', url: `/users/${userId}`, headers: { ...t.admin.headers, 'if-none-match': etag } });
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.body).toBe('');
    expect(revalidated.headers.etag).toBe(etag);
    expect(revalidated.headers['cache-control']).toBe('private, no-cache');
    expect(revalidated.headers.vary).toBe('Authorization');
    expect(revalidated.headers['content-type']).toBeUndefined();
    // Weak comparison for If-None-Match: a W/ form and a list match too; * matches any.
    for (const header of [`W/${etag}`, `"other", ${etag}`, '*']) {
      expect((await t.app.inject({ method: 'GET', url: `/users/${userId}`, headers: { ...t.admin.headers, 'if-none-match': header } })).statusCode).toBe(304);
    }
    expect((await t.app.inject({ method: 'GET', url: `/users/${userId}`, headers: { ...t.admin.headers, 'if-none-match': '"other"' } })).statusCode).toBe(200);
  });

  it('a change to the user changes its ETag, and the old one no longer gives 304', async () => {
    const before = await t.app.inject({ method: 'GET', url: `/users/${userId}` });
    const oldEtag = before.headers.etag as string;
    expect((await t.app.inject({ method: 'PATCH', url: `/users/${userId}`, payload: { name: 'Etag Changed' } })).statusCode).toBe(200);
    const after = await t.app.inject({ method: 'GET', url: `/users/${userId}`, headers: { ...t.admin.headers, 'if-none-match': oldEtag } });
    expect(after.statusCode).toBe(200);
    expect(after.json<{ name: string }>().name).toBe('Etag Changed');
    expect(after.headers.etag).not.toBe(oldEtag);
  });

  it('errors carry no ETag and are never 304', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/users/01900000-0000-7000-8000-000000000000', headers: { ...t.admin.headers, 'if-none-match': '*' } });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers.etag).toBeUndefined();
    expect(missing.json<{ error: { code: string } }>().error.code).toBe('USER_NOT_FOUND');
    const anonymous = await t.anonymous({ method: 'GET', url: `/users/${userId}`, headers: { 'if-none-match': '*' } });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers.etag).toBeUndefined();
  });

  it('the list and the email lookup are private too; the public key set is public with max-age', async () => {
    const list = await t.app.inject({ method: 'GET', url: '/users?limit=5' });
    expect(list.headers['cache-control']).toBe('private, no-cache');
    expect((await t.app.inject({ method: 'GET', url: '/users?limit=5', headers: { ...t.admin.headers, 'if-none-match': list.headers.etag as string } })).statusCode).toBe(304);
    const lookup = await t.app.inject({ method: 'GET', url: '/users/lookup?email=ETAG@http-cache.test' });
    expect(lookup.statusCode).toBe(200);
    expect(lookup.json<{ id: string }>().id).toBe(userId);
    expect(lookup.headers['cache-control']).toBe('private, no-cache');
    const jwks = await t.anonymous({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(jwks.headers['cache-control']).toBe('public, max-age=300');
    expect(jwks.headers.vary).toBeUndefined();
    expect((await t.anonymous({ method: 'GET', url: '/.well-known/jwks.json', headers: { 'if-none-match': jwks.headers.etag as string } })).statusCode).toBe(304);
    // Tokens are never stored anywhere, and get no validator.
    const login = await t.anonymous({ method: 'POST', url: '/auth/login', payload: { email: 'nobody@http-cache.test', password: 'wrong password 123' } });
    expect(login.headers.etag).toBeUndefined();
  });

  it('the same body for another caller has the same ETag; what that caller may not see is still refused', async () => {
    const other = await createPrincipal(t.app, t.sql, { role: 'user' });
    const own = await t.app.inject({ method: 'GET', url: `/users/${other.id}`, headers: other.headers });
    expect(own.statusCode).toBe(200);
    const asAdmin = await t.app.inject({ method: 'GET', url: `/users/${other.id}` });
    expect(asAdmin.headers.etag).toBe(own.headers.etag);
    // The cached user does not bypass the access decision: a plain user may not read the admin.
    const refused = await t.app.inject({ method: 'GET', url: `/users/${t.admin.id}`, headers: { ...other.headers, 'if-none-match': '*' } });
    expect(refused.statusCode).toBe(403);
  });

  it('without Redis, 1,000 concurrent requests for one cold user read the database once (single-flight)', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'cold@http-cache.test', name: 'Cold' } });
    const id = created.json<{ id: string }>().id;
    const loads = async () => {
      const metric = t.app.get(MetricsService).registry.getSingleMetric('cache_loads_total') as Counter;
      return (await metric.get()).values.filter((value) => value.labels.namespace === 'user').reduce((sum, value) => sum + value.value, 0);
    };
    const before = await loads();
    const responses = await Promise.all(Array.from({ length: 1000 }, () => t.app.inject({ method: 'GET', url: `/users/${id}` })));
    expect(responses.filter((res) => res.statusCode !== 200)).toEqual([]);
    expect((await loads()) - before).toBe(1);
  });
});

describe('If-None-Match matching', () => {
  it('uses the weak comparison and understands lists and *', () => {
    expect(noneMatch(undefined, '"a"')).toBe(false);
    expect(noneMatch('"a"', '"a"')).toBe(true);
    expect(noneMatch('W/"a"', '"a"')).toBe(true);
    expect(noneMatch('"b", W/"a"', '"a"')).toBe(true);
    expect(noneMatch(' * ', '"a"')).toBe(true);
    expect(noneMatch('"b"', '"a"')).toBe(false);
  });
});
