import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobsService } from '../../src/platform/jobs/jobs.service.js';
import { UnrecoverableJobError } from '../../src/platform/jobs/jobs.types.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { deleteRedisPrefix, queueDriverCases, waitFor } from '../helpers/jobs.js';
import { buildProject, exitWithin, killIfRunning, spawnNode, type ServiceProcess } from '../helpers/process.js';

const redisUrl = process.env.REDIS_URL;
/**
 * `npm run jobs:redrive` as an operator runs it: the built script, its own process, configured only
 * through the environment, against a service whose workers dead-lettered a job.
 */
for (const { driver, env, skip } of queueDriverCases()) {
  describe.skipIf(skip !== undefined)(`jobs:redrive on ${driver}`, () => {
    let t: TestApp;
    const scripts: ServiceProcess[] = [];
    let runs = 0;
    let heal = false;

    const redriveScript = async (args: string[]): Promise<{ code: number | string; script: ServiceProcess }> => {
      const script = spawnNode('dist/scripts/jobs-redrive.js', args, {
        DATABASE_URL: t.config.DATABASE_URL ?? '',
        MIGRATE_ON_START: 'false',
        DATA_DIR: t.config.DATA_DIR,
        ...env,
      });
      scripts.push(script);
      return { code: await exitWithin(script, 60_000), script };
    };

    beforeAll(async () => {
      await buildProject();
      t = await startTestApp(env);
      t.app.get(JobsService).register('email', 'redrive-me', () => {
        runs++;
        return heal ? Promise.resolve() : Promise.reject(new UnrecoverableJobError('the input cannot be handled'));
      });
    }, 240_000);
    afterAll(async () => {
      for (const script of scripts) await killIfRunning(script);
      await t?.close();
      if (driver === 'bullmq' && redisUrl) await deleteRedisPrefix(redisUrl, env.BULLMQ_PREFIX!);
    });

    it('lists the dead-lettered job, re-drives it by id, and the job runs again', async () => {
      const jobs = t.app.get(JobsService);
      const { id } = await jobs.enqueue('email', 'redrive-me', { case: driver });
      await waitFor(async () => (await jobs.getJob('email', id))?.state === 'dead', 'the job to be dead-lettered');
      expect(runs).toBe(1);

      const listed = await redriveScript(['--queue', 'email', '--list']);
      expect(listed.code).toBe(0);
      expect(listed.script.lines).toContainEqual(expect.objectContaining({ id, queue: 'email', name: 'redrive-me', data: { case: driver }, error: 'the input cannot be handled' }));

      heal = true;
      const redriven = await redriveScript(['--queue', 'email', '--id', id]);
      expect(redriven.code).toBe(0);
      expect(redriven.script.strayStdout).toEqual(['re-drove 1 job(s) of email']);
      await waitFor(() => runs === 2, 'the re-driven job to run');
      await waitFor(async () => !(await jobs.listDeadLetters('email', 1000)).some((job) => job.id === id), 'the dead letter to leave the list');

      // Nothing left to move: a second re-drive of the same id moves nothing and still succeeds.
      const again = await redriveScript(['--queue', 'email', '--id', id]);
      expect(again.code).toBe(0);
      expect(again.script.strayStdout).toEqual(['re-drove 0 job(s) of email']);
      expect(runs).toBe(2);
    }, 180_000);

    it('refuses an unknown queue or flag with the usage line and exit code 64', async () => {
      for (const args of [['--queue', 'no-such-queue'], ['--queue', 'email', '--everything'], []]) {
        const { code, script } = await redriveScript(args);
        expect(code).toBe(64);
        expect(script.stderr()).toContain('usage: jobs:redrive');
      }
    }, 60_000);
  });
}
