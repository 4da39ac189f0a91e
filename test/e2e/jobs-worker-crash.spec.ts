import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { deleteRedisPrefix, queueDriverCases, waitFor } from '../helpers/jobs.js';
import { buildProject, exitWithin, httpRequest, killIfRunning, spawnNode, type ServiceProcess } from '../helpers/process.js';

interface ExportJson {
  id: string;
  status: string;
  progress: number;
  rowCount: number;
}

const redisUrl = process.env.REDIS_URL;
/**
 * A real worker process (APP_ROLE=worker, the built service) is killed with SIGKILL in the middle of
 * an export: the job is picked up again by another worker once the dead one's heartbeat lapses, and
 * its effect (one complete file, one completed status, one notification) happens once. pg-boss
 * notices through the job's heartbeat, BullMQ through its lock and stalled-job check.
 */
for (const { driver, env, skip } of queueDriverCases()) {
  describe.skipIf(skip !== undefined)(`a ${driver} worker killed with -9 mid-job`, () => {
    let t: TestApp;
    const workers: ServiceProcess[] = [];
    const startWorker = (): ServiceProcess => {
      const worker = spawnNode('dist/src/main.js', [], {
        DATABASE_URL: t.config.DATABASE_URL ?? '',
        APP_ROLE: 'worker',
        PORT: '0',
        GRPC_PORT: '0',
        MIGRATE_ON_START: 'false',
        DATA_DIR: t.config.DATA_DIR,
        JOB_HEARTBEAT_SECONDS: '10',
        LOG_LEVEL: 'info',
        ...env,
      });
      workers.push(worker);
      return worker;
    };

    beforeAll(async () => {
      await buildProject();
      // This process only enqueues; the jobs run in the spawned workers.
      t = await startTestApp({ APP_ROLE: 'api', ...env });
      await t.sql.query(`INSERT INTO users (id, email, name, status, organization_id, created_at)
        SELECT gen_random_uuid(), 'crash-' || g || '@export.test', 'Crash ' || g, 'active', (SELECT id FROM organizations WHERE slug = 'default'),
               now() - g * interval '1 millisecond'
        FROM generate_series(1, 60000) AS g`);
    }, 240_000);
    afterAll(async () => {
      for (const worker of workers) await killIfRunning(worker);
      await t?.close();
      if (driver === 'bullmq' && redisUrl) await deleteRedisPrefix(redisUrl, env.BULLMQ_PREFIX!);
    });

    it('runs the job again on another worker and its effect happens once', async () => {
      const expected = Number((await t.sql.query<{ n: string }>("SELECT count(*) AS n FROM users WHERE status = 'active'")).rows[0]!.n);
      const created = await t.app.inject({ method: 'POST', url: '/exports', payload: { resource: 'users', format: 'csv', filters: { status: 'active' } } });
      const { id } = created.json<ExportJson>();
      const status = async (): Promise<ExportJson> => (await t.app.inject({ method: 'GET', url: `/exports/${id}` })).json<ExportJson>();

      const first = startWorker();
      const serving = await first.waitForLine((line) => line.msg === 'groundwork is serving', 60_000);
      // A worker serves probes and metrics, and nothing else.
      const url = String(serving.url);
      expect((await httpRequest(`${url}/health/live`)).status).toBe(200);
      expect((await httpRequest(`${url}/users`)).status).toBe(404);

      await waitFor(async () => {
        const body = await status();
        return body.status === 'running' && body.progress > 0 && body.progress < 90;
      }, 'the export to be part-way', 120_000);
      first.child.kill('SIGKILL');
      expect(await exitWithin(first, 10_000)).toBe('SIGKILL');
      const interrupted = await status();
      expect(interrupted.status).toBe('running');

      startWorker();
      const done = await waitFor(async () => {
        const body = await status();
        return body.status === 'completed' ? body : undefined;
      }, 'the export to complete on the second worker', 180_000);
      expect(done.rowCount).toBe(expected);
      const file = await t.app.inject({ method: 'GET', url: `/exports/${id}/download` });
      expect(file.body.trimEnd().split('\n')).toHaveLength(expected + 1);
      const notified = await waitFor(async () => {
        const { rows } = await t.sql.query<{ n: string }>("SELECT count(*) AS n FROM notifications WHERE kind = 'export-ready' AND body LIKE $1", [`%${id}%`]);
        return rows[0]!.n === '1' ? rows[0] : undefined;
      }, 'the export-ready notification');
      expect(notified.n).toBe('1');
    }, 420_000);
  });
}
