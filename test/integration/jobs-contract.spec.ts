import 'reflect-metadata';
import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableJobError } from '../../src/platform/jobs/jobs.types.js';
import { deleteRedisPrefix, queueDriverCases, startJobsHarness, waitFor, type JobsHarness } from '../helpers/jobs.js';

/**
 * One contract for the job queue port, run against every driver: pg-boss on PostgreSQL, and BullMQ
 * on the machine's Redis (REDIS_URL; .ci/run sets it).
 */
const redisUrl = process.env.REDIS_URL;

for (const { driver, env, skip } of queueDriverCases()) {
  const prefix = env.BULLMQ_PREFIX ?? '';
  if (skip) {
    describe(`job queue contract on ${driver}`, () => {
      it.skip(`skipped: ${skip}`, () => undefined);
    });
    continue;
  }

  describe(`job queue contract on ${driver}`, () => {
    let h: JobsHarness;
    const runs = new Map<string, number>();
    const count = (key: string): number => runs.get(key) ?? 0;
    const bump = (key: string): void => void runs.set(key, count(key) + 1);
    let releaseSlow: () => void = () => undefined;
    let flakyFailures = 0;
    let heal = false;

    beforeAll(async () => {
      h = await startJobsHarness(env);
      h.jobs.register<{ key: string }>('notifications', 'record', (data) => {
        bump(data.key);
        return Promise.resolve();
      });
      h.jobs.register<{ key: string }>('notifications', 'slow', async (data, context) => {
        await context.progress(50);
        await new Promise<void>((resolve) => (releaseSlow = resolve));
        bump(data.key);
        await context.progress(100);
      });
      h.jobs.register<{ key: string }>('email', 'flaky', (data, context) => {
        bump(`${data.key}:attempt${context.attempt}`);
        if (context.attempt <= flakyFailures) return Promise.reject(new Error('transient failure'));
        bump(data.key);
        return Promise.resolve();
      });
      h.jobs.register<{ key: string }>('email', 'always-fails', (data) => {
        bump(data.key);
        return heal ? Promise.resolve() : Promise.reject(new Error('permanent failure'));
      });
      h.jobs.register<{ key: string }>('email', 'bad-input', (data) => {
        bump(data.key);
        return heal ? Promise.resolve() : Promise.reject(new UnrecoverableJobError('bad input'));
      });
      await h.jobs.onApplicationBootstrap();
    });
    afterAll(async () => {
      await h?.close();
      if (driver === 'bullmq' && redisUrl) await deleteRedisPrefix(redisUrl, prefix);
    });

    it('runs an enqueued job with its data and reports it completed', async () => {
      const { id, created } = await h.jobs.enqueue('notifications', 'record', { key: 'basic' });
      expect(created).toBe(true);
      await waitFor(() => count('basic') === 1, 'the job to run');
      const info = await waitFor(async () => {
        const job = await h.jobs.getJob('notifications', id);
        return job?.state === 'completed' ? job : undefined;
      }, 'completed state');
      expect(info).toMatchObject({ id, name: 'record', progress: 100, data: { key: 'basic' } });
    });

    it('derives the job id from queue, name and data: the same job enqueued twice runs once', async () => {
      const first = await h.jobs.enqueue('notifications', 'record', { key: 'twice', n: 1 });
      const second = await h.jobs.enqueue('notifications', 'record', { n: 1, key: 'twice' });
      expect(second).toEqual({ id: first.id, created: false });
      const keyed = await h.jobs.enqueue('notifications', 'record', { key: 'keyed' }, { jobId: 'welcome:42' });
      const keyedAgain = await h.jobs.enqueue('notifications', 'record', { key: 'keyed', other: true }, { jobId: 'welcome:42' });
      expect(keyedAgain).toEqual({ id: keyed.id, created: false });
      await waitFor(() => count('twice') === 1 && count('keyed') === 1, 'both jobs to run');
      await h.jobs.enqueue('notifications', 'record', { key: 'after' });
      await waitFor(() => count('after') === 1, 'a later job');
      expect(count('twice')).toBe(1);
      expect(count('keyed')).toBe(1);
    });

    it('enqueues inside a transaction: a rolled-back job never runs, a committed one does', async () => {
      await expect(
        h.db.transaction().execute(async (trx) => {
          await h.jobs.enqueue('notifications', 'record', { key: 'rolled-back' }, { db: trx });
          throw new Error('business rule failed');
        }),
      ).rejects.toThrow('business rule failed');
      await h.db.transaction().execute(async (trx) => {
        await sql`SELECT 1`.execute(trx);
        await h.jobs.enqueue('notifications', 'record', { key: 'committed' }, { db: trx });
      });
      await waitFor(() => count('committed') === 1, 'the committed job');
      // The committed job was enqueued after the rolled-back one and has run; give a straggler a moment more.
      await h.jobs.enqueue('notifications', 'record', { key: 'marker' });
      await waitFor(() => count('marker') === 1, 'a marker job');
      expect(count('rolled-back')).toBe(0);
    });

    it('makes progress readable while the job runs', async () => {
      const { id } = await h.jobs.enqueue('notifications', 'slow', { key: 'slow' });
      const running = await waitFor(async () => {
        const job = await h.jobs.getJob('notifications', id);
        return job?.state === 'active' && job.progress === 50 ? job : undefined;
      }, 'progress 50 while active');
      expect(running.progress).toBe(50);
      releaseSlow();
      await waitFor(async () => (await h.jobs.getJob('notifications', id))?.state === 'completed', 'completion');
      expect((await h.jobs.getJob('notifications', id))?.progress).toBe(100);
    });

    it('retries a failed attempt with backoff and then succeeds once', async () => {
      flakyFailures = 1;
      await h.jobs.enqueue('email', 'flaky', { key: 'flaky' }, { backoffMs: 1000 });
      await waitFor(() => count('flaky') === 1, 'the retried job to succeed');
      expect(count('flaky:attempt1')).toBe(1);
      expect(count('flaky:attempt2')).toBe(1);
    });

    it('dead-letters a job that exhausts its attempts, lists it, and re-drives it', async () => {
      const { id } = await h.jobs.enqueue('email', 'always-fails', { key: 'exhausted' }, { attempts: 2, backoffMs: 1000 });
      const dead = await waitFor(async () => (await h.jobs.listDeadLetters('email')).find((job) => job.id === id), 'the dead letter');
      expect(dead).toMatchObject({ queue: 'email', name: 'always-fails', data: { key: 'exhausted' }, error: 'permanent failure' });
      expect(count('exhausted')).toBe(2);
      heal = true;
      expect(await h.jobs.redrive('email', [id])).toBe(1);
      await waitFor(() => count('exhausted') === 3, 'the re-driven job to run');
      await waitFor(async () => !(await h.jobs.listDeadLetters('email')).some((job) => job.id === id), 'the dead letter to leave the list');
      heal = false;
    });

    it('fails an unrecoverable error and an unknown job name at once, without retries', async () => {
      const bad = await h.jobs.enqueue('email', 'bad-input', { key: 'unrecoverable' });
      const unknown = await h.jobs.enqueue('email', 'no-such-processor', { key: 'unknown' });
      await waitFor(async () => {
        const ids = (await h.jobs.listDeadLetters('email')).map((job) => job.id);
        return ids.includes(bad.id) && ids.includes(unknown.id);
      }, 'both in the dead-letter list');
      expect(count('unrecoverable')).toBe(1);
      const dead = (await h.jobs.listDeadLetters('email')).find((job) => job.id === bad.id);
      expect(dead).toMatchObject({ name: 'bad-input', data: { key: 'unrecoverable' }, error: 'bad input' });
      expect(await h.jobs.getJob('email', bad.id)).toMatchObject({ state: 'dead', attemptsMade: 1 });
    });

    it("aborts a running job's signal when the stop's grace period runs out", async () => {
      const short = await startJobsHarness({ ...env, SHUTDOWN_GRACE_MS: '300', ...(driver === 'bullmq' && { BULLMQ_PREFIX: `${prefix}-grace` }) });
      let started = false;
      let aborted = false;
      short.jobs.register('notifications', 'stubborn', (_data, context) => {
        started = true;
        return new Promise<void>((resolve) => {
          context.signal.addEventListener('abort', () => ((aborted = true), resolve()), { once: true });
        });
      });
      try {
        await short.jobs.onApplicationBootstrap();
        await short.jobs.enqueue('notifications', 'stubborn', { key: 'grace' });
        await waitFor(() => started, 'the job to start');
        expect(aborted).toBe(false);
        await short.jobs.beforeApplicationShutdown();
        expect(aborted).toBe(true);
      } finally {
        await short.close();
        if (driver === 'bullmq' && redisUrl) await deleteRedisPrefix(redisUrl, `${prefix}-grace`);
      }
    });

    it('keeps only the error message with a failed job, never a stack trace', async () => {
      const { id } = await h.jobs.enqueue('email', 'bad-input', { key: 'no-stack' });
      await waitFor(async () => (await h.jobs.getJob('email', id))?.state === 'dead', 'the job to be dead-lettered');
      const stored = await storedFailure(id);
      expect(stored).toContain('bad input');
      // A stack frame names a source file with line and column.
      expect(stored).not.toMatch(/\.[cm]?[jt]s:\d+:\d+/);
    });

    /** Everything the backend keeps of a failed job, as text: pg-boss's rows (the job and its dead-letter copy) or BullMQ's hash. */
    async function storedFailure(id: string): Promise<string> {
      if (driver === 'pgboss') {
        const rows = await sql<{ stored: unknown }>`SELECT json_build_array(output, source_output) AS stored FROM pgboss.job WHERE id = ${id} OR source_id = ${id}`.execute(h.db);
        expect(rows.rows.length).toBe(2);
        return JSON.stringify(rows.rows);
      }
      const redis = new Redis(redisUrl!);
      try {
        const hash = await redis.hgetall(`${prefix}:email:${id}`);
        expect(hash.failedReason).toBe('bad input');
        return JSON.stringify(hash);
      } finally {
        redis.disconnect();
      }
    }

    it('reports queue sizes and job metrics', async () => {
      const sizes = await h.jobs.sizes();
      expect(Object.keys(sizes).sort()).toEqual(['data-export', 'email', 'image-processing', 'notifications']);
      const text = await h.metrics.registry.metrics();
      expect(text).toMatch(/jobs_total\{[^}]*outcome="completed"[^}]*\} \d+/);
      expect(text).toMatch(/jobs_total\{[^}]*outcome="retried"/);
      expect(text).toMatch(/jobs_total\{[^}]*outcome="dead_lettered"/);
      expect(text).toContain('job_duration_seconds_bucket');
      expect(text).toMatch(/job_queue_size\{[^}]*queue="email"/);
    });

    it('stops taking jobs on stop and lets a held job finish first', async () => {
      const { id } = await h.jobs.enqueue('notifications', 'slow', { key: 'held' });
      await waitFor(async () => (await h.jobs.getJob('notifications', id))?.state === 'active', 'the job to be held');
      const stopping = h.jobs.beforeApplicationShutdown();
      setTimeout(() => releaseSlow(), 300);
      await stopping;
      expect(count('held')).toBe(1);
      await h.jobs.enqueue('notifications', 'record', { key: 'after-stop' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(count('after-stop')).toBe(0);
    });
  });
}
