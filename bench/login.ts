/**
 * Login throughput against the argon2id ceiling, in one run:
 *
 *   npm run bench:login [-- --rounds 5 --seconds 6 --connections 8]
 *
 * Three processes besides this runner, so none measures the others' CPU:
 * 1. Raw (bench/argon2-raw.ts, forked): argon2id verifications per second at the configured
 *    parameters, with as many in flight as the load has connections.
 * 2. The service: the real build (dist/src/main.js) as bench/run.ts starts it (NODE_ENV=production,
 *    throwaway keys, LOG_LEVEL=warn), on an embedded PostgreSQL under DATA_DIR=.data/bench-login.
 * 3. The load (bench/load.ts, forked): autocannon POSTing /auth/login, every request a successful
 *    login that also writes its refresh token, audit row and (discarded below warn) log line.
 * Raw and service hash with the same PasswordHasher and AUTH_HASH_CONCURRENCY bound (ADR 0013, 0016),
 * so both run argon2 on the same number of dedicated threads.
 * Raw and service alternate over several rounds; each round prints both rates, their ratio and the
 * CPU per login of the service process and of its PostgreSQL backends, and the run ends with the
 * median ratio (target at least 90%). Run it on an idle machine.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql, type Kysely } from 'kysely';
import { openDatabase } from '../scripts/seed.js';
import { loadConfig } from '../src/platform/config/config.schema.js';
import type { Database } from '../src/platform/database/database.types.js';
import { generateSigningKey } from '../src/platform/security/key-store.js';
import type { RawMessage, RawRequest } from './argon2-raw.js';
import type { LoadMessage, LoadRequest, LoadSummary } from './load.js';
import { freePort, namedThreadsCpuMs, processCpuMs, stopTracked, track } from './support.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const SERVICE_ENTRY = path.join(ROOT, 'dist', 'src', 'main.js');
/** application_name of the service's pool (DatabaseService sets it). */
const SERVICE_APPLICATION_NAME = 'groundwork';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: 'string', default: '6' },
    connections: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '5' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const print = (line: string): void => void process.stdout.write(`${line}\n`);

const config = loadConfig({ ...process.env, DATA_DIR: process.env.DATA_DIR ?? '.data/bench-login' });
const params = { memoryCost: config.AUTH_ARGON2_MEMORY_KIB, timeCost: config.AUTH_ARGON2_TIME_COST, parallelism: config.AUTH_ARGON2_PARALLELISM };
const password = 'bench glacier orbit velvet kumquat 42';
const email = `load-${Date.now()}@example.com`;

/** Sends one request to a forked child and resolves with its first result message. */
function ask<M extends { type: string }>(child: ChildProcess, request: object, limitMs: number, isFinal: (message: M) => boolean): Promise<M> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not answer within ${limitMs / 1000} s`)), limitMs);
    child.on('message', (message: M) => {
      if (!isFinal(message)) return;
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited before answering (code ${String(code)})`));
    });
    child.send(request);
  });
}

/**
 * CPU ms of the service process, of its main thread (JavaScript, syscalls; the rest is the hashing
 * threads and V8's helper threads), of its hashing threads, and of the PostgreSQL backends of its
 * pool (found by application_name).
 */
async function cpuSample(
  db: Kysely<Database>,
  servicePid: number,
): Promise<{ at: number; service: number | undefined; mainThread: number | undefined; hashing: number | undefined; backends: Map<number, number> }> {
  const result = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE application_name = ${SERVICE_APPLICATION_NAME}`.execute(db);
  const backends = new Map<number, number>();
  for (const row of result.rows) {
    const ms = await processCpuMs(row.pid);
    if (ms !== undefined) backends.set(row.pid, ms);
  }
  return {
    at: performance.now(),
    service: await processCpuMs(servicePid),
    mainThread: await processCpuMs(servicePid, servicePid),
    hashing: await namedThreadsCpuMs(servicePid, 'WorkerThread'),
    backends,
  };
}

async function rawVerifications(): Promise<{ perSec: number; cpuMsPerVerify: number }> {
  const raw = track(fork(path.join(HERE, 'argon2-raw.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }));
  try {
    const request: RawRequest = { params, password, concurrency: connections, hashConcurrency: config.AUTH_HASH_CONCURRENCY, durationSec: seconds, warmupSec: 1 };
    const message = await ask<RawMessage>(raw.child, request, (seconds + 30) * 1000, () => true);
    if (message.type === 'error') throw new Error(`raw argon2: ${message.message}`);
    return message;
  } finally {
    raw.child.kill();
    await raw.exited;
  }
}

interface LoginMeasurement {
  perSec: number;
  line: string;
}

/** One timed run of the load against the running service, with the CPU it cost per login. */
async function measureLogins(url: string, db: Kysely<Database>, servicePid: number): Promise<LoginMeasurement> {
  const load = track(fork(path.join(HERE, 'load.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }));
  const request: LoadRequest = {
    url,
    paths: ['/auth/login'],
    method: 'POST',
    body: JSON.stringify({ email, password }),
    headers: { 'content-type': 'application/json' },
    connections,
    durationSec: seconds,
    warmupSec: 1,
    timeoutSec: 10,
  };
  let before: ReturnType<typeof cpuSample> | undefined;
  load.child.on('message', (message: LoadMessage) => {
    if (message.type === 'measuring') before = cpuSample(db, servicePid);
  });
  try {
    const message = await ask<LoadMessage>(load.child, request, (seconds + 40) * 1000, (m) => m.type !== 'measuring');
    const after = await cpuSample(db, servicePid);
    if (message.type === 'error') throw new Error(`load: ${message.message}`);
    if (message.type !== 'result') throw new Error('load generator sent no result');
    const summary: LoadSummary = message.summary;
    const start = await before;
    const logins = summary.totalRequests - summary.non2xx;
    if (summary.non2xx > 0 || summary.errors > 0) print(`warning: ${summary.non2xx} non-2xx responses, ${summary.errors} errors`);
    const perSec = logins / summary.durationSec;
    const serviceMs = start?.service !== undefined && after.service !== undefined ? (after.service - start.service) / logins : undefined;
    const mainMs = start?.mainThread !== undefined && after.mainThread !== undefined ? (after.mainThread - start.mainThread) / logins : undefined;
    let backendMs = 0;
    for (const [pid, ms] of after.backends) backendMs += ms - (start?.backends.get(pid) ?? 0);
    // How much of the hashing threads' capacity the service kept busy: at 100% it hashes as fast as
    // the threads can, and the rest of the gap to raw is how fast argon2 itself ran meanwhile.
    const busy =
      start?.hashing !== undefined && after.hashing !== undefined
        ? (after.hashing - start.hashing) / ((after.at - start.at) * config.AUTH_HASH_CONCURRENCY)
        : undefined;
    const line =
      `POST /auth/login ${perSec.toFixed(1)} /s (p50 ${summary.latencyMs.p50} ms, p99 ${summary.latencyMs.p99} ms); ` +
      `hashing threads busy ${busy === undefined ? 'n/a' : `${(busy * 100).toFixed(0)}%`}; CPU per login: ` +
      `service ${serviceMs?.toFixed(2) ?? 'n/a'} ms (main thread ${mainMs?.toFixed(2) ?? 'n/a'} ms), PostgreSQL ${(backendMs / logins).toFixed(2)} ms, ` +
      `load generator ${(summary.loadGeneratorCpuMs / logins).toFixed(2)} ms`;
    return { perSec, line };
  } finally {
    load.child.kill();
    await load.exited;
  }
}

async function main(): Promise<void> {
  print(
    `argon2id m=${params.memoryCost} KiB, t=${params.timeCost}, p=${params.parallelism}; ${connections} in flight, ${rounds} rounds of ${seconds} s a side; ` +
      `AUTH_HASH_CONCURRENCY=${config.AUTH_HASH_CONCURRENCY} hashing threads for raw and service alike`,
  );
  const handle = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: path.join(config.DATA_DIR, 'pg'),
    database: 'groundwork',
    poolSize: 2,
    applicationName: 'groundwork-bench',
  });
  let service: ReturnType<typeof track> | undefined;
  try {
    const port = await freePort();
    const signingKey = await generateSigningKey();
    const profileDir = path.join(config.DATA_DIR, 'cpu-prof');
    service = track(
      spawn(process.execPath, ['--enable-source-maps', ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), SERVICE_ENTRY], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          NODE_ENV: 'production',
          // The API tier as deployed: job workers, the outbox relay and saga recovery run in worker
          // replicas; here their polling would be charged to every login.
          APP_ROLE: 'api',
          LOG_LEVEL: 'warn',
          GRPC_PORT: '0',
          HOST: '127.0.0.1',
          PORT: String(port),
          DATABASE_URL: handle.connectionString,
          MIGRATE_ON_START: 'true',
          READINESS_DRAIN_MS: '0',
          DATA_DIR: path.join(config.DATA_DIR, 'service'),
          AUTH_SIGNING_KEYS: JSON.stringify([signingKey]),
          AUTH_REFRESH_TOKEN_SECRET: randomBytes(32).toString('base64url'),
          AUTH_HASH_CONCURRENCY: String(config.AUTH_HASH_CONCURRENCY),
          // Only failures count against the throttle, and every login here succeeds; the high limit
          // only keeps a mistyped setup from turning the run into a 429 benchmark.
          AUTH_LOGIN_MAX_FAILURES_PER_IP: '100000',
        },
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (service.child.exitCode !== null) throw new Error(`service exited during start:\n${service.output()}`);
      if (Date.now() > deadline) throw new Error(`service not ready within 60 s:\n${service.output()}`);
      const ready = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      await sleep(200);
    }
    const registered = await fetch(`${url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, name: 'Load Runner', password }),
    });
    if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${await registered.text()}`);

    // Raw and service alternate, each round in the other order: the machine's speed drifts (raw
    // argon2 alone measured from 75 to 90 verifications/s within an hour here), and a single pair
    // of runs mostly measures that drift. The median of the rounds' ratios is the result.
    const servicePid = service.child.pid ?? 0;
    const ratios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      let raw: Awaited<ReturnType<typeof rawVerifications>>;
      let login: LoginMeasurement;
      if (round % 2 === 1) {
        raw = await rawVerifications();
        login = await measureLogins(url, handle.db, servicePid);
      } else {
        login = await measureLogins(url, handle.db, servicePid);
        raw = await rawVerifications();
      }
      ratios.push(login.perSec / raw.perSec);
      print(`round ${round} (${round % 2 === 1 ? 'raw first' : 'service first'}): raw argon2id verify ${raw.perSec.toFixed(1)} /s (${raw.cpuMsPerVerify.toFixed(2)} ms CPU each)`);
      print(`  ${login.line}; ratio ${((login.perSec / raw.perSec) * 100).toFixed(1)}%`);
    }
    const sorted = [...ratios].sort((a, b) => a - b);
    const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
    print(`ratio: median ${(median * 100).toFixed(1)}% of raw argon2id over ${rounds} rounds (lowest ${(sorted[0]! * 100).toFixed(1)}%, highest ${(sorted.at(-1)! * 100).toFixed(1)}%; target >= 90%)`);
  } finally {
    await stopTracked(service);
    await handle.close();
  }
}

await main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench:login failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
