/**
 * No-op job throughput of each queue driver against the raw library doing the same, in one run:
 *
 *   DATABASE_URL=postgresql://... REDIS_URL=redis://127.0.0.1:6379 npm run bench:jobs -- --jobs 2000
 *
 * For each backend, N jobs are enqueued one by one (timed), then processed by workers of
 * concurrency 10 with a no-op handler (timed until the last one completes). The raw side uses
 * pg-boss / BullMQ directly with the same queue and worker settings (for pg-boss: one worker per
 * slot that wakes itself after each job, as the driver does, so neither side waits out the polling
 * interval while a backlog is left); the driver side is JobsService with the pg-boss or BullMQ
 * driver (derived ids, metrics, processor lookup). DATABASE_URL must name a scratch database
 * (pg-boss installs its schema there; the job tables are migrated). BullMQ runs only when REDIS_URL
 * is set, under a prefix of its own that is deleted at the end.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { PgBoss } from 'pg-boss';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/platform/config/config.schema.js';
import type { DatabaseService } from '../src/platform/database/database.service.js';
import type { Database } from '../src/platform/database/database.types.js';
import { migrateToLatest } from '../src/platform/database/migrator.js';
import { JobsService } from '../src/platform/jobs/jobs.service.js';
import { MetricsService } from '../src/platform/observability/metrics.js';

const CONCURRENCY = 10;

interface Result {
  enqueueMs: number;
  processMs: number;
}

function until(predicate: () => boolean, what: () => string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out: ${what()}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

async function rawPgBoss(url: string, n: number): Promise<Result> {
  const boss = new PgBoss({ connectionString: url, max: 10, useListenNotify: true, schedule: false, schema: 'pgboss_raw_bench' });
  boss.on('error', () => undefined);
  await boss.start();
  const queue = `raw-${randomBytes(4).toString('hex')}`;
  await boss.createQueue(queue, { retryLimit: 2, retryDelay: 2, retryBackoff: true, notify: true });
  let t = performance.now();
  for (let i = 0; i < n; i++) await boss.send(queue, { i });
  const enqueueMs = performance.now() - t;
  let done = 0;
  t = performance.now();
  for (let slot = 0; slot < CONCURRENCY; slot++) {
    const self: { id?: string } = {};
    self.id = await boss.work(queue, { localConcurrency: 1, batchSize: 1, pollingIntervalSeconds: 2, notifyPollingIntervalSeconds: 2 }, () => {
      done++;
      if (self.id !== undefined) boss.notifyWorker(self.id);
      return Promise.resolve();
    });
  }
  await until(() => done >= n, () => `raw pg-boss ran ${done} of ${n}`);
  const processMs = performance.now() - t;
  await boss.stop({ graceful: false, close: true, timeout: 1000 });
  return { enqueueMs, processMs };
}

async function rawBullMq(redisUrl: string, prefix: string, n: number): Promise<Result> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('raw', { connection, prefix, defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: { count: 1000 } } });
  let t = performance.now();
  for (let i = 0; i < n; i++) await queue.add('noop', { i }, { jobId: `raw-${i}` });
  const enqueueMs = performance.now() - t;
  let done = 0;
  t = performance.now();
  const worker = new Worker(
    'raw',
    () => {
      done++;
      return Promise.resolve();
    },
    { connection, prefix, concurrency: CONCURRENCY },
  );
  await until(() => done >= n, () => `raw BullMQ ran ${done} of ${n}`);
  const processMs = performance.now() - t;
  await worker.close();
  await queue.close();
  connection.disconnect();
  return { enqueueMs, processMs };
}

async function driver(url: string, db: Kysely<Database>, env: Record<string, string>, n: number): Promise<Result> {
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent', ...env });
  const jobs = new JobsService(config, pino({ level: 'silent' }), { db, connectionString: url } as unknown as DatabaseService, new MetricsService());
  await jobs.onModuleInit();
  let done = 0;
  jobs.register('email', 'noop', () => {
    done++;
    return Promise.resolve();
  });
  const run = randomBytes(4).toString('hex');
  let t = performance.now();
  for (let i = 0; i < n; i++) await jobs.enqueue('email', 'noop', { run, i });
  const enqueueMs = performance.now() - t;
  t = performance.now();
  // Only the email queue's workers matter here (concurrency 10, like the raw side).
  await jobs.onApplicationBootstrap();
  await until(() => done >= n, () => `${env.QUEUE_DRIVER} driver ran ${done} of ${n}`);
  const processMs = performance.now() - t;
  await jobs.beforeApplicationShutdown();
  await jobs.onApplicationShutdown();
  return { enqueueMs, processMs };
}

async function deletePrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

function line(name: string, n: number, raw: Result, ours: Result): string {
  const rate = (ms: number): number => Math.round((n * 1000) / ms);
  return [
    `${name}: enqueue ${rate(ours.enqueueMs)}/s vs raw ${rate(raw.enqueueMs)}/s (${Math.round((raw.enqueueMs / ours.enqueueMs) * 100)}%)`,
    `process ${rate(ours.processMs)}/s vs raw ${rate(raw.processMs)}/s (${Math.round((raw.processMs / ours.processMs) * 100)}%)`,
  ].join('; ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { jobs: { type: 'string', default: '2000' } } });
  const n = Number(values.jobs);
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL must name a scratch database');
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await migrateToLatest(db as unknown as Kysely<unknown>);
  const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`no-op jobs: ${n}, concurrency ${CONCURRENCY}; load average ${load()}`);
  const rawBoss = await rawPgBoss(url, n);
  const ourBoss = await driver(url, db, { QUEUE_DRIVER: 'pgboss' }, n);
  console.log(line('pg-boss', n, rawBoss, ourBoss));
  const redisUrl = process.env.REDIS_URL;
  if (redisUrl) {
    const prefix = `gw-bench-${randomBytes(4).toString('hex')}`;
    try {
      const rawBull = await rawBullMq(redisUrl, `${prefix}-raw`, n);
      const ourBull = await driver(url, db, { QUEUE_DRIVER: 'bullmq', REDIS_URL: redisUrl, BULLMQ_PREFIX: prefix }, n);
      console.log(line('bullmq', n, rawBull, ourBull));
    } finally {
      await deletePrefix(redisUrl, `${prefix}-raw`);
      await deletePrefix(redisUrl, prefix);
    }
  } else {
    console.log('bullmq: skipped (REDIS_URL is unset)');
  }
  console.log(`load average at the end: ${load()}`);
  await db.destroy();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
