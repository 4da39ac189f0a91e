import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../database/database.types.js';
import {
  DEFAULT_JOB_OPTIONS,
  QUEUE_NAMES,
  UnrecoverableJobError,
  type DeadLetter,
  type EnqueueOptions,
  type EnqueueResult,
  type JobInfo,
  type JobQueueDriver,
  type QueueName,
  type StoredJob,
} from './jobs.types.js';

export interface BullMqDriverOptions {
  redisUrl: string;
  /** Namespace of every Redis key this driver writes (BullMQ's prefix). */
  prefix: string;
  db: Kysely<Database>;
  logger: Logger;
  /** A worker that stops renewing its lock (killed, frozen) loses its job after this long. */
  heartbeatSeconds: number;
  /** How often committed transactional enqueues are moved from job_outbox to Redis. */
  relayIntervalMs?: number;
}

interface OutboxRow {
  id: string;
  queue: QueueName;
  job_id: string;
  name: string;
  data: unknown;
  options: { delayMs?: number; attempts?: number; backoffMs?: number };
}

/** Every job's options (the guideline's defaults); exported so the benchmark's raw side uses the same. */
export const BULLMQ_JOB_OPTIONS = {
  attempts: DEFAULT_JOB_OPTIONS.attempts,
  backoff: { type: 'exponential', delay: DEFAULT_JOB_OPTIONS.backoffMs },
  removeOnComplete: { age: DEFAULT_JOB_OPTIONS.keepCompletedSeconds, count: DEFAULT_JOB_OPTIONS.keepCompleted },
  removeOnFail: { age: DEFAULT_JOB_OPTIONS.keepFailedSeconds, count: DEFAULT_JOB_OPTIONS.keepFailed },
  // Only the failure's message is kept with the job (failedReason), never a stack trace.
  stackTraceLimit: 0,
} as const;

/** How a worker notices a dead one: its jobs' locks lapse after the heartbeat and are retried as stalled. */
export function bullMqWorkerOptions(heartbeatSeconds: number): { lockDuration: number; stalledInterval: number; maxStalledCount: number } {
  return {
    lockDuration: heartbeatSeconds * 1000,
    stalledInterval: heartbeatSeconds * 1000,
    // A job found stalled (its worker died) is retried, counted against its attempts.
    maxStalledCount: DEFAULT_JOB_OPTIONS.attempts,
  };
}

/**
 * The Redis driver (QUEUE_DRIVER=bullmq). Redis cannot join a PostgreSQL transaction, so an enqueue
 * that names a transaction is written to job_outbox inside it and relayed to Redis after commit
 * (at least once; the job id makes the relay idempotent). A job that exhausts its attempts, or fails
 * unrecoverably, stays in BullMQ's failed set, which is the dead-letter list; re-drive retries it.
 */
export class BullMqDriver implements JobQueueDriver {
  readonly backend = 'bullmq' as const;
  private readonly connection: Redis;
  private readonly queues = new Map<QueueName, Queue>();
  private readonly workers: Worker[] = [];
  /** Jobs this process is running, so progress() can reach BullMQ's Job object. */
  private readonly running = new Map<string, Job>();
  /** Every running job's signal: aborted when stopWorkers' grace period is over. */
  private stopping = new AbortController();
  private relayTimer: NodeJS.Timeout | undefined;
  private relaying: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: BullMqDriverOptions) {
    // BullMQ requires maxRetriesPerRequest null: its blocking commands must wait, not fail.
    this.connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    this.connection.on('error', (error) => options.logger.warn({ err: error }, 'BullMQ Redis connection error'));
  }

  private queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.connection,
        prefix: this.options.prefix,
        defaultJobOptions: BULLMQ_JOB_OPTIONS,
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  async start(): Promise<void> {
    await this.connection.connect();
    for (const name of QUEUE_NAMES) await this.queue(name).waitUntilReady();
    this.relayTimer = setInterval(() => void this.relayOnce(), this.options.relayIntervalMs ?? 200);
    this.relayTimer.unref();
  }

  async enqueue(queue: QueueName, name: string, data: unknown, jobId: string, options: EnqueueOptions): Promise<EnqueueResult> {
    const jobOptions = {
      ...(options.delayMs !== undefined && { delayMs: options.delayMs }),
      ...(options.attempts !== undefined && { attempts: options.attempts }),
      ...(options.backoffMs !== undefined && { backoffMs: options.backoffMs }),
    };
    if (options.db?.isTransaction) {
      await sql`INSERT INTO job_outbox (queue, job_id, name, data, options) VALUES (${queue}, ${jobId}, ${name}, ${JSON.stringify(data ?? null)}::jsonb, ${JSON.stringify(jobOptions)}::jsonb)`.execute(options.db);
      return { id: jobId, created: true };
    }
    return this.add(queue, jobId, name, data, jobOptions);
  }

  private async add(queue: QueueName, jobId: string, name: string, data: unknown, options: OutboxRow['options']): Promise<EnqueueResult> {
    // BullMQ ignores an add whose id exists; reading first tells the caller which case it was.
    if (await this.queue(queue).getJob(jobId)) return { id: jobId, created: false };
    const stored: StoredJob = { name, data };
    await this.queue(queue).add(name, stored, {
      jobId,
      ...(options.delayMs !== undefined && { delay: options.delayMs }),
      ...(options.attempts !== undefined && { attempts: options.attempts }),
      ...(options.backoffMs !== undefined && { backoff: { type: 'exponential', delay: options.backoffMs } }),
    });
    return { id: jobId, created: true };
  }

  /** Moves committed outbox rows to Redis; rows stay until their add succeeded. */
  relayOnce(): Promise<void> {
    if (this.relaying || this.closed) return this.relaying ?? Promise.resolve();
    this.relaying = (async () => {
      try {
        for (;;) {
          const moved = await this.options.db.transaction().execute(async (trx) => {
            const { rows } = await sql<OutboxRow>`SELECT id, queue, job_id, name, data, options FROM job_outbox ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED`.execute(trx);
            for (const row of rows) await this.add(row.queue, row.job_id, row.name, row.data, row.options);
            if (rows.length > 0) await sql`DELETE FROM job_outbox WHERE id = ANY(${rows.map((row) => row.id)}::bigint[])`.execute(trx);
            return rows.length;
          });
          if (moved < 100) return;
        }
      } catch (error) {
        if (!this.closed) this.options.logger.warn({ err: error }, 'job outbox relay failed; retrying');
      } finally {
        this.relaying = undefined;
      }
    })();
    return this.relaying;
  }

  async work(queue: QueueName, concurrency: number, run: Parameters<JobQueueDriver['work']>[2]): Promise<void> {
    // The processor takes two parameters on purpose: BullMQ gives a processor that declares a third
    // an AbortController of its own per job, which cost a fifth of the no-op throughput. Jobs share
    // the driver's stop signal instead, aborted when the stop's grace period runs out.
    const worker = new Worker<StoredJob>(
      queue,
      async (job) => {
        this.running.set(`${queue}:${job.id}`, job);
        try {
          return await run({
            id: job.id ?? '',
            name: job.data.name,
            data: job.data.data,
            attempt: job.attemptsMade + 1,
            maxAttempts: job.opts.attempts ?? 1,
            signal: this.stopping.signal,
          });
        } catch (error) {
          // BullMQ's own marker skips the remaining attempts.
          if (error instanceof UnrecoverableJobError) throw new UnrecoverableError(error.message);
          throw error;
        } finally {
          this.running.delete(`${queue}:${job.id}`);
        }
      },
      {
        connection: this.connection,
        prefix: this.options.prefix,
        concurrency,
        ...bullMqWorkerOptions(this.options.heartbeatSeconds),
      },
    );
    worker.on('error', (error) => this.options.logger.warn({ err: error, queue }, 'BullMQ worker error'));
    await worker.waitUntilReady();
    this.workers.push(worker);
  }

  async progress(queue: QueueName, id: string, percent: number): Promise<void> {
    const job = this.running.get(`${queue}:${id}`);
    if (job) await job.updateProgress(percent);
  }

  async getJob(queue: QueueName, id: string): Promise<JobInfo | undefined> {
    const job = await this.queue(queue).getJob(id);
    if (!job) return undefined;
    const state = await job.getState();
    const progress = typeof job.progress === 'number' ? job.progress : 0;
    return {
      id,
      queue,
      name: (job.data as StoredJob).name,
      state:
        state === 'completed'
          ? 'completed'
          : state === 'failed'
            ? 'dead'
            : state === 'active'
              ? 'active'
              : state === 'delayed' && job.attemptsMade > 0
                ? 'retrying'
                : 'waiting',
      progress: state === 'completed' && progress === 0 ? 100 : progress,
      attemptsMade: job.attemptsMade,
      data: (job.data as StoredJob).data,
    };
  }

  async sizes(): Promise<Record<QueueName, number>> {
    const sizes = {} as Record<QueueName, number>;
    for (const name of QUEUE_NAMES) {
      const counts = await this.queue(name).getJobCounts('wait', 'delayed', 'prioritized');
      sizes[name] = Object.values(counts).reduce((sum, n) => sum + n, 0);
    }
    return sizes;
  }

  async listDeadLetters(queue: QueueName, limit: number): Promise<DeadLetter[]> {
    const jobs = await this.queue(queue).getFailed(0, limit - 1);
    return jobs.map((job) => ({
      id: job.id ?? '',
      queue,
      name: (job.data as StoredJob).name,
      data: (job.data as StoredJob).data,
      error: job.failedReason,
      failedAt: new Date(job.finishedOn ?? job.timestamp).toISOString(),
    }));
  }

  async redrive(queue: QueueName, ids?: string[]): Promise<number> {
    const failed = await this.queue(queue).getFailed(0, -1);
    let moved = 0;
    for (const job of failed) {
      if (ids !== undefined && !ids.includes(job.id ?? '')) continue;
      // A fresh set of attempts, under the same id.
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      moved++;
    }
    return moved;
  }

  async stopWorkers(graceMs: number): Promise<void> {
    const workers = this.workers.splice(0);
    // close() stops fetching and waits for the active jobs; past the grace period force-close
    // leaves them locked until the lock lapses and another worker retries them as stalled.
    const closing = Promise.all(workers.map((worker) => worker.close()));
    let timer: NodeJS.Timeout | undefined;
    const expired = await Promise.race([closing.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)))]);
    clearTimeout(timer);
    if (expired) {
      // Processors still running are asked to stop at their next safe point.
      this.stopping.abort(new Error('the worker is stopping'));
      this.stopping = new AbortController();
      await Promise.all(workers.map((worker) => worker.close(true)));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.relayTimer);
    await this.relaying;
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.connection.disconnect();
  }
}
