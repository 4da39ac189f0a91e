import { PgBoss, fromKysely, type JobWithMetadata } from 'pg-boss';
import { sql, type Kysely, type Transaction } from 'kysely';
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
  type JobState,
  type QueueName,
  type StoredJob,
} from './jobs.types.js';

export interface PgBossDriverOptions {
  connectionString: string;
  /** The pool of the service: progress rows are written through it. */
  db: Kysely<Database>;
  logger: Logger;
  /** A worker that stops sending heartbeats (killed, frozen) loses its job after this long. */
  heartbeatSeconds: number;
  /** Connections pg-boss's own pool may open (workers, maintenance, LISTEN). */
  poolSize: number;
}

/** The dead-letter queue pg-boss copies a job into when it exhausts its attempts. */
export const deadLetterQueueOf = (queue: QueueName): string => `${queue}__dead`;

const STATE: Record<string, JobState> = {
  created: 'waiting',
  retry: 'retrying',
  active: 'active',
  completed: 'completed',
  cancelled: 'failed',
  failed: 'failed',
};

/** A dead-letter queue keeps its jobs as long as failed jobs are kept. */
export const PGBOSS_DEAD_LETTER_QUEUE_OPTIONS = {
  deleteAfterSeconds: DEFAULT_JOB_OPTIONS.keepFailedSeconds,
  retentionSeconds: DEFAULT_JOB_OPTIONS.keepFailedSeconds,
} as const;

/** A work queue's options (the guideline's defaults); exported so the benchmark's raw side uses the same. */
export function pgBossQueueOptions(heartbeatSeconds: number, deadLetter: string): Parameters<PgBoss['createQueue']>[1] {
  return {
    retryLimit: DEFAULT_JOB_OPTIONS.attempts - 1,
    retryDelay: DEFAULT_JOB_OPTIONS.backoffMs / 1000,
    retryBackoff: true,
    heartbeatSeconds,
    notify: true,
    deleteAfterSeconds: DEFAULT_JOB_OPTIONS.keepCompletedSeconds,
    retentionSeconds: DEFAULT_JOB_OPTIONS.keepFailedSeconds,
    deadLetter,
  };
}

function isTransaction(db: EnqueueOptions['db']): db is Transaction<Database> {
  return db !== undefined && db.isTransaction;
}

/**
 * The default driver: jobs live in PostgreSQL (pg-boss's schema, installed by migration
 * 20261129_0004_jobs), so a job sent with a business transaction is committed or rolled back with it.
 * Progress lives in job_progress, written by the processor while the job runs.
 */
export class PgBossDriver implements JobQueueDriver {
  readonly backend = 'pgboss' as const;
  private readonly boss: PgBoss;
  private readonly workerIds: Array<{ queue: QueueName; id: string }> = [];
  /** Aborted when stopWorkers' grace period is over, so processors still running stop at a safe point. */
  private stopping = new AbortController();

  constructor(private readonly options: PgBossDriverOptions) {
    const monitor = Math.max(1, Math.floor(options.heartbeatSeconds / 2));
    this.boss = new PgBoss({
      connectionString: options.connectionString,
      application_name: 'groundwork-jobs',
      max: options.poolSize,
      // Workers wake on NOTIFY when a job is created instead of polling every second.
      useListenNotify: true,
      schedule: false,
      superviseIntervalSeconds: monitor,
      monitorIntervalSeconds: monitor,
    });
    // pg-boss reports background failures (maintenance, lost LISTEN connection) as events.
    this.boss.on('error', (error) => options.logger.warn({ err: error }, 'pg-boss background error'));
  }

  async start(): Promise<void> {
    await this.boss.start();
    for (const queue of QUEUE_NAMES) {
      // Dead-lettered jobs are never processed; they wait there for a re-drive.
      await this.ensureQueue(deadLetterQueueOf(queue), PGBOSS_DEAD_LETTER_QUEUE_OPTIONS);
      await this.ensureQueue(queue, pgBossQueueOptions(this.options.heartbeatSeconds, deadLetterQueueOf(queue)));
    }
  }

  private async ensureQueue(name: string, options: Parameters<PgBoss['createQueue']>[1]): Promise<void> {
    if (await this.boss.getQueue(name)) return;
    try {
      await this.boss.createQueue(name, options);
    } catch (error) {
      // Another process created it between the read and the create.
      if (!(await this.boss.getQueue(name))) throw error;
    }
  }

  async enqueue(queue: QueueName, name: string, data: unknown, jobId: string, options: EnqueueOptions): Promise<EnqueueResult> {
    const stored: StoredJob = { name, data };
    const id = await this.boss.send(queue, stored, {
      id: jobId,
      ...(isTransaction(options.db) && { db: fromKysely(options.db) }),
      ...(options.delayMs !== undefined && { startAfter: Math.ceil(options.delayMs / 1000) }),
      ...(options.attempts !== undefined && { retryLimit: options.attempts - 1 }),
      ...(options.backoffMs !== undefined && { retryDelay: Math.max(1, Math.round(options.backoffMs / 1000)) }),
    });
    // pg-boss inserts with ON CONFLICT DO NOTHING: null means this id is already queued or kept.
    return { id: jobId, created: id !== null };
  }

  async work(queue: QueueName, concurrency: Parameters<JobQueueDriver['work']>[1], run: Parameters<JobQueueDriver['work']>[2]): Promise<void> {
    // One pg-boss worker per slot, each knowing its own id. pg-boss's worker loop waits the polling
    // interval after every fetch, even one that returned a job, unless it was notified meanwhile; only
    // a NOTIFY (a job being sent) wakes it early. A backlog that exists before the workers start, or
    // outlives the NOTIFYs of its jobs, therefore drained at one job per slot per interval (5 jobs/s on
    // the email queue). Each slot notifies itself after it ran a job, so it fetches again at once while
    // there is work, and falls back to the relaxed poll only after a fetch comes back empty.
    //
    // The handler resolves or throws and pg-boss settles the job with its single-job statements, found
    // by primary key. pg-boss's `perJobResults` option would let the handler name a `deadletter`
    // outcome, but it settles through a JSON-recordset join that the planner runs as a scan of every
    // active-state index entry of the queue, dead ones included; under churn that cost a quarter of
    // the throughput (ADR 0015). Unrecoverable errors take the path in `runJob` instead.
    for (let slot = 0; slot < concurrency; slot++) {
      const self: { id?: string } = {};
      const id = await this.boss.work(
        queue,
        { localConcurrency: 1, batchSize: 1, includeMetadata: true, pollingIntervalSeconds: 2, notifyPollingIntervalSeconds: 2 },
        async ([job]: JobWithMetadata<StoredJob>[]): Promise<object> => {
          try {
            return await this.runJob(queue, job!, run);
          } finally {
            if (self.id !== undefined) this.boss.notifyWorker(self.id);
          }
        },
      );
      self.id = id;
      this.workerIds.push({ queue, id });
    }
  }

  private async runJob(queue: QueueName, job: JobWithMetadata<StoredJob>, run: Parameters<JobQueueDriver['work']>[2]): Promise<object> {
    try {
      const output = await run({
        id: job.id,
        name: job.data.name,
        data: job.data.data,
        attempt: job.retryCount + 1,
        maxAttempts: job.retryLimit + 1,
        // pg-boss aborts a job's signal when its claim is lost; the driver adds the end of the stop's grace period.
        signal: AbortSignal.any([job.signal, this.stopping.signal]),
      });
      return output ?? {};
    } catch (error) {
      // An unrecoverable error skips the remaining attempts: the attempt budget of the job this worker
      // still holds (fenced on state and attempt) is spent, so the fail pg-boss runs when the error
      // propagates finds no retry left and copies the job into the dead-letter queue, with the
      // provenance a re-drive needs, exactly as it does for a job that ran out of attempts.
      if (error instanceof UnrecoverableJobError) await this.spendRemainingAttempts(queue, job);
      // pg-boss serialises what the handler throws into the job's output; only the message is kept,
      // so no stack trace or error property (a driver's SQL, say) lands in the queue's tables.
      const failure = new Error(error instanceof Error ? error.message : String(error));
      failure.stack = undefined;
      throw failure;
    }
  }

  private async spendRemainingAttempts(queue: QueueName, job: JobWithMetadata<StoredJob>): Promise<void> {
    await sql`UPDATE pgboss.job SET retry_limit = retry_count
      WHERE name = ${queue} AND id = ${job.id} AND state = 'active' AND retry_count = ${job.retryCount}`.execute(this.options.db);
  }

  async progress(queue: QueueName, id: string, percent: number): Promise<void> {
    await sql`INSERT INTO job_progress (queue, job_id, progress, updated_at) VALUES (${queue}, ${id}, ${percent}, now())
      ON CONFLICT (queue, job_id) DO UPDATE SET progress = EXCLUDED.progress, updated_at = now()`.execute(this.options.db);
  }

  async getJob(queue: QueueName, id: string): Promise<JobInfo | undefined> {
    const [job] = await this.boss.findJobs<StoredJob>(queue, { id });
    if (!job) return undefined;
    const row = await sql<{ progress: number }>`SELECT progress FROM job_progress WHERE queue = ${queue} AND job_id = ${id}`.execute(this.options.db);
    const progress = row.rows[0]?.progress ?? (job.state === 'completed' ? 100 : 0);
    return {
      id,
      queue,
      name: job.data.name,
      // Every queue has a dead-letter queue, so a failed job has been copied there.
      state: job.state === 'failed' ? 'dead' : (STATE[job.state] ?? 'waiting'),
      progress,
      // retryCount counts claims after the first; a job not yet started has made none.
      attemptsMade: job.state === 'created' ? 0 : job.retryCount + (job.state === 'active' ? 0 : 1),
      data: job.data.data,
    };
  }

  async sizes(): Promise<Record<QueueName, number>> {
    const queues = await this.boss.getQueues(QUEUE_NAMES);
    const sizes = Object.fromEntries(QUEUE_NAMES.map((q) => [q, 0])) as Record<QueueName, number>;
    for (const queue of queues) sizes[queue.name as QueueName] = queue.queuedCount;
    return sizes;
  }

  async listDeadLetters(queue: QueueName, limit: number): Promise<DeadLetter[]> {
    const jobs = await this.boss.findJobs<StoredJob>(deadLetterQueueOf(queue), { queued: true, limit });
    return jobs.map((job) => ({
      id: job.sourceId ?? job.id,
      queue,
      name: job.data.name,
      data: job.data.data,
      error: errorMessage(job.sourceOutput ?? job.output),
      failedAt: job.createdOn.toISOString(),
    }));
  }

  async redrive(queue: QueueName, ids?: string[]): Promise<number> {
    const dead = deadLetterQueueOf(queue);
    if (ids === undefined) return this.boss.redrive(dead, { destination: queue, limit: 100_000 });
    // The caller names original job ids; the dead-letter copies have ids of their own.
    const copies = (await this.boss.findJobs<StoredJob>(dead, { queued: true, limit: 100_000 })).filter((job) => job.sourceId !== null && ids.includes(job.sourceId));
    if (copies.length === 0) return 0;
    return this.boss.redrive(dead, { destination: queue, ids: copies.map((job) => job.id), limit: copies.length });
  }

  async stopWorkers(graceMs: number): Promise<void> {
    // offWork with wait resolves when the handlers it holds have finished; past the grace period
    // the jobs still held are left active and return to the queue when their heartbeat lapses.
    const stopping = Promise.all(this.workerIds.splice(0).map(({ queue, id }) => this.boss.offWork(queue, { id, wait: true })));
    let timer: NodeJS.Timeout | undefined;
    const expired = await Promise.race([stopping.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)))]);
    clearTimeout(timer);
    if (expired) {
      this.stopping.abort(new Error('the worker is stopping'));
      this.stopping = new AbortController();
    }
  }

  async close(): Promise<void> {
    await this.boss.stop({ graceful: false, close: true, timeout: 1_000 });
  }
}

function errorMessage(output: unknown): string {
  const message = (output as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : 'failed';
}
