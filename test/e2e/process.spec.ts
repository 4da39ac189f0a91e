import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { createTestDatabase, dropTestDatabase } from '../helpers/database.js';
import { createEmptyDatabase } from '../helpers/empty-database.js';
import { endPool } from '../helpers/pool.js';
import { waitFor } from '../helpers/wait.js';
import {
  buildProject,
  exitWithin,
  httpRequest,
  killIfRunning,
  processesMentioning,
  signInOverHttp,
  spawnNode,
  type ServiceProcess,
} from '../helpers/process.js';

/**
 * The "password never logged" checks need a password to look for. A server with trust auth (the
 * machine's PostgreSQL in CI) ignores it, so one is added when the URL has none.
 */
function withSecretPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password === '') parsed.password = 'never-logged-secret-7d41';
  return parsed.toString();
}

/** Every migration in order, and the latest (the one `down` reverts first). */
const MIGRATIONS = Object.keys(migrations);
const LATEST_MIGRATION = MIGRATIONS.at(-1)!;

// The real process, over real sockets: the compiled entry point started with the pinned Node,
// configured only through its environment, stopped with real signals.
const MAIN = 'dist/src/main.js';
const MIGRATE = 'dist/scripts/migrate.js';

const started: ServiceProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];

function start(script: string, args: string[], env: Record<string, string>): ServiceProcess {
  const service = spawnNode(script, args, env);
  started.push(service);
  return service;
}

function nodeMajor(version: unknown): number {
  const match = /^v(\d+)\./.exec(String(version));
  return match ? Number(match[1]) : 0;
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

beforeAll(async () => {
  await buildProject();
}, 180_000);

afterAll(async () => {
  // Nothing this file started may outlive it.
  for (const service of started) await killIfRunning(service);
  for (const cleanup of cleanups.reverse()) await cleanup();
}, 60_000);

describe('boot with a bad configuration', () => {
  it('exits 78 with exactly one stderr line naming the variable', async () => {
    const service = start(MAIN, [], { PORT: 'abc' });
    expect(await exitWithin(service, 20_000)).toBe(78);
    const stderrLines = service.stderr().split('\n').filter((line) => line.length > 0);
    expect(stderrLines).toHaveLength(1);
    expect(stderrLines[0]).toMatch(/^Invalid configuration: PORT /);
    expect(service.lines).toEqual([]);
    expect(service.strayStdout).toEqual([]);
  });

  it('does not echo a sensitive value it rejects', async () => {
    const secret = `S3cret${randomBytes(4).toString('hex')}`;
    const service = start(MAIN, [], { DATABASE_URL: `mysql://admin:${secret}@db.internal/app` });
    expect(await exitWithin(service, 20_000)).toBe(78);
    expect(service.stderr()).toMatch(/^Invalid configuration: DATABASE_URL [^\n]*\n$/);
    expect(service.stderr()).not.toContain(secret);
  });
});

describe('serving and graceful shutdown on an external database', () => {
  let databaseUrl: string;
  let service: ServiceProcess;
  let baseUrl: string;
  let port: number;
  // The development bootstrap creates this admin at start; requests to protected routes use its token.
  const adminEmail = `admin-${randomBytes(4).toString('hex')}@process.test`;
  const adminPassword = `Pw-${randomBytes(12).toString('base64url')}`;
  let auth: { authorization: string };

  beforeAll(async () => {
    databaseUrl = withSecretPassword(await createTestDatabase());
    cleanups.push(() => dropTestDatabase(databaseUrl));
    service = start(MAIN, [], {
      DATABASE_URL: databaseUrl,
      HOST: '127.0.0.1',
      PORT: '0',
      GRPC_PORT: '0',
      READINESS_DRAIN_MS: '1500',
      SHUTDOWN_GRACE_MS: '10000',
      MIGRATE_ON_START: 'false',
      DATA_DIR: path.join(tmpdir(), `gw-process-ext-${randomBytes(4).toString('hex')}`),
      LOG_LEVEL: 'info',
      ADMIN_EMAIL: adminEmail,
      ADMIN_PASSWORD: adminPassword,
    });
    const serving = await service.waitForLine((line) => line.msg === 'groundwork is serving', 30_000);
    baseUrl = String(serving.url);
    port = Number(new URL(baseUrl).port);
    auth = await signInOverHttp(baseUrl, adminEmail, adminPassword);
  }, 60_000);

  it('logs where it serves, on the pinned Node 24+, without the database password', () => {
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(port).toBeGreaterThan(0);
    const startingLine = service.lines.find((line) => line.msg === 'starting groundwork');
    const servingLine = service.lines.find((line) => line.msg === 'groundwork is serving');
    expect(nodeMajor(startingLine?.node)).toBeGreaterThanOrEqual(24);
    expect(nodeMajor(servingLine?.node)).toBeGreaterThanOrEqual(24);
    expect(startingLine?.config).toMatchObject({ DATABASE_URL: '[redacted]', PORT: 0, GRPC_PORT: 0, READINESS_DRAIN_MS: 1500 });
    const everything = JSON.stringify(service.lines) + service.stderr();
    expect(everything).not.toContain(databaseUrl);
    expect(everything).not.toContain(new URL(databaseUrl).password);
    expect(everything).not.toContain(adminPassword);
    // Every stdout line is one JSON log line.
    expect(service.strayStdout).toEqual([]);
  });

  it('answers over a real socket, with the request id header', async () => {
    const ready = await httpRequest(`${baseUrl}/health/ready`);
    expect(ready.status).toBe(200);
    expect((await httpRequest(`${baseUrl}/users`)).status).toBe(401);
    const users = await httpRequest(`${baseUrl}/users`, { headers: auth });
    expect(users.status).toBe(200);
    expect(users.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('on SIGTERM: fails readiness while draining, finishes the in-flight request, then exits 0', async () => {
    // An in-flight request: headers and half the body sent before the signal, the rest only after
    // the listener has closed. The service must still answer it before exiting.
    const email = `inflight-${randomUUID()}@example.com`;
    const body = JSON.stringify({ email, name: 'In Flight' });
    const half = Math.floor(body.length / 2);
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let response = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (response += chunk));
    const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      `POST /users HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-ID: inflight-1\r\n\r\n${body.slice(0, half)}`,
    );
    await sleep(200);

    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    await service.waitForLine((line) => line.msg === 'shutdown started: readiness now fails', 5_000);
    // An impatient second signal (Ctrl-C after SIGTERM) does not cut the drain short.
    service.child.kill('SIGINT');
    await service.waitForLine((line) => line.msg === 'shutdown already in progress', 5_000);

    // During the drain window: readiness 503, liveness 200, ordinary requests still served.
    const ready = await httpRequest(`${baseUrl}/health/ready`, { headers: { 'x-request-id': 'drain-probe' } });
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'error', details: { lifecycle: { status: 'down', phase: 'draining' } } });
    expect((await httpRequest(`${baseUrl}/health/live`)).status).toBe(200);
    expect((await httpRequest(`${baseUrl}/users`, { headers: auth })).status).toBe(200);
    expect(Date.now() - signalledAt).toBeLessThan(1500);

    // After the drain window the listener closes: new connections are refused...
    await waitFor(() => connectionRefused(port), 'the listener to close', 10_000);
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(1400);
    expect(service.child.exitCode).toBeNull();
    // ...while the request that was already in flight completes normally.
    socket.write(body.slice(half));
    await waitFor(() => response.includes('\r\n\r\n') && response.endsWith('}'), 'the in-flight response', 10_000);
    expect(response).toMatch(/^HTTP\/1\.1 201 /);
    expect(response.toLowerCase()).toContain('x-request-id: inflight-1');
    expect(response).toContain(email);
    socket.end();
    await socketClosed;

    expect(await exitWithin(service, 20_000)).toBe(0);
    const messages = service.lines.map((line) => line.msg);
    expect(messages).toContain('shutdown complete');
    expect(messages.indexOf('shutdown started: readiness now fails')).toBeLessThan(messages.indexOf('shutdown complete'));
    expect(service.lines.find((line) => line.msg === 'shutdown started: readiness now fails')).toMatchObject({ signal: 'SIGTERM' });
    // Apart from the failed probe and the second signal, a clean shutdown writes no warnings or
    // errors, and nothing to stderr.
    const problems = service.lines.filter((line) => line.level === 'warn' || line.level === 'error' || line.level === 'fatal');
    expect(problems).toEqual([
      // The anonymous request of the previous test, refused as it should be.
      expect.objectContaining({ level: 'warn', msg: 'request completed', route: '/users', statusCode: 401 }),
      expect.objectContaining({ level: 'warn', msg: 'shutdown already in progress', signal: 'SIGINT' }),
      expect.objectContaining({ level: 'warn', msg: 'request completed', requestId: 'drain-probe', statusCode: 503 }),
    ]);
    expect(service.stderr()).toBe('');

    // The in-flight request's write was committed before the pool closed.
    const check = new pg.Client({ connectionString: databaseUrl });
    await check.connect();
    try {
      const { rows } = await check.query<{ email: string }>('SELECT email FROM users WHERE email = $1', [email]);
      expect(rows).toEqual([{ email }]);
      // The service closed its pool: no connection of it is left on the server.
      const sessions = await check.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'groundwork'`,
      );
      expect(sessions.rows[0]?.n).toBe(0);
    } finally {
      await check.end();
    }
  }, 60_000);
});

describe('zero-configuration start on the embedded PostgreSQL', () => {
  const dataDir = path.join(tmpdir(), `gw-process-embedded-${randomBytes(4).toString('hex')}`);
  const pgDir = path.join(dataDir, 'pg');
  const adminEmail = `admin-${randomBytes(4).toString('hex')}@process.test`;
  const adminPassword = `Pw-${randomBytes(12).toString('base64url')}`;
  const env = { HOST: '127.0.0.1', PORT: '0', GRPC_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info', ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: adminPassword };

  beforeAll(() => {
    cleanups.push(async () => {
      // If a test failed half way, the server the service started may still run: stop it by pid.
      for (const { pid } of await processesMentioning(pgDir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await rm(dataDir, { recursive: true, force: true });
    });
  });

  async function startEmbedded(): Promise<{ service: ServiceProcess; baseUrl: string }> {
    const service = start(MAIN, [], env);
    const serving = await service.waitForLine((line) => line.msg === 'groundwork is serving', 120_000);
    return { service, baseUrl: String(serving.url) };
  }

  async function stopAndCheck(service: ServiceProcess, signal: NodeJS.Signals): Promise<void> {
    service.child.kill(signal);
    expect(await exitWithin(service, 30_000)).toBe(0);
    const messages = service.lines.map((line) => line.msg);
    expect(messages).toContain('embedded PostgreSQL stopped');
    expect(messages).toContain('shutdown complete');
    expect(service.lines.filter((line) => line.level === 'warn' || line.level === 'error' || line.level === 'fatal')).toEqual([]);
    expect(service.stderr()).toBe('');
    // The server is gone with the service: no process runs on its data directory, and it shut
    // down cleanly (PostgreSQL removes its pid file on a clean stop).
    expect(await processesMentioning(pgDir)).toEqual([]);
    expect(existsSync(path.join(pgDir, 'postmaster.pid'))).toBe(false);
  }

  it('initialises DATA_DIR, migrates, serves; the data survives a restart; nothing is left running', async () => {
    expect(existsSync(dataDir)).toBe(false);
    const first = await startEmbedded();
    expect(existsSync(path.join(pgDir, 'PG_VERSION'))).toBe(true);
    const firstMessages = first.service.lines.map((line) => line.msg);
    expect(firstMessages).toContain('embedded PostgreSQL started');
    expect(first.service.lines.find((line) => line.msg === 'migrations applied')).toMatchObject({ migrations: MIGRATIONS });
    expect(nodeMajor(first.service.lines.find((line) => line.msg === 'starting groundwork')?.node)).toBeGreaterThanOrEqual(24);
    expect((await processesMentioning(pgDir)).length).toBeGreaterThan(0);

    expect((await httpRequest(`${first.baseUrl}/health/ready`)).status).toBe(200);
    const email = `durable-${randomUUID()}@example.com`;
    const created = await httpRequest(`${first.baseUrl}/users`, {
      method: 'POST',
      body: { email, name: 'Durable' },
      headers: await signInOverHttp(first.baseUrl, adminEmail, adminPassword),
    });
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.body) as { id: string }).id;

    await stopAndCheck(first.service, 'SIGTERM');

    // Second start on the same DATA_DIR: reuses the cluster, has nothing to migrate, has the user.
    const second = await startEmbedded();
    const secondMessages = second.service.lines.map((line) => line.msg);
    expect(secondMessages).toContain('embedded PostgreSQL started');
    expect(secondMessages).not.toContain('migrations applied');
    // The admin created on the first start is still there (and is not created twice).
    const read = await httpRequest(`${second.baseUrl}/users/${id}`, { headers: await signInOverHttp(second.baseUrl, adminEmail, adminPassword) });
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body)).toMatchObject({ id, email, name: 'Durable' });

    await stopAndCheck(second.service, 'SIGINT');
  }, 240_000);

  it('a start that fails after the database is up (port taken) exits non-zero and leaves no PostgreSQL running', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const service = start(MAIN, [], { ...env, PORT: String(port) });
      expect(await exitWithin(service, 120_000)).toBe(1);
      expect(service.lines.map((line) => line.msg)).toContain('embedded PostgreSQL started');
      expect(service.stderr()).toMatch(/groundwork failed to start: .*EADDRINUSE/);
      // The server runs in its own process group; the service's exit handler asked it to stop.
      const deadline = Date.now() + 20_000;
      while ((await processesMentioning(pgDir)).length > 0 && Date.now() < deadline) await sleep(200);
      expect(await processesMentioning(pgDir)).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  }, 180_000);
});

describe('migration CLI (npm run migrate / migrate:down)', () => {
  let databaseUrl: string;
  let pool: pg.Pool;

  beforeAll(async () => {
    databaseUrl = withSecretPassword(await createEmptyDatabase());
    pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    cleanups.push(async () => {
      await endPool(pool);
      await dropTestDatabase(databaseUrl);
    });
  });

  async function tables(): Promise<string[]> {
    const { rows } = await pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    return rows.map((row) => row.table_name);
  }

  async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | string; stdout: string; stderr: string }> {
    const run = start(MIGRATE, args, env);
    const code = await exitWithin(run, 60_000);
    return { code, stdout: run.strayStdout.join('\n'), stderr: run.stderr() };
  }

  it('up applies pending migrations and says which; a second up has nothing to do', async () => {
    const up = await cli(['up'], { DATABASE_URL: databaseUrl });
    expect(up).toMatchObject({ code: 0, stderr: '' });
    expect(up.stdout).toContain('applied 20261128_0001_identity');
    expect(up.stdout).not.toContain(new URL(databaseUrl).password);
    expect(await tables()).toEqual(expect.arrayContaining(['users', 'organizations', 'kysely_migration']));

    const again = await cli(['up'], { DATABASE_URL: databaseUrl });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/no pending migrations/);
    expect(again.stdout).not.toMatch(/^applied /m);
  });

  it('down reverts the latest migration; with nothing applied it says so', async () => {
    const down = await cli(['down'], { DATABASE_URL: databaseUrl });
    expect(down).toMatchObject({ code: 0, stderr: '' });
    expect(down.stdout).toContain(`reverted ${LATEST_MIGRATION}`);
    expect(down.stdout).not.toContain('20261128_0001_identity');
    expect(await tables()).toContain('users');

    // The rest, one per call, newest first.
    for (const name of MIGRATIONS.slice(0, -1).reverse()) {
      const next = await cli(['down'], { DATABASE_URL: databaseUrl });
      expect(next.stdout).toContain(`reverted ${name}`);
    }
    expect(await tables()).not.toContain('users');

    const again = await cli(['down'], { DATABASE_URL: databaseUrl });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing to revert/);
  });

  it('runs through npm: npm run migrate and npm run migrate:down', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const npm = (script: string) =>
      promisify(execFile)('npm', ['run', '-s', script], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATABASE_URL: databaseUrl },
        timeout: 120_000,
      });
    expect((await npm('migrate')).stdout).toContain('applied 20261128_0001_identity');
    expect(await tables()).toContain('users');
    expect((await npm('migrate:down')).stdout).toContain(`reverted ${LATEST_MIGRATION}`);
    expect(await tables()).toContain('users');
  }, 120_000);

  it('fails with a non-zero exit and a message when the database cannot be reached', async () => {
    const unreachable = new URL(databaseUrl);
    unreachable.port = '1';
    expect(unreachable.password).not.toBe('');
    const result = await cli(['up'], { DATABASE_URL: unreachable.toString() });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^migrate up failed: .*ECONNREFUSED/m);
    expect(result.stderr + result.stdout).not.toContain(unreachable.password);
  });

  it('rejects bad configuration and bad usage', async () => {
    const badConfig = await cli(['up'], { DATABASE_URL: 'not-a-url' });
    expect(badConfig.code).toBe(78);
    expect(badConfig.stderr).toMatch(/^Invalid configuration: DATABASE_URL [^\n]*\n$/);
    const badUsage = await cli(['sideways'], { DATABASE_URL: databaseUrl });
    expect(badUsage.code).toBe(64);
    expect(badUsage.stderr).toMatch(/^usage: migrate <up\|down>/);
  });

  it('uses the embedded PostgreSQL in DATA_DIR/pg when DATABASE_URL is unset, and stops it afterwards', async () => {
    const dataDir = path.join(tmpdir(), `gw-migrate-cli-${randomBytes(4).toString('hex')}`);
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const up = await cli(['up'], { DATA_DIR: dataDir });
    expect(up).toMatchObject({ code: 0, stderr: '' });
    expect(up.stdout).toContain(`using embedded PostgreSQL in ${path.join(dataDir, 'pg')}`);
    expect(up.stdout).toContain('applied 20261128_0001_identity');
    expect(await processesMentioning(path.join(dataDir, 'pg'))).toEqual([]);

    const down = await cli(['down'], { DATA_DIR: dataDir });
    expect(down).toMatchObject({ code: 0, stderr: '' });
    expect(down.stdout).toContain(`reverted ${LATEST_MIGRATION}`);
    expect(await processesMentioning(path.join(dataDir, 'pg'))).toEqual([]);
  }, 120_000);
});
