import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Logger } from 'pino';
import { v5 as uuidv5, validate as isUuid } from 'uuid';
import { APP_CONFIG, type AppConfig } from '../config/config.schema.js';
import { DatabaseService } from '../database/database.service.js';
import { PROCESS_LOGGER } from '../observability/logger.tokens.js';
import { MetricsService } from '../observability/metrics.js';
import { BullMqDriver } from './bullmq.driver.js';
import {
  QUEUE_NAMES,
  QUEUES,
  UnrecoverableJobError,
  type DeadLetter,
  type EnqueueOptions,
  type EnqueueResult,
  type JobInfo,
  type JobProcessor,
  type JobQueueDriver,
  type QueueName,
} from './jobs.types.js';
import { PgBossDriver } from './pgboss.driver.js';

type JobOutcome = 'completed' | 'failed' | 'retried' | 'dead_lettered';
interface JobMeter {
  duration: { observe(seconds: number): void };
  count: { inc(): void };
}

/** Namespace of the UUIDv5 job ids (pg-boss ids are UUIDs). */
const JOB_ID_NAMESPACE = '3f0c8a52-6f7e-4d4b-9f1e-7a8f2b0c1d9e';

/** JSON with object keys sorted, so equal data gives an equal job id. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The job id: the caller's key (as a UUID scoped to the queue) or one derived from queue, name and data. */
export function deriveJobId(queue: QueueName, name: string, data: unknown, key?: string): string {
  if (key !== undefined) return isUuid(key) ? key : uuidv5(`${queue}\u0000key\u0000${key}`, JOB_ID_NAMESPACE);
  const digest = createHash('sha256').update(stableJson(data)).digest('hex');
  return uuidv5(`${queue}\u0000${name}\u0000${digest}`, JOB_ID_NAMESPACE);
}

/** Builds the driver QUEUE_DRIVER names; tests build drivers directly with their own options. */
export function createJobQueueDriver(config: AppConfig, database: DatabaseService, logger: Logger): JobQueueDriver {
  const log = logger.child({ component: 'jobs' });
  if (config.QUEUE_DRIVER === 'bullmq') {
    return new BullMqDriver({ redisUrl: config.REDIS_URL ?? '', prefix: config.BULLMQ_PREFIX, db: database.db, logger: log, heartbeatSeconds: config.JOB_HEARTBEAT_SECONDS });
  }
  return new PgBossDriver({
    connectionString: database.connectionString,
    db: database.db,
    logger: log,
    heartbeatSeconds: config.JOB_HEARTBEAT_SECONDS,
    poolSize: Math.max(4, Math.min(config.DATABASE_POOL_SIZE, 10)),
  });
}

/**
 * The job queue of the process (the guideline's QueueService): modules register processors by job
 * name and enqueue jobs, optionally inside their transaction. APP_ROLE decides whether this process
 * also runs jobs (worker, all) or only enqueues them (api).
 */
@Injectable()
export class JobsService implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private driver!: JobQueueDriver;
  private readonly processors = new Map<string, JobProcessor>();
  private readonly log: Logger;
  private readonly duration: Histogram<'queue' | 'name' | 'outcome'>;
  private readonly outcomes: Counter<'queue' | 'name' | 'outcome'>;
  private readonly meters = new Map<string, JobMeter>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROCESS_LOGGER) logger: Logger,
    private readonly database: DatabaseService,
    metrics: MetricsService,
  ) {
    this.log = logger.child({ component: 'jobs' });
    this.duration = new Histogram({
      name: 'job_duration_seconds',
      help: 'Time a job attempt took, by queue, job name and outcome',
      labelNames: ['queue', 'name', 'outcome'] as const,
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers: [metrics.registry],
    });
    this.outcomes = new Counter({
      name: 'jobs_total',
      help: 'Finished job attempts by outcome: completed, failed (attempt), retried, dead_lettered',
      labelNames: ['queue', 'name', 'outcome'] as const,
      registers: [metrics.registry],
    });
    const sizes = (): Promise<Record<QueueName, number>> | undefined => this.driver?.sizes();
    new Gauge({
      name: 'job_queue_size',
      help: 'Jobs waiting in each queue (ready, delayed or waiting for a retry)',
      labelNames: ['queue'] as const,
      registers: [metrics.registry],
      async collect() {
        try {
          const current = await sizes();
          if (current) for (const queue of QUEUE_NAMES) this.set({ queue }, current[queue]);
        } catch {
          // A scrape must not fail because the queue backend is briefly away; health reports that.
        }
      },
    });
  }

  /** `pgboss` or `bullmq`, for health and logs. */
  get backend(): 'pgboss' | 'bullmq' {
    return this.config.QUEUE_DRIVER;
  }

  /** Whether this process runs jobs (APP_ROLE worker or all). */
  get runsJobs(): boolean {
    return this.config.APP_ROLE !== 'api';
  }

  async onModuleInit(): Promise<void> {
    this.driver = createJobQueueDriver(this.config, this.database, this.log);
    await this.driver.start();
  }

  /** Processors register in their onModuleInit; workers start once every one is known. */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.runsJobs) return;
    for (const queue of QUEUE_NAMES) await this.driver.work(queue, QUEUES[queue].concurrency, (job) => this.run(queue, job));
    this.log.info({ backend: this.backend, queues: QUEUE_NAMES }, 'job workers started');
  }

  /** Registers the processor of jobs named `name` on `queue`. */
  register<T>(queue: QueueName, name: string, processor: JobProcessor<T>): void {
    this.processors.set(`${queue}/${name}`, processor as JobProcessor);
  }

  /**
   * Enqueues a job. With `options.db` set to a transaction, the job exists only if it commits.
   * The same id (given, or derived from queue, name and data) is queued once.
   */
  enqueue<T>(queue: QueueName, name: string, data: T, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    return this.driver.enqueue(queue, name, data, deriveJobId(queue, name, data, options.jobId), options);
  }

  getJob(queue: QueueName, id: string): Promise<JobInfo | undefined> {
    return this.driver.getJob(queue, id);
  }

  sizes(): Promise<Record<QueueName, number>> {
    return this.driver.sizes();
  }

  listDeadLetters(queue: QueueName, limit = 100): Promise<DeadLetter[]> {
    return this.driver.listDeadLetters(queue, limit);
  }

  redrive(queue: QueueName, ids?: string[]): Promise<number> {
    return this.driver.redrive(queue, ids);
  }

  /**
   * The labelled duration histogram and outcome counter of one queue, job name and outcome, made
   * once: prom-client validates and hashes a label set on every observe, which at BullMQ's
   * thousands of jobs per second was a measurable share of the worker's time.
   */
  private meter(queue: QueueName, name: string, outcome: JobOutcome): JobMeter {
    const key = `${queue}\u0000${name}\u0000${outcome}`;
    let meter = this.meters.get(key);
    if (!meter) {
      meter = { duration: this.duration.labels({ queue, name, outcome }), count: this.outcomes.labels({ queue, name, outcome }) };
      this.meters.set(key, meter);
    }
    return meter;
  }

  private async run(queue: QueueName, job: Parameters<Parameters<JobQueueDriver['work']>[2]>[0]): Promise<unknown> {
    const started = performance.now();
    const processor = this.processors.get(`${queue}/${job.name}`);
    try {
      if (!processor) throw new UnrecoverableJobError(`no processor for job ${job.name} on queue ${queue}`);
      const result = await processor(job.data, {
        id: job.id,
        queue,
        name: job.name,
        attempt: job.attempt,
        maxAttempts: job.maxAttempts,
        signal: job.signal,
        progress: (percent) => this.driver.progress(queue, job.id, Math.max(0, Math.min(100, Math.round(percent)))),
      });
      const completed = this.meter(queue, job.name, 'completed');
      completed.duration.observe((performance.now() - started) / 1000);
      completed.count.inc();
      return result;
    } catch (error) {
      const final = error instanceof UnrecoverableJobError || job.attempt >= job.maxAttempts;
      const failed = this.meter(queue, job.name, 'failed');
      failed.duration.observe((performance.now() - started) / 1000);
      failed.count.inc();
      this.meter(queue, job.name, final ? 'dead_lettered' : 'retried').count.inc();
      this.log[final ? 'error' : 'warn'](
        { err: error, queue, jobName: job.name, jobId: job.id, attempt: job.attempt, maxAttempts: job.maxAttempts },
        final ? 'job failed; moved to the dead-letter queue' : 'job attempt failed; will retry',
      );
      throw error;
    }
  }

  /** SIGTERM: stop taking jobs, let held ones finish within the grace period, then close. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.driver && this.runsJobs) {
      await this.driver.stopWorkers(this.config.SHUTDOWN_GRACE_MS);
      this.log.info('job workers stopped');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.driver?.close();
  }
}
