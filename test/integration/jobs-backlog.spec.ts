import 'reflect-metadata';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteRedisPrefix, queueDriverCases, startJobsHarness, waitFor, type JobsHarness } from '../helpers/jobs.js';

/**
 * A backlog drains at the workers' pace, not the polling interval's. pg-boss's worker loop waits its
 * polling interval (2 s) after every fetch unless a NOTIFY woke it, so 1000 jobs queued before the
 * workers started used to trickle out at one per slot per 2 s (5/s on the email queue): the job
 * throughput bench's "stall" (940 of 1000 done, 60 still created when it was stopped). The bound below
 * is far above what the drain takes now and far below the 200 s the old loop needed.
 */
const JOBS = 1000;
const BOUND_MS = 90_000;
const redisUrl = process.env.REDIS_URL;
for (const { driver, env, skip } of queueDriverCases()) {
  const prefix = env.BULLMQ_PREFIX ?? '';
  if (skip) {
    describe(`job backlog on ${driver}`, () => {
      it.skip(`skipped: ${skip}`, () => undefined);
    });
    continue;
  }

  describe(`job backlog on ${driver}`, () => {
    let h: JobsHarness;
    const done = new Set<number>();
    let others = 0;

    beforeAll(async () => {
      h = await startJobsHarness(env);
      h.jobs.register<{ i: number }>('email', 'noop', (data) => {
        done.add(data.i);
        return Promise.resolve();
      });
      // The other queues are busy at the same time, sharing the driver's connections.
      h.jobs.register<{ i: number }>('notifications', 'noop', () => {
        others++;
        return Promise.resolve();
      });
      h.jobs.register<{ i: number }>('data-export', 'slow', async () => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        others++;
      });
    });
    afterAll(async () => {
      await h?.close();
      if (driver === 'bullmq' && redisUrl) await deleteRedisPrefix(redisUrl, prefix);
    });

    it(`runs every one of ${JOBS} jobs queued before the workers started, and those queued while they run`, async () => {
      const before = Array.from({ length: JOBS / 2 }, (_, i) => i);
      const during = Array.from({ length: JOBS / 2 }, (_, i) => JOBS / 2 + i);
      for (const i of before) await h.jobs.enqueue('email', 'noop', { i });
      for (let i = 0; i < 200; i++) await h.jobs.enqueue('notifications', 'noop', { i });
      for (let i = 0; i < 10; i++) await h.jobs.enqueue('data-export', 'slow', { i });
      await h.jobs.onApplicationBootstrap();
      // Enqueued in parallel bursts while the workers drain the backlog.
      for (let k = 0; k < during.length; k += 50) await Promise.all(during.slice(k, k + 50).map((i) => h.jobs.enqueue('email', 'noop', { i })));

      await waitFor(() => done.size === JOBS, `all ${JOBS} email jobs to run`, BOUND_MS).catch(async (error: unknown) => {
        const sizes = await h.jobs.sizes();
        throw new Error(`${String(error)}; ${done.size} of ${JOBS} ran, queue sizes ${JSON.stringify(sizes)}`);
      });
      await waitFor(() => others === 210, 'the other queues to drain', BOUND_MS);
      await waitFor(async () => (await h.jobs.sizes()).email === 0, 'the email queue to report empty');
      if (driver === 'pgboss') {
        const left = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'email' AND state <> 'completed'`.execute(h.db);
        expect(left.rows[0]?.n).toBe(0);
      }
    }, BOUND_MS * 2 + 60_000);
  });
}
