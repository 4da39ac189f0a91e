import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.factory.js';
import { loadConfig } from '../../src/platform/config/config.schema.js';
import { LifecycleService } from '../../src/platform/health/lifecycle.service.js';
import { loggerOptions } from '../../src/platform/observability/logger.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { ignoreClosingErrors } from '../helpers/pool.js';
import { createTestDatabase, dropTestDatabase } from '../helpers/database.js';

interface HealthBody {
  status: 'ok' | 'error';
  info?: Record<string, { status: 'up' | 'down'; [key: string]: unknown }>;
  error?: Record<string, { status: 'up' | 'down'; [key: string]: unknown }>;
  details: Record<string, { status: 'up' | 'down'; [key: string]: unknown }>;
}

describe('health', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    ignoreClosingErrors(t.sql);
  });
  afterAll(async () => {
    await t?.close();
  });
  afterEach(() => {
    t.app.get(LifecycleService).markServing();
  });

  it('live answers 200 with no dependency checks', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json<HealthBody>()).toMatchObject({ status: 'ok', details: {} });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('ready answers 200 while serving with a reachable database', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    const body = res.json<HealthBody>();
    expect(body.status).toBe('ok');
    expect(body.details.lifecycle).toEqual({ status: 'up', phase: 'serving' });
    expect(body.details.database).toMatchObject({ status: 'up' });
    expect(typeof body.details.database?.latencyMs).toBe('number');
  });

  it('ready answers 503 while draining, and live still answers 200', async () => {
    t.app.get(LifecycleService).markDraining();
    const ready = await t.app.inject({ method: 'GET', url: '/health/ready', headers: { 'x-request-id': 'ready-draining' } });
    expect(ready.statusCode).toBe(503);
    const body = ready.json<HealthBody>();
    expect(body.status).toBe('error');
    expect(body.details.lifecycle).toEqual({ status: 'down', phase: 'draining' });
    expect(body.error?.lifecycle).toEqual({ status: 'down', phase: 'draining' });
    // The database itself is still fine; only the lifecycle makes the instance unready.
    expect(body.details.database).toMatchObject({ status: 'up' });
    expect(ready.headers['x-request-id']).toBe('ready-draining');

    const live = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(live.statusCode).toBe(200);
    // Ordinary traffic is still served during the drain window.
    expect((await t.app.inject({ method: 'GET', url: '/users' })).statusCode).toBe(200);

    expect(ready.headers['cache-control']).toMatch(/no-store/);
    // A failed probe is logged (successful ones are not) with its request id, as a warning: during
    // a drain it is a state, not a server error, and never an unexpected error with a stack.
    const lines = t.logs.filter((line) => line.requestId === 'ready-draining');
    expect(lines).toEqual([expect.objectContaining({ msg: 'request completed', route: '/health/ready', statusCode: 503, level: 'warn' })]);
  });

  it('ready recovers when the instance serves again', async () => {
    const lifecycle = t.app.get(LifecycleService);
    lifecycle.markDraining();
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503);
    lifecycle.markServing();
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });

  it('survives PostgreSQL terminating its connections: logs why, and is ready again on the next probe', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    const { rows } = await t.sql.query<{ terminated: boolean }>(
      `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'groundwork'`,
    );
    expect(rows.length).toBeGreaterThan(0);
    const deadline = Date.now() + 5_000;
    while (!t.logs.some((line) => line.msg === 'idle PostgreSQL client error') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const warning = t.logs.find((line) => line.msg === 'idle PostgreSQL client error');
    expect(warning).toMatchObject({ level: 'warn', err: { code: '57P01' } });
    expect((warning?.err as { message?: string } | undefined)?.message).toMatch(/terminating connection due to administrator command/);
    // The pool replaces the dead connections: the process did not crash (an uncaught client error
    // would fail this file) and readiness recovers. A probe that picked a connection which had not
    // yet noticed its termination may fail once; the ones after it succeed.
    const statuses: number[] = [];
    for (let probe = 0; probe < 20 && statuses.at(-1) !== 200; probe++) {
      statuses.push((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode);
    }
    expect(statuses.at(-1)).toBe(200);
    expect(statuses.length).toBeLessThanOrEqual(3);
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/users' })).statusCode).toBe(200);
  });

  it('a stopped instance stays stopped: draining does not reopen it', () => {
    const lifecycle = new LifecycleService();
    expect(lifecycle.phase).toBe('starting');
    lifecycle.markServing();
    lifecycle.markStopped();
    lifecycle.markDraining();
    expect(lifecycle.phase).toBe('stopped');
  });

  it('details report database, cache, events, the job queue backend, disk and heap', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    const body = res.json<HealthBody>();
    expect(body.status).toBe('ok');
    expect(Object.keys(body.details).sort()).toEqual(['cache', 'database', 'disk', 'events', 'lifecycle', 'memory_heap', 'queue']);
    expect(body.details.events).toMatchObject({ status: 'up', transport: 'in-process' });
    expect(body.details.database).toMatchObject({ status: 'up' });
    // Without REDIS_URL the cache is in-process only (test/integration/cache-redis-outage.spec.ts covers Redis).
    expect(body.details.cache).toMatchObject({ status: 'up', redis: t.config.REDIS_URL ? 'up' : 'disabled' });
    expect(body.details.queue).toMatchObject({ status: 'up', backend: 'pgboss', runsJobs: true });
    expect(body.details.disk).toMatchObject({ status: 'up' });
    expect(body.details.memory_heap).toMatchObject({ status: 'up' });
  });

  it('details answer 503 while draining', async () => {
    t.app.get(LifecycleService).markDraining();
    const res = await t.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json<HealthBody>().details.lifecycle).toEqual({ status: 'down', phase: 'draining' });
  });
});

describe('health before the app serves', () => {
  it('ready answers 503 while the instance is still starting', async () => {
    const databaseUrl = await createTestDatabase();
    const config = loadConfig({ DATABASE_URL: databaseUrl, MIGRATE_ON_START: 'false', LOG_LEVEL: 'silent', DATA_DIR: '.data/test' });
    const { app } = await createApp(config, pino(loggerOptions(config)));
    try {
      expect(app.get(LifecycleService).phase).toBe('starting');
      const ready = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json<HealthBody>().details.lifecycle).toEqual({ status: 'down', phase: 'starting' });
      expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await dropTestDatabase(databaseUrl);
    }
  });
});

describe('health without a database', () => {
  let t: TestApp;
  let databaseName: string;
  beforeAll(async () => {
    t = await startTestApp();
    ignoreClosingErrors(t.sql);
    databaseName = new URL(t.config.DATABASE_URL ?? '').pathname.slice(1);
    // Warm the pool so the app holds open connections, then take the database away under it.
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    await dropTestDatabase(t.config.DATABASE_URL ?? '');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('ready answers 503 with the database down and no connection details', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    const body = res.json<HealthBody>();
    expect(body.status).toBe('error');
    expect(body.details.lifecycle).toEqual({ status: 'up', phase: 'serving' });
    expect(body.details.database).toEqual({ status: 'down', message: 'database did not answer' });
    // Nothing about the server, the database name or the driver's error reaches the client.
    expect(res.body).not.toContain(databaseName);
    expect(res.body).not.toMatch(/does not exist|terminat|ECONNREFUSED|postgres/i);
  });

  it('live still answers 200, so the orchestrator does not restart a process that only lost its database', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
  });

  it('details answer 503 and still report disk and heap', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(503);
    const body = res.json<HealthBody>();
    expect(body.details.database).toMatchObject({ status: 'down' });
    expect(body.details.disk).toMatchObject({ status: 'up' });
    expect(body.details.memory_heap).toMatchObject({ status: 'up' });
  });

  it('ordinary requests fail with a 5xx envelope, not a hang', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/users' });
    expect(res.statusCode).toBeGreaterThanOrEqual(500);
    expect(res.json<{ error: { code: string } }>().error.code).toMatch(/^(INTERNAL|SERVICE_UNAVAILABLE)$/);
  });
});
