import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheService, cacheKeyspace } from '../../src/platform/cache/cache.service.js';
import { loadConfig } from '../../src/platform/config/config.schema.js';
import { MetricsService } from '../../src/platform/observability/metrics.js';

// The cache port on its own: L1, single-flight, negative entries, versioned keys and, against a
// real Redis, the cross-replica lock, invalidation by key and tag over pub/sub, and the
// generation check that keeps a load racing an invalidation out of the cache.
const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) console.warn('[test] SKIPPED cache port on Redis (two replicas, lock, pub/sub): REDIS_URL is not set');

const logger = pino({ level: 'silent' });

async function startCache(env: Record<string, string> = {}): Promise<{ cache: CacheService; metrics: MetricsService }> {
  const metrics = new MetricsService();
  const cache = new CacheService(loadConfig(env), logger, metrics);
  await cache.onModuleInit();
  await cache.ready();
  return { cache, metrics };
}

async function counterValue(metrics: MetricsService, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name) as Counter | undefined;
  const values = (await metric?.get())?.values ?? [];
  return values.filter((value) => Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted)).reduce((sum, value) => sum + value.value, 0);
}

/** A load the test finishes when it wants, counting how often it ran. */
function controllableLoad<T>(value: T): { load: () => Promise<T>; calls: () => number; release: () => void } {
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    load: async () => {
      calls += 1;
      await gate;
      return value;
    },
    calls: () => calls,
    release: () => release(),
  };
}

const space = cacheKeyspace('thing', 1);

describe('cache port in one process (no Redis)', () => {
  let cache: CacheService;
  let metrics: MetricsService;
  beforeAll(async () => {
    ({ cache, metrics } = await startCache({ CACHE_L1_MAX_ENTRIES: '3' }));
  });
  afterAll(async () => {
    await cache?.onApplicationShutdown();
  });

  it('shares one load among concurrent misses for a key (single-flight) and serves hits from L1', async () => {
    const key = space.key('single-flight');
    const gate = controllableLoad({ name: 'one' });
    const readers = Array.from({ length: 500 }, () => cache.get(key, gate.load));
    gate.release();
    const values = await Promise.all(readers);
    expect(gate.calls()).toBe(1);
    expect(new Set(values.map((value) => value?.name))).toEqual(new Set(['one']));
    expect(await cache.get(key, () => Promise.resolve({ name: 'two' }))).toEqual({ name: 'one' });
    expect(await counterValue(metrics, 'cache_requests_total', { namespace: 'thing', layer: 'l1', result: 'hit' })).toBeGreaterThanOrEqual(1);
  });

  it('caches "not found" too, and hands out frozen values', async () => {
    const key = space.key('absent');
    let calls = 0;
    const load = () => {
      calls += 1;
      return Promise.resolve(undefined as { name: string } | undefined);
    };
    expect(await cache.get(key, load)).toBeUndefined();
    expect(await cache.get(key, load)).toBeUndefined();
    expect(calls).toBe(1);
    const value = await cache.get(space.key('frozen'), () => Promise.resolve({ nested: { n: 1 } }));
    expect(Object.isFrozen(value) && Object.isFrozen(value?.nested)).toBe(true);
  });

  it('puts the shape version in the key, so a new version never reads an old entry', async () => {
    expect(cacheKeyspace('thing', 1).key('a')).toBe('thing:v1:a');
    await cache.get(cacheKeyspace('thing', 1).key('versioned'), () => Promise.resolve({ shape: 'old' }));
    expect(await cache.get(cacheKeyspace('thing', 2).key('versioned'), () => Promise.resolve({ shape: 'new' }))).toEqual({ shape: 'new' });
  });

  it('drops by key and by tag, and is bounded by entries', async () => {
    await cache.get(space.key('t1'), () => Promise.resolve('a'), { tags: ['group'] });
    await cache.get(space.key('t2'), () => Promise.resolve('b'), { tags: ['group'] });
    await cache.invalidate({ tags: ['group'] });
    expect(await cache.get(space.key('t1'), () => Promise.resolve('a2'))).toBe('a2');
    await cache.invalidate({ keys: [space.key('t1')] });
    expect(await cache.get(space.key('t1'), () => Promise.resolve('a3'))).toBe('a3');
    // CACHE_L1_MAX_ENTRIES=3: three more entries push t1 out.
    for (const name of ['e1', 'e2', 'e3']) await cache.get(space.key(name), () => Promise.resolve(name));
    expect(await cache.get(space.key('t1'), () => Promise.resolve('evicted'))).toBe('evicted');
  });

  it('does not keep a value whose load raced an invalidation of its key', async () => {
    const key = space.key('race-local');
    const gate = controllableLoad('old row');
    const reading = cache.get(key, gate.load);
    await cache.invalidate({ keys: [key] });
    gate.release();
    expect(await reading).toBe('old row');
    expect(await cache.get(key, () => Promise.resolve('new row'))).toBe('new row');
  });
});

describe.skipIf(!REDIS_URL)('cache port on Redis (two replicas)', () => {
  const prefix = `gw-test:cache-port:${randomBytes(6).toString('hex')}`;
  // Generous Redis timeout and lock expiry: on a loaded machine a slow reply must not turn into a
  // second load, which is what these tests count.
  const env = { REDIS_URL: REDIS_URL ?? '', CACHE_KEY_PREFIX: prefix, CACHE_LOCK_WAIT_MS: '3000', CACHE_LOCK_TTL_MS: '30000', CACHE_REDIS_TIMEOUT_MS: '5000' };
  let a: { cache: CacheService; metrics: MetricsService };
  let b: { cache: CacheService; metrics: MetricsService };
  let redis: Redis;
  beforeAll(async () => {
    [a, b] = await Promise.all([startCache(env), startCache(env)]);
    redis = new Redis(REDIS_URL ?? '');
  });
  afterAll(async () => {
    await Promise.all([a?.cache.onApplicationShutdown(), b?.cache.onApplicationShutdown()]);
    await redis?.quit();
  });

  it('reports Redis up', () => {
    expect(a.cache.health()).toEqual({ redis: 'up', circuit: 'closed' });
  });

  it('loads once across replicas: one holds the Redis lock, the other waits and reads its value', async () => {
    const key = space.key('stampede');
    const gate = controllableLoad({ loaded: true });
    const readers = [...Array.from({ length: 200 }, () => a.cache.get(key, gate.load)), ...Array.from({ length: 200 }, () => b.cache.get(key, gate.load))];
    // Let both replicas reach the lock before the load finishes.
    await sleep(100);
    gate.release();
    const values = await Promise.all(readers);
    expect(gate.calls()).toBe(1);
    expect(values.every((value) => value?.loaded === true)).toBe(true);
    const waited = (await counterValue(a.metrics, 'cache_lock_waits_total', { outcome: 'value' })) + (await counterValue(b.metrics, 'cache_lock_waits_total', { outcome: 'value' }));
    expect(waited).toBe(1);
    // The lock is released by its owner.
    expect(await redis.exists(`${prefix}:${key}#lock`)).toBe(0);
  });

  it('waits only CACHE_LOCK_WAIT_MS for a lock whose holder never answers, then loads', async () => {
    const key = space.key('stuck-lock');
    await redis.set(`${prefix}:${key}#lock`, 'someone-else', 'PX', 60_000);
    expect(await b.cache.get(key, () => Promise.resolve('loaded anyway'))).toBe('loaded anyway');
    expect(await counterValue(b.metrics, 'cache_lock_waits_total', { outcome: 'timeout' })).toBe(1);
    // Not ours: left in place.
    expect(await redis.get(`${prefix}:${key}#lock`)).toBe('someone-else');
  });

  it('takes the lock over when its holder gives up without a value (its load failed)', async () => {
    const key = space.key('abandoned-lock');
    await redis.set(`${prefix}:${key}#lock`, 'failed-loader', 'PX', 60_000);
    const reading = a.cache.get(key, () => Promise.resolve('loaded by the next in line'));
    await sleep(50);
    await redis.del(`${prefix}:${key}#lock`);
    expect(await reading).toBe('loaded by the next in line');
    expect(await counterValue(a.metrics, 'cache_lock_waits_total', { outcome: 'acquired' })).toBe(1);
    expect(await redis.exists(`${prefix}:${key}#lock`)).toBe(0);
    expect(await redis.get(`${prefix}:${key}`)).toBe('"loaded by the next in line"');
  });

  it('an invalidation on one replica drops the entry from the other replica too (pub/sub), by key and by tag', async () => {
    const key = space.key('shared');
    await a.cache.get(key, () => Promise.resolve('v1'), { tags: ['shared-tag'] });
    expect(await b.cache.get(key, () => Promise.resolve('never'))).toBe('v1');
    await a.cache.invalidate({ keys: [key] });
    await expectEventually(async () => (await b.cache.get(key, () => Promise.resolve('v2'), { tags: ['shared-tag'] })) === 'v2');
    expect(await a.cache.get(key, () => Promise.resolve('stale'))).toBe('v2');

    await b.cache.invalidate({ tags: ['shared-tag'] });
    expect(await redis.exists(`${prefix}:${key}`, `${prefix}:tag:shared-tag`)).toBe(0);
    await expectEventually(async () => (await a.cache.get(key, () => Promise.resolve('v3'))) === 'v3');
    expect(await counterValue(a.metrics, 'cache_invalidations_total', { source: 'remote' })).toBeGreaterThanOrEqual(1);
  });

  it('keeps a value loaded before an invalidation out of Redis (generation check)', async () => {
    const key = space.key('race-redis');
    const gate = controllableLoad('old row');
    const reading = a.cache.get(key, gate.load);
    await sleep(20);
    await b.cache.invalidate({ keys: [key] });
    gate.release();
    expect(await reading).toBe('old row');
    expect(await redis.get(`${prefix}:${key}`)).toBeNull();
    expect(await b.cache.get(key, () => Promise.resolve('new row'))).toBe('new row');
  });

  it('stores negative entries in Redis for their own short TTL', async () => {
    const key = space.key('negative');
    expect(await a.cache.get(key, () => Promise.resolve(undefined), { negativeTtlSeconds: 7 })).toBeUndefined();
    expect(await redis.get(`${prefix}:${key}`)).toBe('null');
    const ttl = await redis.pttl(`${prefix}:${key}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(7000);
    expect(await b.cache.get(key, () => Promise.resolve('not asked'))).toBeUndefined();
  });
});

async function expectEventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error('condition not met in time');
}
