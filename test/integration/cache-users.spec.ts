import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsService } from '../../src/platform/observability/metrics.js';
import { CacheService } from '../../src/platform/cache/cache.service.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/wait.js';

// Cached user reads through the real app: two instances (replicas) on one database and one Redis.
// Database loads are counted by the cache's own load counter (cache_loads_total{namespace="user"}),
// which counts every call of the repository read behind the cache.
const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) console.warn('[test] SKIPPED cached users on two replicas: REDIS_URL is not set');

async function counter(app: NestFastifyApplication, name: string, labels: Record<string, string>): Promise<number> {
  const metric = app.get(MetricsService).registry.getSingleMetric(name) as Counter | undefined;
  const values = (await metric?.get())?.values ?? [];
  return values.filter((value) => Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted)).reduce((sum, value) => sum + value.value, 0);
}

function userLoads(app: NestFastifyApplication): Promise<number> {
  return counter(app, 'cache_loads_total', { namespace: 'user' });
}

async function createUser(t: TestApp, email: string, name = 'Cached User'): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: '/users', payload: { email, name } });
  expect(res.statusCode).toBe(201);
  return res.json<{ id: string }>().id;
}

describe.skipIf(!REDIS_URL)('cached users on two replicas sharing Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    // A thousand requests queue their authentication reads on the pool ahead of the one user load,
    // and keep this process's event loop busy: on a loaded machine the load can outlast the default
    // lock (5 s) and wait (1 s), and a Redis reply its 250 ms timeout. Those bounds are generous
    // here so the test is about the lock, not the machine.
    const env = { REDIS_URL: REDIS_URL ?? '', CACHE_LOCK_WAIT_MS: '30000', CACHE_LOCK_TTL_MS: '60000', CACHE_REDIS_TIMEOUT_MS: '10000' };
    a = await startTestApp(env);
    b = await startTestApp(env, { shareDatabaseOf: a });
    await Promise.all([a.app.get(CacheService).ready(), b.app.get(CacheService).ready()]);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('1,000 concurrent requests for one cold user on one instance read the database once', async () => {
    const id = await createUser(a, 'cold-one@cache.test');
    const before = await userLoads(a.app);
    const responses = await Promise.all(Array.from({ length: 1000 }, () => a.app.inject({ method: 'GET', url: `/users/${id}` })));
    expect(responses.filter((res) => res.statusCode !== 200)).toEqual([]);
    expect(new Set(responses.map((res) => res.body)).size).toBe(1);
    expect((await userLoads(a.app)) - before).toBe(1);
  });

  it('1,000 concurrent requests for one cold user across two instances read the database once', async () => {
    const id = await createUser(a, 'cold-two@cache.test');
    const before = (await userLoads(a.app)) + (await userLoads(b.app));
    const responses = await Promise.all(
      Array.from({ length: 1000 }, (_, index) => (index % 2 === 0 ? a : b).app.inject({ method: 'GET', url: `/users/${id}`, headers: a.admin.headers })),
    );
    expect(responses.filter((res) => res.statusCode !== 200)).toEqual([]);
    expect(new Set(responses.map((res) => res.json<{ id: string }>().id))).toEqual(new Set([id]));
    expect((await userLoads(a.app)) + (await userLoads(b.app)) - before).toBe(1);
    // The instance without the lock waited for the value instead of loading.
    expect((await counter(a.app, 'cache_lock_waits_total', { outcome: 'timeout' })) + (await counter(b.app, 'cache_lock_waits_total', { outcome: 'timeout' }))).toBe(0);
    expect((await counter(a.app, 'cache_redis_errors_total', {})) + (await counter(b.app, 'cache_redis_errors_total', {}))).toBe(0);
  });

  it('an update through instance A is what instance B serves on the next read', async () => {
    const id = await createUser(a, 'replicated@cache.test', 'Before');
    // Both instances hold the user in L1 (and Redis holds it in L2).
    expect((await a.app.inject({ method: 'GET', url: `/users/${id}` })).json<{ name: string }>().name).toBe('Before');
    expect((await b.app.inject({ method: 'GET', url: `/users/${id}`, headers: a.admin.headers })).json<{ name: string }>().name).toBe('Before');
    const patched = await a.app.inject({ method: 'PATCH', url: `/users/${id}`, payload: { name: 'After' } });
    expect(patched.statusCode).toBe(200);
    // The invalidation reaches B over pub/sub right after A's commit; B's next read is fresh.
    await waitFor(async () => (await b.app.inject({ method: 'GET', url: `/users/${id}`, headers: a.admin.headers })).json<{ name: string }>().name === 'After', 'the other instance to see the change', 5000);
    expect((await a.app.inject({ method: 'GET', url: `/users/${id}` })).json<{ name: string }>().name).toBe('After');
  });

  it('a delete is seen by the other instance, and the missing user is then cached as not found', async () => {
    const id = await createUser(a, 'deleted@cache.test');
    expect((await b.app.inject({ method: 'GET', url: `/users/${id}`, headers: a.admin.headers })).statusCode).toBe(200);
    expect((await a.app.inject({ method: 'DELETE', url: `/users/${id}` })).statusCode).toBe(204);
    await waitFor(async () => (await b.app.inject({ method: 'GET', url: `/users/${id}`, headers: a.admin.headers })).statusCode === 404, 'the other instance to see the change', 5000);
    const loads = await userLoads(b.app);
    expect((await b.app.inject({ method: 'GET', url: `/users/${id}`, headers: a.admin.headers })).statusCode).toBe(404);
    expect(await userLoads(b.app)).toBe(loads);
  });

  it('looks users up by email through the cache; creating and re-addressing users drop the affected entries', async () => {
    const lookup = (t: TestApp, email: string) => t.app.inject({ method: 'GET', url: `/users/lookup?email=${encodeURIComponent(email)}`, headers: a.admin.headers });
    // Not found, cached as such, until a user with that address is created (on the other instance).
    expect((await lookup(b, 'later@cache.test')).statusCode).toBe(404);
    const loads = await userLoads(b.app);
    expect((await lookup(b, 'LATER@cache.test')).statusCode).toBe(404);
    expect(await userLoads(b.app)).toBe(loads);
    const id = await createUser(a, 'later@cache.test');
    await waitFor(async () => (await lookup(b, 'later@cache.test')).statusCode === 200, 'the other instance to see the change', 5000);
    expect((await lookup(b, 'later@cache.test')).json<{ id: string }>().id).toBe(id);

    // The address moves: the old one stops resolving and the new one resolves, on both instances.
    expect((await a.app.inject({ method: 'PATCH', url: `/users/${id}`, payload: { email: 'moved@cache.test' } })).statusCode).toBe(200);
    await waitFor(async () => (await lookup(b, 'later@cache.test')).statusCode === 404, 'the other instance to see the change', 5000);
    expect((await lookup(b, 'moved@cache.test')).json<{ id: string }>().id).toBe(id);
    expect((await lookup(a, 'later@cache.test')).statusCode).toBe(404);
  });

  it('a login (last_login_at written in the auth transaction) is visible in the user read right after it', async () => {
    const email = 'login@cache.test';
    const password = 'correct horse battery staple 42!';
    const registered = await a.anonymous({ method: 'POST', url: '/auth/register', payload: { email, name: 'Login Cached', password } });
    expect(registered.statusCode).toBe(201);
    const id = registered.json<{ user: { id: string } }>().user.id;
    const before = (await b.app.inject({ method: 'GET', url: `/users/${id}`, headers: a.admin.headers })).json<{ lastLoginAt: string | null }>();
    expect(before.lastLoginAt).toBeNull();
    const login = await a.anonymous({ method: 'POST', url: '/auth/login', payload: { email, password } });
    expect(login.statusCode).toBe(200);
    expect(login.json<{ user: { lastLoginAt: string | null } }>().user.lastLoginAt).not.toBeNull();
    await waitFor(async () => (await b.app.inject({ method: 'GET', url: `/users/${id}`, headers: a.admin.headers })).json<{ lastLoginAt: string | null }>().lastLoginAt !== null, 'the other instance to see the change', 5000);
  });
});
