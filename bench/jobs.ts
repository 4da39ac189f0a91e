/**
 * No-op job throughput of each queue driver against the raw library doing the same, in one run:
 *
 *   DATABASE_URL=postgresql://... REDIS_URL=redis://127.0.0.1:6379 npm run bench:jobs [-- --rounds 5]
 *
 * For each backend, N jobs are enqueued one by one (timed), then processed by workers of
 * concurrency 10 with a no-op handler (timed from the first finished job to the last). The raw side
 * uses pg-boss / BullMQ directly with the driver's queue, job and worker options (for pg-boss: one
 * worker per slot that wakes itself after each job, as the driver does, so neither side waits out
 * the polling interval while a backlog is left); the driver side is JobsService with the pg-boss or
 * BullMQ driver (derived ids, metrics, processor lookup). Sides alternate over several rounds and the
 * median ratio is reported. DATABASE_URL must name a scratch database (pg-boss installs its schema
 * there; the job tables are migrated). BullMQ runs only when REDIS_URL is set, under a prefix of its
 * own that is deleted at the end. bench/README.md has the details.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { PgBoss } from 'pg-boss';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/platform/config/config.schema.js';
import type { DatabaseService } from '../src/platform/database/database.service.js';
import type { Database } from '../src/platform/database/database.types.js';
import { migrateToLatest } from '../src/platform/database/migrator.js';
import { BULLMQ_JOB_OPTIONS, bullMqWorkerOptions } from '../src/platform/jobs/bullmq.driver.js';
import { JobsService } from '../src/platform/jobs/jobs.service.js';
import { PGBOSS_DEAD_LETTER_QUEUE_OPTIONS, pgBossQueueOptions } from '../src/platform/jobs/pgboss.driver.js';
import { MetricsService } from '../src/platform/observability/metrics.js';

const CONCURRENCY = 10;
/** JOB_HEARTBEAT_SECONDS's default, which the driver side runs with. */
const HEARTBEAT_SECONDS = 30;

interface Result {
  enqueueMs: number;
  /** From starting the workers to the first finished job. */
  startMs: number;
  /** From the first finished job to the last: the steady rate, without the workers' start-up. */
  processMs: number;
}

/** Counts finished jobs and notes when the first and the last one finished. */
class Tally {
  done = 0;
  first = 0;
  last = 0;

  record(): void {
    const now = performance.now();
    if (this.done === 0) this.first = now;
    this.done++;
    this.last = now;
  }

  result(enqueueMs: number, workersStarted: number): Result {
    return { enqueueMs, startMs: this.first - workersStarted, processMs: this.last - this.first };
  }
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
  // One long-lived queue, as the driver's email queue is: both sides work on a table that keeps
  // the completed jobs of earlier rounds, and the planner has statistics for the queue's name.
  // Its options are the driver's (attempts, backoff, retention, heartbeat, dead-letter queue), so the
  // comparison is the same work with and without the driver around it.
  const queue = 'raw-email';
  const dead = `${queue}__dead`;
  if (!(await boss.getQueue(dead))) await boss.createQueue(dead, PGBOSS_DEAD_LETTER_QUEUE_OPTIONS);
  if (!(await boss.getQueue(queue))) await boss.createQueue(queue, pgBossQueueOptions(HEARTBEAT_SECONDS, dead));
  let t = performance.now();
  for (let i = 0; i < n; i++) await boss.send(queue, { i });
  const enqueueMs = performance.now() - t;
  const tally = new Tally();
  t = performance.now();
  for (let slot = 0; slot < CONCURRENCY; slot++) {
    const self: { id?: string } = {};
    self.id = await boss.work(queue, { localConcurrency: 1, batchSize: 1, pollingIntervalSeconds: 2, notifyPollingIntervalSeconds: 2 }, () => {
      tally.record();
      if (self.id !== undefined) boss.notifyWorker(self.id);
      return Promise.resolve();
    });
  }
  await until(() => tally.done >= n, () => `raw pg-boss ran ${tally.done} of ${n}`);
  await boss.stop({ graceful: false, close: true, timeout: 1000 });
  return tally.result(enqueueMs, t);
}

async function rawBullMq(redisUrl: string, prefix: string, n: number): Promise<Result> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  // The driver's job and worker options, so both sides do the same work per job.
  const queue = new Queue('raw', {
    connection,
    prefix,
    defaultJobOptions: BULLMQ_JOB_OPTIONS,
  });
  let t = performance.now();
  // Ids unique per round: a kept job with the same id would make the add a no-op.
  const run = randomBytes(4).toString('hex');
  for (let i = 0; i < n; i++) await queue.add('noop', { i }, { jobId: `raw-${run}-${i}` });
  const enqueueMs = performance.now() - t;
  const tally = new Tally();
  t = performance.now();
  const worker = new Worker(
    'raw',
    () => {
      tally.record();
      return Promise.resolve();
    },
    { connection, prefix, concurrency: CONCURRENCY, ...bullMqWorkerOptions(HEARTBEAT_SECONDS) },
  );
  await until(() => tally.done >= n, () => `raw BullMQ ran ${tally.done} of ${n}`);
  await worker.close();
  await queue.close();
  connection.disconnect();
  return tally.result(enqueueMs, t);
}

async function driver(url: string, db: Kysely<Database>, env: Record<string, string>, n: number): Promise<Result> {
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent', ...env });
  const jobs = new JobsService(config, pino({ level: 'silent' }), { db, connectionString: url } as unknown as DatabaseService, new MetricsService());
  await jobs.onModuleInit();
  const tally = new Tally();
  jobs.register('email', 'noop', () => {
    tally.record();
    return Promise.resolve();
  });
  const run = randomBytes(4).toString('hex');
  let t = performance.now();
  for (let i = 0; i < n; i++) await jobs.enqueue('email', 'noop', { run, i });
  const enqueueMs = performance.now() - t;
  t = performance.now();
  // Only the email queue's workers matter here (concurrency 10, like the raw side).
  await jobs.onApplicationBootstrap();
  await until(() => tally.done >= n, () => `${env.QUEUE_DRIVER} driver ran ${tally.done} of ${n}`);
  await jobs.beforeApplicationShutdown();
  await jobs.onApplicationShutdown();
  return tally.result(enqueueMs, t);
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

const rate = (n: number, ms: number): number => Math.round((n * 1000) / ms);
/** Jobs per second between the first and the last finished job (n - 1 intervals). */
const processRate = (n: number, ms: number): number => rate(n - 1, ms);
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * Runs the raw library and the driver `rounds` times, alternating which goes first, and reports every
 * round and the median ratios. One round is too noisy to judge by: whichever side runs while
 * PostgreSQL's autovacuum or a checkpoint works on the churned job table loses a third of its rate.
 * `settle` runs before each measured side, so both start from the same state.
 */
async function compare(name: string, n: number, rounds: number, settle: () => Promise<void>, raw: () => Promise<Result>, ours: () => Promise<Result>): Promise<void> {
  const enqueue: number[] = [];
  const processing: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const sides = round % 2 === 1 ? [raw, ours] : [ours, raw];
    const results: Result[] = [];
    for (const side of sides) {
      await settle();
      results.push(await side());
    }
    const [rawResult, ourResult] = round % 2 === 1 ? results : [...results].reverse();
    enqueue.push(rawResult!.enqueueMs / ourResult!.enqueueMs);
    processing.push(rawResult!.processMs / ourResult!.processMs);
    console.log(
      `${name} round ${round} (${round % 2 === 1 ? 'raw first' : 'driver first'}): ` +
        `enqueue ${rate(n, ourResult!.enqueueMs)}/s vs raw ${rate(n, rawResult!.enqueueMs)}/s; ` +
        `process ${processRate(n, ourResult!.processMs)}/s vs raw ${processRate(n, rawResult!.processMs)}/s; ` +
        `first job after ${Math.round(ourResult!.startMs)} ms vs raw ${Math.round(rawResult!.startMs)} ms`,
    );
  }
  const percent = (ratio: number): string => `${Math.round(ratio * 100)}%`;
  console.log(`${name}: driver/raw median of ${rounds} rounds: enqueue ${percent(median(enqueue))}, process ${percent(median(processing))} (target for process: 80%)`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { jobs: { type: 'string', default: '3000' }, 'bullmq-jobs': { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' }, backends: { type: 'string', default: 'pgboss,bullmq' } },
  });
  const n = Number(values.jobs);
  // BullMQ runs a few thousand no-op jobs in well under a second, where starting the workers (one
  // Redis round trip each, and the driver starts four queues' workers) would weigh as much as the
  // jobs; more jobs make the measured window long enough that it does not.
  const bullmqJobs = Number(values['bullmq-jobs']);
  const backends = new Set(values.backends.split(','));
  const rounds = Number(values.rounds);
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL must name a scratch database');
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await migrateToLatest(db as unknown as Kysely<unknown>);
  const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`no-op jobs per side and round: ${n} (pg-boss), ${bullmqJobs} (BullMQ); ${rounds} rounds, concurrency ${CONCURRENCY}; load average ${load()}`);
  // Both pg-boss schemas get vacuumed and analysed before each side, so neither inherits the other's dead rows.
  const vacuum = async (): Promise<void> => {
    const schemas = await sql<{ table: string }>`SELECT format('%I.%I', schemaname, relname) AS table FROM pg_stat_user_tables
      WHERE schemaname IN ('pgboss', 'pgboss_raw_bench') AND relname LIKE 'job%'`.execute(db);
    for (const { table } of schemas.rows) await sql.raw(`VACUUM ANALYZE ${table}`).execute(db);
  };
  if (backends.has('pgboss')) await compare('pg-boss', n, rounds, vacuum, () => rawPgBoss(url, n), () => driver(url, db, { QUEUE_DRIVER: 'pgboss' }, n));
  const redisUrl = process.env.REDIS_URL;
  if (!backends.has('bullmq')) {
    console.log('bullmq: not asked for (--backends)');
  } else if (redisUrl) {
    const prefix = `gw-bench-${randomBytes(4).toString('hex')}`;
    try {
      await compare(
        'bullmq',
        bullmqJobs,
        rounds,
        () => Promise.resolve(),
        () => rawBullMq(redisUrl, `${prefix}-raw`, bullmqJobs),
        () => driver(url, db, { QUEUE_DRIVER: 'bullmq', REDIS_URL: redisUrl, BULLMQ_PREFIX: prefix }, bullmqJobs),
      );
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
