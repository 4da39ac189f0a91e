import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, TimeoutStrategy, circuitBreaker, handleAll, timeout, wrap, type IPolicy } from 'cockatiel';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '../config/config.schema.js';
import { PROCESS_LOGGER } from '../observability/logger.tokens.js';
import { MetricsService } from '../observability/metrics.js';
import { CacheMetrics } from './cache.metrics.js';

type CacheConfig = Pick<
  AppConfig,
  | 'REDIS_URL'
  | 'CACHE_KEY_PREFIX'
  | 'CACHE_TTL_SECONDS'
  | 'CACHE_NEGATIVE_TTL_SECONDS'
  | 'CACHE_L1_TTL_SECONDS'
  | 'CACHE_L1_MAX_ENTRIES'
  | 'CACHE_L1_MAX_BYTES'
  | 'CACHE_LOCK_TTL_MS'
  | 'CACHE_LOCK_WAIT_MS'
  | 'CACHE_REDIS_TIMEOUT_MS'
  | 'CACHE_BREAKER_THRESHOLD'
  | 'CACHE_BREAKER_HALF_OPEN_MS'
>;

/** A family of keys whose values share one shape. Bump `version` whenever that shape changes. */
export interface CacheKeyspace {
  /** `name:v<version>:<parts joined by :>`; the name is the metrics' `namespace` label. */
  key(...parts: string[]): string;
}

/** Keys carry the shape's version, so a deploy that changes a shape never reads old entries. */
export function cacheKeyspace(name: string, version: number): CacheKeyspace {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`cache keyspace name must be lower-case: ${name}`);
  const head = `${name}:v${version}`;
  return { key: (...parts) => `${head}:${parts.join(':')}` };
}

export interface CacheGetOptions<T> {
  /** Lifetime in Redis; CACHE_TTL_SECONDS when omitted. L1 keeps it at most CACHE_L1_TTL_SECONDS. */
  ttlSeconds?: number;
  /** Lifetime of a "not found" (load returned undefined); CACHE_NEGATIVE_TTL_SECONDS when omitted, 0 stores nothing. */
  negativeTtlSeconds?: number;
  /** Tags to drop this entry by (invalidate({ tags })); may depend on the loaded value. */
  tags?: readonly string[] | ((value: T) => readonly string[]);
}

export interface CacheHealth {
  /** `disabled` without REDIS_URL; `degraded` while Redis is unreachable or the breaker is open. */
  redis: 'disabled' | 'up' | 'degraded';
  circuit: 'closed' | 'open' | 'half-open';
}

/** What L1 holds: the value (null for a cached "not found"), frozen because hits share it. */
interface L1Entry {
  value: unknown;
  tags: readonly string[];
}

/**
 * An L2 read: the value (and its JSON) when present; else the key's generation and whether this
 * replica now holds the load lock.
 */
type L2Read = { hit: true; value: unknown; json: string } | { hit: false; generation: string; locked: boolean };

const FAILED = Symbol('redis-failed');
const NOT_FOUND = null;

/**
 * Reads the value; on a miss reads the key's generation and tries to take the load lock, all in
 * one round trip (atomic, so no replica can store the value between our read and our lock).
 * KEYS: value, generation, lock.  ARGV: lock token, lock ttl ms.
 * Returns {json} on a hit, {false, generation, 1 if locked else 0} on a miss.
 */
const READ_OR_LOCK_SCRIPT = `
local value = redis.call('GET', KEYS[1])
if value then return {value} end
local generation = redis.call('GET', KEYS[2]) or ''
if redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2], 'NX') then return {false, generation, 1} end
return {false, generation, 0}`;

/**
 * SETs the value only if the key's generation is still the one read before the load: an
 * invalidation in between (INCR of the generation) means the loaded row may predate the write that
 * caused it, and storing it would serve the old row until the TTL. Then releases the load lock if
 * this replica owns it, in the same round trip.
 * KEYS: value, generation, lock, tags...  ARGV: expected generation, json, ttl ms, '1' to skip the
 * generation check, lock token ('' when not holding it).
 */
const WRITE_SCRIPT = `
local stored = 0
local current = redis.call('GET', KEYS[2]) or ''
if ARGV[4] == '1' or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  for i = 4, #KEYS do
    redis.call('SADD', KEYS[i], KEYS[1])
    if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
  end
  stored = 1
end
if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) == ARGV[5] then redis.call('DEL', KEYS[3]) end
return stored`;

/**
 * Drops keys and every key of the given tags, bumping each key's generation so a load already in
 * flight does not store its (possibly old) value afterwards. Tags are sets of keys: no KEYS scan.
 * KEYS: value keys..., then tag keys (ARGV[2] of them).  ARGV: generation ttl ms, tag count.
 * Returns the keys the tags held, so the message to other replicas can name them.
 */
const INVALIDATE_SCRIPT = `
local tagCount = tonumber(ARGV[2])
local valueCount = #KEYS - tagCount
local function drop(key)
  redis.call('DEL', key)
  redis.call('INCR', key .. '#gen')
  redis.call('PEXPIRE', key .. '#gen', ARGV[1])
end
for i = 1, valueCount do drop(KEYS[i]) end
local members = {}
for i = valueCount + 1, #KEYS do
  for _, member in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    drop(member)
    members[#members + 1] = member
  end
  redis.call('DEL', KEYS[i])
end
return members`;

/** Deletes the lock only if this replica still owns it (its token), never another's. */
const UNLOCK_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Defined on the connection once; ioredis then sends EVALSHA, not the script text, per call. */
const SCRIPTS = {
  cacheReadOrLock: READ_OR_LOCK_SCRIPT,
  cacheWrite: WRITE_SCRIPT,
  cacheInvalidate: INVALIDATE_SCRIPT,
  cacheUnlock: UNLOCK_SCRIPT,
} as const;

/**
 * Two-tier cache: an in-process LRU (L1, bounded by entries and bytes) in front of Redis (L2, when
 * REDIS_URL is set), with stampede protection at both levels, invalidation by key and tag that
 * reaches every replica over pub/sub, and a circuit breaker so a sick Redis never fails a request.
 * See docs/guidelines/caching.md and ADR 0008.
 */
@Injectable()
export class CacheService implements OnModuleInit, OnApplicationShutdown {
  private readonly config: CacheConfig;
  private readonly metrics: CacheMetrics;
  private readonly l1: LRUCache<string, L1Entry>;
  /** Tag -> L1 keys carrying it, so a tag drops its L1 entries without scanning. */
  private readonly l1Tags = new Map<string, Set<string>>();
  /** One load per key in this process (single-flight). */
  private readonly inflight = new Map<string, Promise<unknown>>();
  /**
   * When each key (or tag) was last invalidated in this process, by a counter: a load that started
   * before an invalidation of its key does not put its value into L1. Bounded and short-lived: it
   * only has to outlive loads in flight.
   */
  private readonly invalidatedAt: LRUCache<string, number>;
  private invalidationCounter = 0;
  /** Identifies this replica's own pub/sub messages. */
  private readonly instanceId = randomUUID();
  private readonly redis: Redis | undefined;
  private readonly subscriber: Redis | undefined;
  private readonly policy: IPolicy | undefined;
  private readonly breaker: ReturnType<typeof circuitBreaker> | undefined;
  /** Invalidations Redis did not take while it was unreachable; replayed when it is back. */
  private readonly pendingKeys = new Set<string>();
  private readonly pendingTags = new Set<string>();
  private redisWarned = false;
  private subscribedOnce = false;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(PROCESS_LOGGER) private readonly logger: Logger,
    metrics: MetricsService,
  ) {
    this.config = config;
    this.metrics = new CacheMetrics(metrics.registry);
    this.l1 = new LRUCache<string, L1Entry>({
      max: config.CACHE_L1_MAX_ENTRIES,
      maxSize: config.CACHE_L1_MAX_BYTES,
      // The size is given at set() (the serialized length); this is only the fallback.
      sizeCalculation: () => 1,
      ttl: config.CACHE_L1_TTL_SECONDS * 1000,
      // Expiry is checked on read; no timers per entry.
      ttlAutopurge: false,
      dispose: (entry, key) => this.forgetTags(key, entry.tags),
    });
    this.invalidatedAt = new LRUCache<string, number>({ max: 100_000, ttl: 60_000 });
    if (config.REDIS_URL === undefined) return;

    const options = {
      // A command while disconnected fails at once instead of queueing behind a dead connection.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectionName: 'groundwork-cache',
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
    };
    this.redis = new Redis(config.REDIS_URL, options);
    // Key counts vary (tags), so each call passes its number of keys first.
    for (const [name, lua] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { lua });
    // The subscriber queues its SUBSCRIBE until connected and re-subscribes after a reconnect.
    this.subscriber = new Redis(config.REDIS_URL, { ...options, enableOfflineQueue: true, maxRetriesPerRequest: null, connectionName: 'groundwork-cache-sub' });
    // The message only: an error object can carry the URL, which may hold a password.
    const onError = (error: Error) => {
      if (this.redisWarned) return;
      this.redisWarned = true;
      this.logger.warn({ component: 'cache', reason: error.message }, 'Redis cache unreachable; serving from L1 and the database');
    };
    this.redis.on('error', onError);
    this.subscriber.on('error', onError);
    this.redis.on('ready', () => {
      if (this.redisWarned) this.logger.info({ component: 'cache' }, 'Redis cache reachable again');
      this.redisWarned = false;
      void this.replayPending();
    });
    this.subscriber.on('ready', () => {
      // Messages sent while this replica was disconnected are lost; its L1 may hold what they dropped.
      if (this.subscribedOnce) this.l1.clear();
    });
    this.subscriber.on('message', (_channel: string, message: string) => this.onRemoteInvalidation(message));

    const breaker = circuitBreaker(handleAll, {
      halfOpenAfter: config.CACHE_BREAKER_HALF_OPEN_MS,
      breaker: new ConsecutiveBreaker(config.CACHE_BREAKER_THRESHOLD),
    });
    let open = false;
    breaker.onBreak(() => {
      this.metrics.breakerState.set(1);
      // Once per outage: a failed trial re-opens it every CACHE_BREAKER_HALF_OPEN_MS.
      if (!open) this.logger.warn({ component: 'cache' }, 'Redis cache circuit opened; Redis is skipped until a trial command succeeds');
      open = true;
    });
    breaker.onHalfOpen(() => this.metrics.breakerState.set(2));
    breaker.onReset(() => {
      open = false;
      this.metrics.breakerState.set(0);
      this.logger.info({ component: 'cache' }, 'Redis cache circuit closed');
      void this.replayPending();
    });
    this.breaker = breaker;
    // Aggressive: a hung command is abandoned at the deadline and counted as a failure.
    this.policy = wrap(breaker, timeout(config.CACHE_REDIS_TIMEOUT_MS, TimeoutStrategy.Aggressive));
  }

  /** Subscribes to invalidations; waits briefly for Redis so the first requests can use it, never blocks boot for long. */
  async onModuleInit(): Promise<void> {
    if (!this.subscriber || !this.redis) return;
    const subscribed = this.subscriber.subscribe(this.channel).then(() => {
      this.subscribedOnce = true;
    });
    subscribed.catch(() => undefined);
    await Promise.race([Promise.all([subscribed, this.connected(this.redis)]), sleep(2000)]).catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    const close = async (client: Redis | undefined): Promise<void> => {
      if (!client || client.status === 'end') return;
      await client.quit().catch(() => client.disconnect());
    };
    await Promise.all([close(this.redis), close(this.subscriber)]);
  }

  /**
   * The value of `key`: from L1, else Redis, else `load()` (stored in both). Concurrent misses in
   * this process share one load; across replicas a Redis lock lets one load while the others wait
   * up to CACHE_LOCK_WAIT_MS for its value. `load` returning undefined means "not found", which is
   * cached for the negative TTL. Redis trouble only ever costs a load, never an error.
   */
  async get<T>(key: string, load: () => Promise<T | undefined>, options: CacheGetOptions<T> = {}): Promise<T | undefined> {
    const namespace = namespaceOf(key);
    const entry = this.l1.get(key);
    if (entry) {
      this.metrics.requests.inc({ namespace, layer: 'l1', result: 'hit' });
      return (entry.value ?? undefined) as T | undefined;
    }
    this.metrics.requests.inc({ namespace, layer: 'l1', result: 'miss' });
    const pending = this.inflight.get(key);
    if (pending) return pending as Promise<T | undefined>;
    const started = this.invalidationCounter;
    const filling = this.fill(key, namespace, load, options, started).finally(() => {
      if (this.inflight.get(key) === filling) this.inflight.delete(key);
    });
    this.inflight.set(key, filling);
    return filling;
  }

  /** Stores a value in both layers (a write-through; prefer invalidate after writes). */
  async set<T>(key: string, value: T | undefined, options: CacheGetOptions<T> = {}): Promise<void> {
    const tags = resolveTags(value, options.tags);
    const ttlMs = this.ttlMs(value, options);
    if (ttlMs === 0) return;
    const json = JSON.stringify(value ?? NOT_FOUND);
    this.setL1(key, value, tags, json.length, this.invalidationCounter);
    if (this.redis) await this.writeL2(key, json, tags, ttlMs, undefined, undefined);
  }

  /**
   * Drops keys and tagged entries everywhere: this process's L1 at once, Redis, and every other
   * replica's L1 through pub/sub. Call it after the writing transaction commits, never before, or
   * a read in between caches the old row again.
   */
  async invalidate(target: { keys?: readonly string[]; tags?: readonly string[] }): Promise<void> {
    const keys = [...new Set(target.keys ?? [])];
    const tags = [...new Set(target.tags ?? [])];
    if (keys.length === 0 && tags.length === 0) return;
    this.dropLocal(keys, tags);
    this.metrics.invalidations.inc({ source: 'local' }, keys.length + tags.length);
    if (!this.redis) return;
    const dropped = await this.dropL2(keys, tags);
    if (dropped === undefined) {
      // Redis still holds these entries; they are dropped when it is reachable again.
      for (const key of keys) this.pendingKeys.add(key);
      for (const tag of tags) this.pendingTags.add(tag);
      this.trimPending();
      return;
    }
    await this.publish([...keys, ...dropped], tags);
  }

  /** Redis state for /health: degraded is not down, the cache then serves from L1 and the database. */
  health(): CacheHealth {
    const circuit = !this.breaker ? 'closed' : this.breaker.state === CircuitState.Open || this.breaker.state === CircuitState.Isolated ? 'open' : this.breaker.state === CircuitState.HalfOpen ? 'half-open' : 'closed';
    if (!this.redis) return { redis: 'disabled', circuit };
    return { redis: this.redis.status === 'ready' && circuit === 'closed' ? 'up' : 'degraded', circuit };
  }

  /** Resolves once Redis is connected and the invalidation channel subscribed (at once without Redis); for tests. */
  async ready(): Promise<void> {
    if (!this.redis || !this.subscriber) return;
    await Promise.all([this.connected(this.redis), this.connected(this.subscriber)]);
    while (!this.subscribedOnce) await sleep(5);
  }

  private get channel(): string {
    return `${this.config.CACHE_KEY_PREFIX}:invalidate`;
  }

  private redisKey(key: string): string {
    return `${this.config.CACHE_KEY_PREFIX}:${key}`;
  }

  private tagKey(tag: string): string {
    return `${this.config.CACHE_KEY_PREFIX}:tag:${tag}`;
  }

  private async fill<T>(key: string, namespace: string, load: () => Promise<T | undefined>, options: CacheGetOptions<T>, started: number): Promise<T | undefined> {
    if (!this.redis) return this.loadAndStore(key, namespace, load, options, started, undefined, undefined);
    const token = randomUUID();
    const waitStarted = performance.now();
    let waited = false;
    // Another replica holding the lock is loading: poll for its value (5 ms doubling to 50 ms),
    // taking the lock over if it is released without one, for at most CACHE_LOCK_WAIT_MS.
    for (let pause = 5; ; pause = Math.min(pause * 2, 50)) {
      const read = await this.readOrLock(key, namespace, token, !waited);
      if (read === FAILED) return this.loadAndStore(key, namespace, load, options, started, undefined, undefined);
      if (read.hit || read.locked) {
        if (waited) this.recordLockWait(namespace, read.hit ? 'value' : 'acquired', waitStarted);
        return read.hit
          ? this.fromL2<T>(key, read.value, read.json, options, started)
          : this.loadAndStore(key, namespace, load, options, started, read.generation, token);
      }
      if (performance.now() - waitStarted >= this.config.CACHE_LOCK_WAIT_MS) {
        this.recordLockWait(namespace, 'timeout', waitStarted);
        return this.loadAndStore(key, namespace, load, options, started, read.generation, undefined);
      }
      waited = true;
      await sleep(pause);
    }
  }

  private recordLockWait(namespace: string, outcome: 'value' | 'acquired' | 'timeout', since: number): void {
    this.metrics.lockWaits.inc({ namespace, outcome });
    this.metrics.lockWaitDuration.observe({ namespace }, (performance.now() - since) / 1000);
  }

  /**
   * Loads from the source and stores the result: L1 always, Redis when `generation` is known (the
   * write is checked against it). Releases the load lock when `lockToken` holds it.
   */
  private async loadAndStore<T>(
    key: string,
    namespace: string,
    load: () => Promise<T | undefined>,
    options: CacheGetOptions<T>,
    started: number,
    generation: string | undefined,
    lockToken: string | undefined,
  ): Promise<T | undefined> {
    const loadStarted = performance.now();
    this.metrics.loads.inc({ namespace });
    let value: T | undefined;
    try {
      value = await load();
    } catch (error) {
      if (lockToken) await this.unlock(key, lockToken);
      throw error;
    }
    this.metrics.loadDuration.observe({ namespace }, (performance.now() - loadStarted) / 1000);
    const ttlMs = this.ttlMs(value, options);
    const tags = ttlMs === 0 ? [] : resolveTags(value, options.tags);
    const json = ttlMs === 0 ? '' : JSON.stringify(value ?? NOT_FOUND);
    const stored = ttlMs === 0 ? undefined : this.setL1(key, value, tags, json.length, started);
    if (!stored || generation === undefined) {
      if (lockToken) await this.unlock(key, lockToken);
      return stored ? (stored.value as T | undefined) : value;
    }
    await this.writeL2(key, json, tags, ttlMs, generation, lockToken);
    return stored.value as T | undefined;
  }

  private fromL2<T>(key: string, value: unknown, json: string, options: CacheGetOptions<T>, started: number): T | undefined {
    const typed = (value ?? undefined) as T | undefined;
    const stored = this.setL1(key, typed, resolveTags(typed, options.tags), json.length, started);
    return (stored ? stored.value : typed) as T | undefined;
  }

  /**
   * Puts a value in L1 unless its key or a tag was invalidated since `started` (the value may then
   * be older than the write). Returns the frozen stored value, or undefined when skipped.
   */
  private setL1(key: string, value: unknown, tags: readonly string[], size: number, started: number): { value: unknown } | undefined {
    if ((this.invalidatedAt.get(key) ?? -1) > started || tags.some((tag) => (this.invalidatedAt.get(`#tag:${tag}`) ?? -1) > started)) return undefined;
    const frozen = deepFreeze(value ?? NOT_FOUND);
    this.l1.set(key, { value: frozen, tags }, { size: Math.max(1, size) });
    for (const tag of tags) {
      let keys = this.l1Tags.get(tag);
      if (!keys) this.l1Tags.set(tag, (keys = new Set()));
      keys.add(key);
    }
    return { value: frozen ?? undefined };
  }

  private forgetTags(key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.l1Tags.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.l1Tags.delete(tag);
    }
  }

  private dropLocal(keys: readonly string[], tags: readonly string[]): void {
    const mark = ++this.invalidationCounter;
    for (const key of keys) {
      this.invalidatedAt.set(key, mark);
      this.l1.delete(key);
      // A load already in flight may return the old row; later callers must not join it.
      this.inflight.delete(key);
    }
    for (const tag of tags) {
      this.invalidatedAt.set(`#tag:${tag}`, mark);
      for (const key of [...(this.l1Tags.get(tag) ?? [])]) {
        this.invalidatedAt.set(key, mark);
        this.l1.delete(key);
        this.inflight.delete(key);
      }
      this.l1Tags.delete(tag);
    }
  }

  private onRemoteInvalidation(message: string): void {
    let parsed: { o?: unknown; k?: unknown; t?: unknown };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.o === this.instanceId) return;
    const strings = (list: unknown): string[] => (Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : []);
    const keys = strings(parsed.k);
    const tags = strings(parsed.t);
    this.dropLocal(keys, tags);
    this.metrics.invalidations.inc({ source: 'remote' }, keys.length + tags.length);
  }

  private async readOrLock(key: string, namespace: string, token: string, count: boolean): Promise<L2Read | typeof FAILED> {
    const full = this.redisKey(key);
    const result = await this.call('get', (redis) => this.script(redis, 'cacheReadOrLock', 3, full, `${full}#gen`, `${full}#lock`, token, this.config.CACHE_LOCK_TTL_MS));
    if (result === FAILED) return FAILED;
    const [json, generation, locked] = result as [string | null, string?, number?];
    if (typeof json === 'string') {
      try {
        const value = JSON.parse(json) as unknown;
        if (count) this.metrics.requests.inc({ namespace, layer: 'l2', result: 'hit' });
        return { hit: true, value, json };
      } catch {
        // Not ours (a foreign writer under our prefix): a miss; loading overwrites it.
        return { hit: false, generation: '', locked: false };
      }
    }
    if (count) this.metrics.requests.inc({ namespace, layer: 'l2', result: 'miss' });
    return { hit: false, generation: generation ?? '', locked: locked === 1 };
  }

  private async writeL2(key: string, json: string, tags: readonly string[], ttlMs: number, generation: string | undefined, lockToken: string | undefined): Promise<void> {
    const full = this.redisKey(key);
    // Without a generation (a plain set(), no load raced with it) the check is skipped.
    const args = [generation ?? '', json, ttlMs, generation === undefined ? '1' : '0', lockToken ?? ''];
    await this.call('set', (redis) => this.script(redis, 'cacheWrite', 3 + tags.length, full, `${full}#gen`, `${full}#lock`, ...tags.map((tag) => this.tagKey(tag)), ...args));
  }

  private async unlock(key: string, token: string): Promise<void> {
    await this.call('unlock', (redis) => this.script(redis, 'cacheUnlock', 1, `${this.redisKey(key)}#lock`, token));
  }

  /** Runs one of the scripts defined at construction (EVALSHA, falling back to EVAL once per connection). */
  private script(redis: Redis, name: keyof typeof SCRIPTS, ...args: Array<string | number>): Promise<unknown> {
    return (redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[name]!(...args);
  }

  /** Tells the other replicas to drop these keys and tags from their L1. */
  private async publish(keys: readonly string[], tags: readonly string[]): Promise<void> {
    await this.call('publish', (redis) => redis.publish(this.channel, JSON.stringify({ o: this.instanceId, k: keys, t: tags })));
  }

  /** Drops the keys and tags in Redis; the cache keys the tags held, or undefined when Redis failed. */
  private async dropL2(keys: readonly string[], tags: readonly string[]): Promise<string[] | undefined> {
    // The generation outlives any load that could be racing: loads are bounded by the statement timeout.
    const generationTtlMs = Math.max(60_000, this.config.CACHE_LOCK_TTL_MS * 2);
    const result = await this.call('invalidate', (redis) =>
      this.script(redis, 'cacheInvalidate', keys.length + tags.length, ...keys.map((key) => this.redisKey(key)), ...tags.map((tag) => this.tagKey(tag)), generationTtlMs, tags.length),
    );
    if (result === FAILED) return undefined;
    const head = `${this.config.CACHE_KEY_PREFIX}:`;
    return (result as string[]).map((member) => (member.startsWith(head) ? member.slice(head.length) : member));
  }

  private async replayPending(): Promise<void> {
    if (this.pendingKeys.size === 0 && this.pendingTags.size === 0) return;
    const keys = [...this.pendingKeys];
    const tags = [...this.pendingTags];
    this.pendingKeys.clear();
    this.pendingTags.clear();
    const dropped = await this.dropL2(keys, tags);
    if (dropped !== undefined) {
      await this.publish([...keys, ...dropped], tags);
      return;
    }
    for (const key of keys) this.pendingKeys.add(key);
    for (const tag of tags) this.pendingTags.add(tag);
  }

  /** Keeps the replay list bounded; entries beyond it are left to expire with their TTL. */
  private trimPending(): void {
    const limit = 10_000;
    if (this.pendingKeys.size + this.pendingTags.size <= limit) return;
    this.logger.error({ component: 'cache', pending: this.pendingKeys.size + this.pendingTags.size }, 'too many invalidations waiting for Redis; the oldest are dropped and expire with their TTL');
    for (const key of this.pendingKeys) {
      if (this.pendingKeys.size + this.pendingTags.size <= limit) break;
      this.pendingKeys.delete(key);
    }
  }

  /** Runs one Redis command through the timeout and circuit breaker; FAILED instead of throwing. */
  private async call<R>(operation: string, command: (redis: Redis) => Promise<R>): Promise<R | typeof FAILED> {
    const redis = this.redis;
    const policy = this.policy;
    if (!redis || !policy) return FAILED;
    try {
      return await policy.execute(() => command(redis));
    } catch (error) {
      this.metrics.redisErrors.inc({ operation });
      if (!(error instanceof BrokenCircuitError)) this.logger.debug({ component: 'cache', operation, reason: error instanceof Error ? error.message : String(error) }, 'Redis cache command failed');
      return FAILED;
    }
  }

  private ttlMs<T>(value: T | undefined, options: CacheGetOptions<T>): number {
    const seconds = value === undefined ? (options.negativeTtlSeconds ?? this.config.CACHE_NEGATIVE_TTL_SECONDS) : (options.ttlSeconds ?? this.config.CACHE_TTL_SECONDS);
    return Math.max(0, Math.round(seconds * 1000));
  }

  private connected(client: Redis): Promise<void> {
    if (client.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => client.once('ready', () => resolve()));
  }
}

function namespaceOf(key: string): string {
  const end = key.indexOf(':');
  return end === -1 ? key : key.slice(0, end);
}

function resolveTags<T>(value: T | undefined, tags: CacheGetOptions<T>['tags']): readonly string[] {
  if (!tags) return [];
  if (typeof tags !== 'function') return tags;
  return value === undefined ? [] : tags(value);
}

/** L1 hands the same object to every hit; freezing it makes an accidental mutation throw instead of leaking. */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}
