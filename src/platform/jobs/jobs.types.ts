import type { DbExecutor } from '../database/database.service.js';

/**
 * The queues of the service and how many jobs of each one worker process runs at once (the
 * guideline's QueueService table). Adding a queue here creates it in both drivers.
 */
export const QUEUES = {
  email: { concurrency: 10 },
  'image-processing': { concurrency: 5 },
  'data-export': { concurrency: 2 },
  notifications: { concurrency: 20 },
} as const;
export type QueueName = keyof typeof QUEUES;
export const QUEUE_NAMES = Object.keys(QUEUES) as QueueName[];

/** Default job options (guideline): 3 attempts, exponential backoff from 2 s, bounded retention. */
export const DEFAULT_JOB_OPTIONS = {
  attempts: 3,
  backoffMs: 2_000,
  /** Completed jobs are kept this long (and, on BullMQ, at most keepCompleted of them). */
  keepCompletedSeconds: 24 * 3600,
  keepCompleted: 1_000,
  /** Failed and dead-lettered jobs are kept longer: they are what an operator re-drives. */
  keepFailedSeconds: 14 * 24 * 3600,
  keepFailed: 10_000,
} as const;

export interface EnqueueOptions {
  /**
   * The idempotency key. Omitted: derived from queue, name and data, so the same job enqueued twice
   * runs once (within the retention window).
   */
  jobId?: string;
  /** Join this transaction: the job exists only if the transaction commits. */
  db?: DbExecutor;
  delayMs?: number;
  /** Override the default attempts (tests of the dead-letter path use 1). */
  attempts?: number;
  /** Override the first backoff delay. */
  backoffMs?: number;
}

export interface EnqueueResult {
  id: string;
  /** False when a job with this id already existed: nothing new was queued. */
  created: boolean;
}

/** What a processor receives with the job's data. */
export interface JobContext {
  id: string;
  queue: QueueName;
  name: string;
  /** 1 on the first try. */
  attempt: number;
  maxAttempts: number;
  /** Reports progress (0-100), readable through getJob while the job runs. */
  progress(percent: number): Promise<void>;
  /** Aborted when the worker is stopping; long processors should stop at the next safe point. */
  signal: AbortSignal;
}

export type JobProcessor<T = unknown> = (data: T, context: JobContext) => Promise<unknown>;

export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'retrying' | 'dead';

export interface JobInfo {
  id: string;
  queue: QueueName;
  name: string;
  state: JobState;
  progress: number;
  attemptsMade: number;
  data: unknown;
}

export interface DeadLetter {
  /** The id of the job that failed (re-driven under the same id). */
  id: string;
  queue: QueueName;
  name: string;
  data: unknown;
  error: string;
  failedAt: string;
}

/** A job whose failure no retry can fix (bad input, unknown processor): failed at once, dead-lettered. */
export class UnrecoverableJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnrecoverableJobError';
  }
}

/** What the port tells its owner about each finished attempt, for metrics and logs. */
export interface JobEvents {
  onCompleted(queue: QueueName, name: string, seconds: number): void;
  /** `final`: no attempt is left (or the error is unrecoverable); the job is now dead-lettered. */
  onFailed(queue: QueueName, name: string, seconds: number, error: unknown, final: boolean): void;
}

/** The internal job envelope both drivers store: the processor name and the caller's data. */
export interface StoredJob {
  name: string;
  data: unknown;
}

/**
 * The job queue port. One driver per backend (pg-boss, BullMQ); test/contract/jobs-contract.ts
 * runs the same suite against each.
 */
export interface JobQueueDriver {
  readonly backend: 'pgboss' | 'bullmq';
  start(): Promise<void>;
  enqueue(queue: QueueName, name: string, data: unknown, jobId: string, options: EnqueueOptions): Promise<EnqueueResult>;
  /** Starts taking jobs of `queue`, at most `concurrency` at once in this process. */
  work(queue: QueueName, concurrency: number, run: (job: { id: string; name: string; data: unknown; attempt: number; maxAttempts: number; signal: AbortSignal }) => Promise<unknown>): Promise<void>;
  progress(queue: QueueName, id: string, percent: number): Promise<void>;
  getJob(queue: QueueName, id: string): Promise<JobInfo | undefined>;
  /** Jobs waiting (ready, delayed or retrying) per queue. */
  sizes(): Promise<Record<QueueName, number>>;
  listDeadLetters(queue: QueueName, limit: number): Promise<DeadLetter[]>;
  /** Moves dead-lettered jobs (all, or those ids) back to their queue; returns how many. */
  redrive(queue: QueueName, ids?: string[]): Promise<number>;
  /** Stops taking jobs and waits (up to graceMs) for the ones held; unfinished ones are released. */
  stopWorkers(graceMs: number): Promise<void>;
  close(): Promise<void>;
}
