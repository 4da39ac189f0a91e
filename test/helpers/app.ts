import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import pino from 'pino';
import { Writable } from 'node:stream';
import { createApp } from '../../src/app.factory.js';
import { loadConfig, type AppConfig } from '../../src/platform/config/config.schema.js';
import { LifecycleService } from '../../src/platform/health/lifecycle.service.js';
import { loggerOptions } from '../../src/platform/observability/logger.js';
import { createTestDatabase, dropTestDatabase } from './database.js';
import { endPool } from './pool.js';
import { createPrincipal, type TestPrincipal } from './principals.js';

export interface TestApp {
  /**
   * The application. Its inject() sends `admin`'s access token unless the request sets its own
   * Authorization header, so tests about something else than authorization read as before.
   */
  app: NestFastifyApplication;
  /** A platform admin (admin of the default organization), created at start. */
  admin: TestPrincipal;
  /** inject() with no Authorization header: an anonymous caller. */
  anonymous(options: InjectOptions | string): Promise<LightMyRequestResponse>;
  config: AppConfig;
  /** A direct connection to the app's database, for asserting rows. */
  sql: pg.Pool;
  /** Every line the app logged, parsed. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface StartOptions {
  /**
   * Another test app's database, to run a second replica on it (shared cache prefix too); it is
   * left for the app that created it to drop.
   */
  shareDatabaseOf?: TestApp;
}

/**
 * Boots the real application on its own cloned database, ready for inject(). Logs are captured in
 * memory (tests assert on them) instead of printed.
 */
export async function startTestApp(env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestApp> {
  const shared = options.shareDatabaseOf;
  const databaseUrl = shared ? shared.config.DATABASE_URL! : await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    // Test files run in parallel on one Redis, each on its own database: the cache prefix follows
    // the database, so replicas of one test share entries and other files never see them.
    CACHE_KEY_PREFIX: `gw-test:${new URL(databaseUrl).pathname.slice(1)}`,
    MIGRATE_ON_START: 'false',
    LOG_LEVEL: 'info',
    DATA_DIR: '.data/test',
    // Every injected request comes from 127.0.0.1; tests that sign up many users must not trip the
    // per-IP sign-up limit, which its own test sets low.
    AUTH_REGISTER_MAX_PER_IP: '10000',
    ...env,
  });
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino(loggerOptions(config), sink);
  const { app } = await createApp(config, logger);
  app.get(LifecycleService).markServing();
  const sql = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const admin = await createPrincipal(app, sql, { role: 'admin', email: shared ? undefined : 'test-admin@principals.test', name: 'Test Admin' });
  const anonymous = app.inject.bind(app) as (options: InjectOptions | string) => Promise<LightMyRequestResponse>;
  authorizeByDefault(app, anonymous, admin);
  return {
    app,
    admin,
    anonymous,
    config,
    sql,
    logs,
    async close() {
      await app.close();
      await endPool(sql);
      if (!shared) await dropTestDatabase(databaseUrl);
    },
  };
}

/** Replaces app.inject with one that adds the principal's bearer token when the request names none. */
function authorizeByDefault(
  app: NestFastifyApplication,
  anonymous: (options: InjectOptions | string) => Promise<LightMyRequestResponse>,
  principal: TestPrincipal,
): void {
  const withToken = (options: InjectOptions | string): Promise<LightMyRequestResponse> => {
    const request: InjectOptions = typeof options === 'string' ? { url: options } : options;
    const headers = request.headers ?? {};
    const named = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
    return anonymous(named ? request : { ...request, headers: { ...headers, ...principal.headers } });
  };
  Object.defineProperty(app, 'inject', { value: withToken, configurable: true, writable: true });
}
