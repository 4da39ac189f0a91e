import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/platform/config/config.schema.js';
import type { DatabaseService } from '../../src/platform/database/database.service.js';
import type { Database } from '../../src/platform/database/database.types.js';
import { JobsService } from '../../src/platform/jobs/jobs.service.js';
import { MetricsService } from '../../src/platform/observability/metrics.js';
import { createTestDatabase, dropTestDatabase } from './database.js';

export { waitFor } from './wait.js';

export interface QueueDriverCase {
  driver: 'pgboss' | 'bullmq';
  /** What selects the driver (and for BullMQ its Redis and a key prefix of this run's own). */
  env: Record<string, string>;
  /** Why the case cannot run here; tests show it as skipped. */
  skip?: string;
}

/**
 * The queue drivers a test runs on: pg-boss always, BullMQ on the machine's Redis (REDIS_URL; .ci/run
 * sets it), under a fresh key prefix the test deletes at the end.
 */
export function queueDriverCases(): QueueDriverCase[] {
  const redisUrl = process.env.REDIS_URL;
  return [
    { driver: 'pgboss', env: { QUEUE_DRIVER: 'pgboss' } },
    {
      driver: 'bullmq',
      env: { QUEUE_DRIVER: 'bullmq', REDIS_URL: redisUrl ?? 'redis://unset', BULLMQ_PREFIX: uniquePrefix() },
      ...(redisUrl === undefined && { skip: 'REDIS_URL is unset' }),
    },
  ];
}

/** A unique BullMQ prefix for one test run, so runs sharing the machine's Redis never meet. */
export function uniquePrefix(): string {
  return `gw-test-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under `prefix` (SCAN, never KEYS or FLUSHDB: the Redis is shared). */
export async function deleteRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface JobsHarness {
  jobs: JobsService;
  db: Kysely<Database>;
  metrics: MetricsService;
  close(): Promise<void>;
}

/**
 * A JobsService on its own test database, outside the Nest app, with the given driver: what the
 * contract suite runs against. Workers start with start().
 */
export async function startJobsHarness(env: Record<string, string>): Promise<JobsHarness> {
  const url = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent', JOB_HEARTBEAT_SECONDS: '10', SHUTDOWN_GRACE_MS: '5000', ...env });
  const database = { db, connectionString: url } as unknown as DatabaseService;
  const metrics = new MetricsService();
  const jobs = new JobsService(config, pino({ level: 'silent' }), database, metrics);
  await jobs.onModuleInit();
  return {
    jobs,
    db,
    metrics,
    async close() {
      await jobs.beforeApplicationShutdown();
      await jobs.onApplicationShutdown();
      await db.destroy();
      await dropTestDatabase(url);
    },
  };
}
