/**
 * Login throughput against the argon2id ceiling, in one run:
 *
 *   npm run bench:login [-- --seconds 10 --connections 8]
 *
 * 1. Raw: argon2id verifications per second at the configured parameters, with as many in flight
 *    as the load has connections (they share libuv's thread pool, as logins do).
 * 2. Login: POST /auth/login per second against the real app (embedded PostgreSQL under
 *    DATA_DIR=.data/bench-login, real sockets, autocannon), every request a successful login that
 *    also writes its refresh token, audit row and log line.
 * Prints both and their ratio. Login is dominated by the one verification it must do, so the
 * ratio shows what everything else (HTTP, validation, SQL, signing, audit) costs; the target is
 * at least 90%. Run it on an otherwise idle machine.
 */
import 'reflect-metadata';
import autocannon from 'autocannon';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createApp } from '../src/app.factory.js';
import { loadConfig } from '../src/platform/config/config.schema.js';
import { LifecycleService } from '../src/platform/health/lifecycle.service.js';
import { loggerOptions } from '../src/platform/observability/logger.js';
import { PasswordHasher } from '../src/platform/security/password-hasher.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '8' } },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const print = (line: string): void => void process.stdout.write(`${line}\n`);

const config = loadConfig({
  ...process.env,
  DATA_DIR: process.env.DATA_DIR ?? '.data/bench-login',
  PORT: '0',
  // Only failures count against the throttle, and every login here succeeds; the high limit only
  // keeps a mistyped setup from turning the run into a 429 benchmark.
  AUTH_LOGIN_MAX_FAILURES_PER_IP: '100000',
});
const params = { memoryCost: config.AUTH_ARGON2_MEMORY_KIB, timeCost: config.AUTH_ARGON2_TIME_COST, parallelism: config.AUTH_ARGON2_PARALLELISM };
const password = 'bench glacier orbit velvet kumquat 42';
const email = `load-${Date.now()}@example.com`;

/** Verifications per second with `concurrency` in flight, over `durationSec`. */
async function rawVerifications(durationSec: number, concurrency: number): Promise<number> {
  const hasher = new PasswordHasher(params);
  const hash = await hasher.hash(password);
  const deadline = performance.now() + durationSec * 1000;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      if (!(await hasher.verify(hash, password))) throw new Error('verification failed');
      done += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  print(`argon2id m=${params.memoryCost} KiB, t=${params.timeCost}, p=${params.parallelism}; ${connections} in flight, ${seconds} s each; UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
  // Log lines are produced and serialized as in production, then discarded.
  const logger = pino(loggerOptions(config), pino.destination({ dest: '/dev/null', sync: false }));
  const { app } = await createApp(config, logger);
  await app.listen({ port: 0, host: '127.0.0.1' });
  app.get(LifecycleService).markServing();
  const address = app.getHttpServer().address();
  if (address === null || typeof address !== 'object') throw new Error('no listening address');
  const url = `http://127.0.0.1:${address.port}`;
  try {
    const registered = await fetch(`${url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, name: 'Load Runner', password }),
    });
    if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${await registered.text()}`);

    await rawVerifications(1, connections); // warm-up: thread pool, JIT
    const raw = await rawVerifications(seconds, connections);
    print(`raw argon2id verify: ${raw.toFixed(1)} /s`);

    const body = JSON.stringify({ email, password });
    const request = { url: `${url}/auth/login`, method: 'POST' as const, headers: { 'content-type': 'application/json' }, body, connections };
    await autocannon({ ...request, duration: 1 }); // warm-up
    const result = await autocannon({ ...request, duration: seconds });
    const ok = result['2xx'];
    if (result.non2xx > 0 || result.errors > 0) print(`warning: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
    const logins = ok / seconds;
    print(`POST /auth/login:    ${logins.toFixed(1)} /s (p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms)`);
    const ratio = logins / raw;
    print(`ratio: ${(ratio * 100).toFixed(1)}% of raw argon2id (target >= 90%)`);
  } finally {
    await app.close();
  }
}

await main();
