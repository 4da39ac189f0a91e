/**
 * Side-by-side benchmark: the real service (dist/src/main.js) against a bare node:http + pg server
 * running the same SQL (bench/baseline-server.ts), on the same database, under the same load.
 *
 *   npm run bench [-- --users 100000 --connections 50 --duration 10 --warmup 2 --rounds 1]
 *
 * See bench/README.md for what is measured and how to read the ratio.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { sql, type Kysely } from 'kysely';
import { loadConfig } from '../src/platform/config/config.schema.js';
import type { Database } from '../src/platform/database/database.types.js';
import { migrateToLatest } from '../src/platform/database/migrator.js';
import { analyzeSeededTables, createProgressReporter, openDatabase, seedDatabase } from '../scripts/seed.js';
import type { LoadMessage, LoadRequest, LoadSummary } from './load.js';
import { captureUserQueries, type UserQueries } from './queries.js';
import { randomBytes } from 'node:crypto';
import { generateSigningKey } from '../src/platform/security/key-store.js';
import { freePort, processCpuMs } from './support.js';

// Compiled to dist/bench/run.js; everything else is found relative to it, not to the cwd.
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const SERVICE_ENTRY = path.join(ROOT, 'dist', 'src', 'main.js');
const BASELINE_ENTRY = path.join(HERE, 'baseline-server.js');
const LOAD_ENTRY = path.join(HERE, 'load.js');
const ADMIN_CREATE_ENTRY = path.join(ROOT, 'dist', 'scripts', 'admin-create.js');
const RESULTS_FILE = path.join(ROOT, 'bench', 'results', 'latest.json');

/**
 * The headline target: the service keeps at least this share of the baseline's throughput on the
 * by-id read when the cache cannot help (every request a miss), so the ratio is still the cost of
 * the framework (plus the cache's own bookkeeping) over a bare server running the same SQL.
 */
const HIT_SCENARIO = 'GET /users/:id (cache hit)';
const MISS_SCENARIO = 'GET /users/:id (cache miss)';
const TARGET = { scenario: MISS_SCENARIO, minRatio: 0.85 } as const;
const LIST_LIMIT = 20;
/** application_name of each server's pool (DatabaseService and baseline-server.ts set them). */
const SERVICE_APPLICATION_NAME = 'groundwork';
const BASELINE_APPLICATION_NAME = 'groundwork-baseline';
/** The platform admin every benchmarked request is made as (an admin of the default organization). */
const BENCH_ADMIN_EMAIL = 'bench-admin@example.com';
/** Long enough for any run the time limit allows; the token is obtained once, after start-up. */
const ACCESS_TOKEN_TTL_SECONDS = 900;
interface BenchSettings {
  /** Entry of the service build to measure; another build (a candidate change) can be compared. */
  serviceEntry: string;
  users: number;
  /** Ids never requested before, per round, for the cache-miss scenario. */
  missIds: number;
  connections: number;
  durationSec: number;
  warmupSec: number;
  poolSize: number;
  idCount: number;
  rounds: number;
}

type ServerName = 'service' | 'baseline';

interface Scenario {
  name: string;
  paths: string[];
  /**
   * No warm-up, and each path requested at most once: the cache-miss scenario. (A warm-up would
   * request the first ids, which the measurement then requests again as hits.)
   */
  cold?: boolean;
}

interface CpuSample {
  serverMs: number | undefined;
  backendsMs: Map<number, number> | undefined;
  host: { busy: number; total: number } | undefined;
}

interface RunResult {
  scenario: string;
  server: ServerName;
  round: number;
  load: LoadSummary;
  /** CPU milliseconds per request of the server process, and of the PostgreSQL backends serving it. */
  serverCpuMsPerRequest: number | undefined;
  databaseCpuMsPerRequest: number | undefined;
  /** Share of all cores busy during the measurement; near 100% means the machine was the limit. */
  hostCpuBusyPercent: number | undefined;
}

interface ServerSummary {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  serverCpuMsPerRequest: number | undefined;
  databaseCpuMsPerRequest: number | undefined;
}

/** GET /users/:id on the service with every request a cache hit or a miss, against the bare baseline. */
interface CacheRatios {
  hitRequestsPerSec: number;
  missRequestsPerSec: number;
  baselineRequestsPerSec: number;
  hitOverMiss: number;
  hitOverBaseline: number;
  missOverBaseline: number;
}

interface ScenarioSummary {
  scenario: string;
  service: ServerSummary;
  baseline: ServerSummary;
  ratio: { requestsPerSec: number; p50: number; p99: number };
}

// ---------------------------------------------------------------------------------------------
// Child processes and cleanup
// ---------------------------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
// Last resort when the runner exits without its cleanup (process.exit from an abort path): no
// server or load generator may outlive it. 'exit' handlers must be synchronous; kill() is.
process.on('exit', () => {
  for (const child of liveChildren) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

class ManagedProcess {
  private readonly tail: string[] = [];
  private lines = 0;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    liveChildren.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (error) => {
        this.remember(`spawn error: ${error.message}`);
        resolve();
      });
    });
    void this.exited.then(() => liveChildren.delete(child));
    const collect = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.remember(line);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines the process wrote, for error messages. */
  output(): string {
    return this.tail.join('\n');
  }

  /** Lines seen so far (the service logs at warn: anything here is worth a look). */
  lineCount(): number {
    return this.lines;
  }

  private remember(line: string): void {
    this.lines++;
    this.tail.push(line);
    if (this.tail.length > 40) this.tail.shift();
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Steps run once, last registered first, each on its own so one failure does not skip the rest. */
class Cleanup {
  private readonly steps: Array<{ name: string; run: () => Promise<void> }> = [];
  private running: Promise<void> | undefined;

  add(name: string, run: () => Promise<void>): void {
    this.steps.push({ name, run });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (let step = this.steps.pop(); step; step = this.steps.pop()) {
        try {
          await step.run();
        } catch (error) {
          process.stderr.write(`cleanup: ${step.name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
    })();
    return this.running;
  }
}


async function waitReady(process_: ManagedProcess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!process_.running) throw new Error(`${process_.name} exited during start:\n${process_.output()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  throw new Error(`${process_.name} was not ready within ${timeoutMs / 1000} s:\n${process_.output()}`);
}

// ---------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc; undefined elsewhere)
// ---------------------------------------------------------------------------------------------



/**
 * CPU of the PostgreSQL backends serving one server: the pids of its pool's connections (found by
 * application_name) read from /proc. Only works when PostgreSQL runs on this host; otherwise
 * undefined. Backends that appear during a run count in full, which is right: all their work is in
 * the run.
 */
async function backendCpuMs(db: Kysely<Database>, applicationName: string): Promise<Map<number, number> | undefined> {
  const result = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE application_name = ${applicationName}`.execute(db);
  const entries = await Promise.all(result.rows.map(async (row) => [row.pid, await processCpuMs(row.pid)] as const));
  const known = entries.filter((entry): entry is readonly [number, number] => entry[1] !== undefined);
  return known.length === 0 ? undefined : new Map(known);
}

function backendDelta(before: Map<number, number> | undefined, after: Map<number, number> | undefined): number | undefined {
  if (after === undefined) return undefined;
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before?.get(pid) ?? 0);
  return total;
}

async function hostCpu(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0] ?? '';
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.reduce((sum, value) => sum + value, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

async function cpuSample(target: MeasureTarget): Promise<CpuSample> {
  const [serverMs, backendsMs, host] = await Promise.all([
    target.pid === undefined ? Promise.resolve(undefined) : processCpuMs(target.pid),
    backendCpuMs(target.db, target.applicationName),
    hostCpu(),
  ]);
  return { serverMs, backendsMs, host };
}

function perRequest(before: number | undefined, after: number | undefined, requests: number): number | undefined {
  return before === undefined || after === undefined || requests === 0 ? undefined : (after - before) / requests;
}

// ---------------------------------------------------------------------------------------------
// Load runs
// ---------------------------------------------------------------------------------------------

interface MeasureTarget {
  name: ServerName;
  baseUrl: string;
  /** Sent on every request: the bench admin's access token. */
  headers: Record<string, string>;
  pid: number | undefined;
  /** The server's pool connections carry this application_name in pg_stat_activity. */
  applicationName: string;
  /** A connection of the runner's own, to look the backends up. */
  db: Kysely<Database>;
}

async function measure(
  target: MeasureTarget,
  scenario: Scenario,
  settings: BenchSettings,
  round: number,
): Promise<RunResult> {
  const child = fork(LOAD_ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const load = new ManagedProcess(`load generator (${target.name})`, child);
  const request: LoadRequest = {
    url: target.baseUrl,
    paths: scenario.paths,
    headers: target.headers,
    connections: settings.connections,
    durationSec: settings.durationSec,
    warmupSec: scenario.cold ? 0 : settings.warmupSec,
    timeoutSec: 10,
  };
  const limitMs = (settings.warmupSec + settings.durationSec + 30) * 1000;
  try {
    return await new Promise<RunResult>((resolve, reject) => {
      let before: Promise<CpuSample> | undefined;
      const timer = setTimeout(() => reject(new Error(`${load.name} did not finish within ${limitMs / 1000} s`)), limitMs);
      child.on('message', (raw: unknown) => {
        const message = raw as LoadMessage;
        if (message.type === 'measuring') {
          before = cpuSample(target);
        } else if (message.type === 'result') {
          clearTimeout(timer);
          const summary = message.summary;
          void Promise.all([before ?? Promise.resolve(undefined), cpuSample(target)]).then(([start, end]) => {
            const busy = start?.host && end.host ? end.host.busy - start.host.busy : undefined;
            const total = start?.host && end.host ? end.host.total - start.host.total : undefined;
            resolve({
              scenario: scenario.name,
              server: target.name,
              round,
              load: summary,
              serverCpuMsPerRequest: perRequest(start?.serverMs, end.serverMs, summary.totalRequests),
              databaseCpuMsPerRequest: perRequest(0, backendDelta(start?.backendsMs, end.backendsMs), summary.totalRequests),
              hostCpuBusyPercent: busy !== undefined && total ? (100 * busy) / total : undefined,
            });
          });
        } else {
          clearTimeout(timer);
          reject(new Error(`${load.name}: ${message.message}`));
        }
      });
      void load.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${load.name} exited before reporting (code ${String(child.exitCode)})`));
      });
      child.send(request);
    });
  } finally {
    await load.stop(2000);
  }
}

// ---------------------------------------------------------------------------------------------
// Same answers from both servers
// ---------------------------------------------------------------------------------------------

async function getText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: response.status, text: await response.text() };
}

/** Runs `node entry args` to completion with `env`; fails with its output unless it exits 0. */
async function runToCompletion(name: string, entry: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  const child = new ManagedProcess(name, spawn(process.execPath, ['--enable-source-maps', entry, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env }));
  const timer = setTimeout(() => child.child.kill('SIGKILL'), timeoutMs);
  await child.exited;
  clearTimeout(timer);
  if (child.child.exitCode !== 0) throw new Error(`${name} failed (exit ${String(child.child.exitCode ?? child.child.signalCode)}):\n${child.output()}`);
  return child.output();
}

/** POST /auth/login as the bench admin; the access token every benchmarked request carries. */
async function login(serviceUrl: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${serviceUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST /auth/login answered ${response.status}: ${text.slice(0, 500)}`);
  const token = (JSON.parse(text) as { accessToken?: unknown }).accessToken;
  if (typeof token !== 'string') throw new Error(`POST /auth/login returned no accessToken: ${text.slice(0, 500)}`);
  return token;
}

/** JSON path of the first place two parsed bodies differ, for a readable failure message. */
function firstDifference(a: unknown, b: unknown, at = '$'): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    return `${at}: service ${JSON.stringify(a)}, baseline ${JSON.stringify(b)}`;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
    const found = firstDifference(left[key], right[key], Array.isArray(a) ? `${at}[${key}]` : `${at}.${key}`);
    if (found !== undefined) return found;
  }
  return `${at}: differs`;
}

/**
 * Fails the run unless both servers answer the benchmarked requests with the same status and the
 * same JSON; a faster baseline that returns something else would prove nothing. Returns whether the
 * bodies were also byte-identical (same key order and formatting).
 */
async function assertSameAnswers(service: string, baseline: string, paths: string[], headers: Record<string, string>): Promise<boolean> {
  let byteIdentical = true;
  for (const requestPath of paths) {
    // Without a token both must refuse, so the baseline demonstrably does the authentication too.
    const [anonymousA, anonymousB] = await Promise.all([getText(service + requestPath), getText(baseline + requestPath)]);
    if (anonymousA.status !== 401 || anonymousB.status !== 401) {
      throw new Error(`GET ${requestPath} without a token: service answered ${anonymousA.status}, baseline ${anonymousB.status}; both must be 401`);
    }
    const [a, b] = await Promise.all([getText(service + requestPath, headers), getText(baseline + requestPath, headers)]);
    if (a.status !== 200 || b.status !== 200) {
      throw new Error(`GET ${requestPath}: service answered ${a.status}, baseline ${b.status}; both must be 200\n${a.text.slice(0, 500)}`);
    }
    const difference = firstDifference(JSON.parse(a.text), JSON.parse(b.text));
    if (difference !== undefined) throw new Error(`GET ${requestPath}: service and baseline return different JSON at ${difference}`);
    if (a.text !== b.text) byteIdentical = false;
  }
  return byteIdentical;
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const at = (index: number): number => sorted[index] ?? Number.NaN;
  return sorted.length % 2 === 1 ? at(middle) : (at(middle - 1) + at(middle)) / 2;
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function summarise(runs: RunResult[]): ServerSummary {
  const totalRequests = runs.reduce((sum, run) => sum + run.load.totalRequests, 0);
  const weightedCpu = (pick: (run: RunResult) => number | undefined): number | undefined => {
    let sum = 0;
    for (const run of runs) {
      const value = pick(run);
      if (value === undefined) return undefined;
      sum += value * run.load.totalRequests;
    }
    return totalRequests === 0 ? undefined : sum / totalRequests;
  };
  return {
    requestsPerSec: mean(runs.map((run) => run.load.requestsPerSec)),
    p50Ms: median(runs.map((run) => run.load.latencyMs.p50)),
    p99Ms: median(runs.map((run) => run.load.latencyMs.p99)),
    non2xx: runs.reduce((sum, run) => sum + run.load.non2xx, 0),
    errors: runs.reduce((sum, run) => sum + run.load.errors + run.load.timeouts, 0),
    serverCpuMsPerRequest: weightedCpu((run) => run.serverCpuMsPerRequest),
    databaseCpuMsPerRequest: weightedCpu((run) => run.databaseCpuMsPerRequest),
  };
}

function formatTable(summaries: ScenarioSummary[]): string {
  const micro = (ms: number | undefined): string => (ms === undefined ? 'n/a' : `${Math.round(ms * 1000)}`);
  const header = ['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'server CPU µs/req', 'db backend CPU µs/req'];
  const rows: string[][] = [];
  for (const summary of summaries) {
    for (const name of ['service', 'baseline'] as const) {
      const s = summary[name];
      rows.push([
        name === 'service' ? summary.scenario : '',
        name,
        s.requestsPerSec.toFixed(0),
        s.p50Ms.toFixed(1),
        s.p99Ms.toFixed(1),
        String(s.non2xx),
        String(s.errors),
        micro(s.serverCpuMsPerRequest),
        micro(s.databaseCpuMsPerRequest),
      ]);
    }
    rows.push([
      '',
      'service/baseline',
      `${(summary.ratio.requestsPerSec * 100).toFixed(1)}%`,
      `${summary.ratio.p50.toFixed(2)}x`,
      `${summary.ratio.p99.toFixed(2)}x`,
      '',
      '',
      summary.service.serverCpuMsPerRequest && summary.baseline.serverCpuMsPerRequest
        ? `${(summary.service.serverCpuMsPerRequest / summary.baseline.serverCpuMsPerRequest).toFixed(2)}x`
        : '',
      '',
    ]);
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  const body: string[] = [];
  rows.forEach((row, index) => {
    body.push(line(row));
    if (index % 3 === 2 && index < rows.length - 1) body.push(rule);
  });
  return [line(header), rule, ...body].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function intOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) throw new Error(`--${name} must be an integer between ${min} and ${max}`);
  return value;
}

function parseSettings(argv: string[]): BenchSettings {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      users: { type: 'string' },
      connections: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      pool: { type: 'string' },
      ids: { type: 'string' },
      'miss-ids': { type: 'string' },
      rounds: { type: 'string' },
      'service-entry': { type: 'string' },
    },
  });
  return {
    serviceEntry: path.resolve(values['service-entry'] ?? SERVICE_ENTRY),
    users: intOption('users', values.users, 100_000, 1, 5_000_000),
    connections: intOption('connections', values.connections, 50, 1, 1000),
    durationSec: intOption('duration', values.duration, 10, 1, 120),
    warmupSec: intOption('warmup', values.warmup, 2, 0, 60),
    poolSize: intOption('pool', values.pool, 10, 1, 100),
    idCount: intOption('ids', values.ids, 1000, 1, 100_000),
    missIds: intOption('miss-ids', values['miss-ids'], 30_000, 1, 1_000_000),
    rounds: intOption('rounds', values.rounds, 1, 1, 5),
  };
}

function say(message: string): void {
  process.stdout.write(`bench: ${message}\n`);
}

async function main(cleanup: Cleanup): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const config = loadConfig();
  for (const file of [settings.serviceEntry, BASELINE_ENTRY, LOAD_ENTRY, ADMIN_CREATE_ENTRY]) {
    if (!existsSync(file)) throw new Error(`${path.relative(ROOT, file)} is missing; run \`npm run build\` (npm run bench does)`);
  }
  const startedAt = new Date();
  say(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`);

  // 1. Database: DATABASE_URL, or one embedded server (own data directory, so a running `npm start`
  //    on DATA_DIR/pg is not disturbed) shared by the seeding, both servers and the whole run.
  const benchDataDir = path.join(config.DATA_DIR, 'bench');
  const handle = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: path.join(benchDataDir, 'pg'),
    database: 'groundwork',
    poolSize: 3,
    applicationName: 'groundwork-bench',
  });
  cleanup.add('database', () => handle.close());
  say(handle.embedded ? `embedded PostgreSQL in ${path.join(benchDataDir, 'pg')}` : 'using DATABASE_URL');
  await migrateToLatest(handle.db as Kysely<unknown>);

  const countUsers = async (): Promise<number> =>
    (await sql<{ n: number }>`SELECT count(*)::int AS n FROM users`.execute(handle.db)).rows[0]?.n ?? 0;
  const existing = await countUsers();
  if (existing < settings.users) {
    say(`seeding ${settings.users - existing} users (database has ${existing})`);
    const progress = createProgressReporter('bench seed');
    try {
      const seeded = await seedDatabase(handle.db, { users: settings.users - existing, seed: 42 }, (event) => progress.onProgress(event));
      progress.stop();
      say(`seeded ${seeded.users} users in ${(seeded.elapsedMs / 1000).toFixed(1)} s; vacuum + analyze`);
    } finally {
      progress.stop();
    }
    await analyzeSeededTables(handle.db);
  }
  const userCount = await countUsers();
  say(`${userCount} users in the database`);

  // A fixed, spread-out sample (md5 order, not insertion order) so runs are repeatable and the
  // requests touch rows all over the table instead of one hot page.
  const spread = await sql<{ id: string; has_profile: boolean }>`
    SELECT u.id, p.user_id IS NOT NULL AS has_profile
    FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id
    ORDER BY md5(u.id::text)
    LIMIT ${settings.idCount + settings.missIds * settings.rounds}
  `.execute(handle.db);
  const sample = { rows: spread.rows.slice(0, settings.idCount) };
  const ids = sample.rows.map((row) => row.id);
  if (ids.length === 0) throw new Error('no users to request');
  // The cache-miss scenario requests users outside the hit sample, a fresh slice each round.
  const missIdsByRound = Array.from({ length: settings.rounds }, (_, round) =>
    spread.rows.slice(settings.idCount + round * settings.missIds, settings.idCount + (round + 1) * settings.missIds).map((row) => row.id),
  );
  if (missIdsByRound.some((slice) => slice.length === 0)) throw new Error(`not enough users for --miss-ids ${settings.missIds} x ${settings.rounds} rounds; seed more with --users`);

  // 2. The caller: a platform admin (admin of the default organization) with a throwaway password,
  //    created or promoted by scripts/admin-create.ts with the service's configuration, so through
  //    the same AuthService.ensureAdmin path as `npm run admin:create`.
  // Production refuses to start without configured keys; the bench makes throwaway ones.
  const signingKey = await generateSigningKey();
  const productionEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    // The API tier as deployed: job workers, the outbox relay and saga recovery run in worker
    // replicas, and the baseline has no such background work either.
    APP_ROLE: 'api',
    LOG_LEVEL: 'warn',
    GRPC_PORT: '0',
    HOST: '127.0.0.1', // production would otherwise listen on every interface
    DATABASE_URL: handle.connectionString,
    DATABASE_POOL_SIZE: String(settings.poolSize),
    READINESS_DRAIN_MS: '0', // no load balancer to drain; production would wait 5 s on stop
    DATA_DIR: path.join(benchDataDir, 'service'),
    AUTH_SIGNING_KEYS: JSON.stringify([signingKey]),
    AUTH_REFRESH_TOKEN_SECRET: randomBytes(32).toString('base64url'),
    AUTH_ISSUER: config.AUTH_ISSUER,
    AUTH_AUDIENCE: config.AUTH_AUDIENCE,
    AUTH_ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS),
    // With REDIS_URL set, entries of an earlier run (L2 lives CACHE_TTL_SECONDS) must not turn
    // this run's misses into hits.
    CACHE_KEY_PREFIX: `groundwork-bench:${randomBytes(6).toString('hex')}`,
  };
  const adminPassword = `throwaway ${randomBytes(18).toString('base64url')} passphrase`;
  const created = await runToCompletion(
    'admin:create',
    ADMIN_CREATE_ENTRY,
    ['--email', BENCH_ADMIN_EMAIL, '--password', adminPassword],
    productionEnv,
    60_000,
  );
  say(created.split('\n').at(-1)?.trim() ?? `admin ${BENCH_ADMIN_EMAIL} ready`);

  // 3. Both servers, each with its own free port on 127.0.0.1.
  const [servicePort, baselinePort] = [await freePort(), await freePort()];
  const service = new ManagedProcess(
    'service',
    spawn(process.execPath, ['--enable-source-maps', settings.serviceEntry], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...productionEnv, MIGRATE_ON_START: 'true', PORT: String(servicePort) },
    }),
  );
  cleanup.add('service', () => service.stop());
  const baseline = new ManagedProcess(
    'baseline',
    fork(BASELINE_ENTRY, [], {
      cwd: ROOT,
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(baselinePort),
        DATABASE_URL: handle.connectionString,
        DATABASE_POOL_SIZE: String(settings.poolSize),
        DATABASE_STATEMENT_TIMEOUT_MS: String(config.DATABASE_STATEMENT_TIMEOUT_MS),
        // The service's public key (what its /.well-known/jwks.json publishes) and token rules.
        AUTH_JWKS: JSON.stringify({ keys: [{ kty: signingKey.kty, crv: signingKey.crv, kid: signingKey.kid, x: signingKey.x }] }),
        AUTH_ISSUER: config.AUTH_ISSUER,
        AUTH_AUDIENCE: config.AUTH_AUDIENCE,
        AUTH_ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS),
      },
    }),
  );
  cleanup.add('baseline', () => baseline.stop());
  const serviceUrl = `http://127.0.0.1:${servicePort}`;
  const baselineUrl = `http://127.0.0.1:${baselinePort}`;
  await Promise.all([waitReady(service, `${serviceUrl}/health/ready`, 60_000), waitReady(baseline, `${baselineUrl}/health/ready`, 30_000)]);
  say(`service (pid ${service.pid ?? '?'}) on ${serviceUrl}, baseline (pid ${baseline.pid ?? '?'}) on ${baselineUrl}, pool ${settings.poolSize} each`);

  // 4. One login, one access token for every request of the run (it outlives the run).
  const accessToken = await login(serviceUrl, BENCH_ADMIN_EMAIL, adminPassword);
  const authHeaders = { authorization: `Bearer ${accessToken}` };
  say(`logged in as platform admin ${BENCH_ADMIN_EMAIL}; every request carries its access token`);

  // 5. Same SQL (by construction) and same answers (checked).
  const queries: UserQueries = await captureUserQueries();
  const withProfile = sample.rows.find((row) => row.has_profile)?.id;
  const withoutProfile = sample.rows.find((row) => !row.has_profile)?.id;
  const checkIds = [...new Set([withProfile, withoutProfile, ...ids.slice(0, 5)].filter((id): id is string => id !== undefined))];
  const linesBeforeCheck = service.lineCount();
  const byteIdentical = await assertSameAnswers(serviceUrl, baselineUrl, [...checkIds.map((id) => `/users/${id}`), `/users?limit=${LIST_LIMIT}`], authHeaders);
  await sleep(200); // the service logs each 401 of the no-token check at warn; let those lines arrive
  const checkLines = service.lineCount() - linesBeforeCheck;
  say(`both servers return the same JSON for ${checkIds.length} users and the list${byteIdentical ? ' (byte-identical)' : ' (same JSON, different bytes)'}`);

  // 6. Load: one server at a time, so they never compete for CPU; the order alternates between
  //    scenarios and rounds so neither side always runs on a warmer database or a cooler machine.
  // Hits: 1000 ids cycled, all in the service's in-process L1 after the warm-up. Misses: ids never
  // requested before, so every request loads from the database (and with REDIS_URL misses Redis,
  // takes its lock and writes it). The baseline has no cache and runs the same SQL in both.
  const scenarioFor = (round: number): Scenario[] => [
    { name: HIT_SCENARIO, paths: ids.map((id) => `/users/${id}`) },
    { name: MISS_SCENARIO, paths: (missIdsByRound[round - 1] ?? []).map((id) => `/users/${id}`), cold: true },
    { name: `GET /users?limit=${LIST_LIMIT}`, paths: [`/users?limit=${LIST_LIMIT}`] },
  ];
  const scenarios = scenarioFor(1);
  const targets: Record<ServerName, MeasureTarget> = {
    service: { name: 'service', baseUrl: serviceUrl, headers: authHeaders, pid: service.pid, applicationName: SERVICE_APPLICATION_NAME, db: handle.db },
    baseline: { name: 'baseline', baseUrl: baselineUrl, headers: authHeaders, pid: baseline.pid, applicationName: BASELINE_APPLICATION_NAME, db: handle.db },
  };
  const runs: RunResult[] = [];
  for (let round = 1; round <= settings.rounds; round++) {
    for (const [index, scenario] of scenarioFor(round).entries()) {
      const order: ServerName[] = (round + index) % 2 === 1 ? ['service', 'baseline'] : ['baseline', 'service'];
      for (const name of order) {
        process.stdout.write(
          `bench: ${scenario.name} -> ${name}${settings.rounds > 1 ? ` (round ${round})` : ''}: ` +
            `${settings.warmupSec} s warm-up, ${settings.durationSec} s at ${settings.connections} connections ... `,
        );
        const result = await measure(targets[name], scenario, settings, round);
        runs.push(result);
        if (scenario.cold && result.load.totalRequests > scenario.paths.length) {
          process.stdout.write(`(more requests than fresh ids: raise --miss-ids above ${result.load.totalRequests} for pure misses) `);
        }
        process.stdout.write(`${result.load.requestsPerSec.toFixed(0)} req/s, p99 ${result.load.latencyMs.p99} ms\n`);
      }
    }
  }
  if (!service.running) throw new Error(`the service stopped during the run:\n${service.output()}`);

  // 7. Report.
  const summaries: ScenarioSummary[] = scenarios.map((scenario) => {
    const of = (name: ServerName): ServerSummary => summarise(runs.filter((run) => run.scenario === scenario.name && run.server === name));
    const s = of('service');
    const b = of('baseline');
    return {
      scenario: scenario.name,
      service: s,
      baseline: b,
      ratio: { requestsPerSec: s.requestsPerSec / b.requestsPerSec, p50: s.p50Ms / b.p50Ms, p99: s.p99Ms / b.p99Ms },
    };
  });
  const headline = summaries.find((summary) => summary.scenario === TARGET.scenario);
  const met = headline !== undefined && headline.ratio.requestsPerSec >= TARGET.minRatio;

  process.stdout.write(`\n${formatTable(summaries)}\n\n`);
  if (headline) {
    process.stdout.write(
      `target: service >= ${TARGET.minRatio * 100}% of baseline req/s on ${TARGET.scenario}: ` +
        `${(headline.ratio.requestsPerSec * 100).toFixed(1)}% -> ${met ? 'MET' : 'NOT MET'}\n`,
    );
  }
  const hit = summaries.find((summary) => summary.scenario === HIT_SCENARIO);
  const miss = summaries.find((summary) => summary.scenario === MISS_SCENARIO);
  let cacheRatios: CacheRatios | undefined;
  if (hit && miss) {
    // The baseline does the same work in both scenarios; its two rows are averaged.
    const baselineRate = (hit.baseline.requestsPerSec + miss.baseline.requestsPerSec) / 2;
    cacheRatios = {
      hitRequestsPerSec: hit.service.requestsPerSec,
      missRequestsPerSec: miss.service.requestsPerSec,
      baselineRequestsPerSec: baselineRate,
      hitOverMiss: hit.service.requestsPerSec / miss.service.requestsPerSec,
      hitOverBaseline: hit.service.requestsPerSec / baselineRate,
      missOverBaseline: miss.service.requestsPerSec / baselineRate,
    };
    process.stdout.write(
      `cache (GET /users/:id, ${process.env.REDIS_URL ? 'L1 + Redis L2' : 'L1 only, REDIS_URL unset'}): ` +
        `hit ${cacheRatios.hitRequestsPerSec.toFixed(0)} req/s, miss ${cacheRatios.missRequestsPerSec.toFixed(0)} req/s, bare baseline ${baselineRate.toFixed(0)} req/s; ` +
        `hit/miss ${cacheRatios.hitOverMiss.toFixed(2)}x, hit/baseline ${cacheRatios.hitOverBaseline.toFixed(2)}x, miss/baseline ${cacheRatios.missOverBaseline.toFixed(2)}x\n`,
    );
  }
  const hostBusy = runs.map((run) => run.hostCpuBusyPercent).filter((v): v is number => v !== undefined);
  if (hostBusy.length > 0) {
    process.stdout.write(`host CPU busy during runs: ${Math.min(...hostBusy).toFixed(0)}-${Math.max(...hostBusy).toFixed(0)}% of ${os.cpus().length} cores\n`);
  }
  const unexpectedLines = service.lineCount() - checkLines;
  if (unexpectedLines > 0) {
    process.stdout.write(
      `service wrote ${unexpectedLines} log line(s) at warn or above besides the ${checkLines} of the no-token check; last:\n${service.output()}\n`,
    );
  }

  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    },
    settings: { ...settings, listLimit: LIST_LIMIT },
    // Never the connection string: it carries credentials.
    database: { kind: handle.embedded ? 'embedded' : 'DATABASE_URL', users: userCount },
    sql: {
      findById: queries.findById.sql,
      page: queries.page.sql,
      count: queries.count.sql,
      credentialsById: queries.credentialsById.sql,
      familyIsLive: queries.familyIsLive.sql,
    },
    sameAnswers: { checkedUsers: checkIds.length, byteIdentical },
    target: { ...TARGET, ratio: headline?.ratio.requestsPerSec, met },
    cache: { redis: process.env.REDIS_URL !== undefined, ...cacheRatios },
    summaries,
    runs,
  };
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  say(`results written to ${path.relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE}`);
}

const cleanup = new Cleanup();
const settingsForLimit = ((): BenchSettings | undefined => {
  try {
    return parseSettings(process.argv.slice(2));
  } catch {
    return undefined; // main() reports the problem
  }
})();
// Bounded in time whatever happens: seeding and start-up, plus every load run with slack.
const limitSec = settingsForLimit
  ? 180 + settingsForLimit.rounds * 4 * (settingsForLimit.warmupSec + settingsForLimit.durationSec + 10)
  : 180;
const deadline = setTimeout(() => {
  process.stderr.write(`\nbench: exceeded its ${limitSec} s time limit; stopping\n`);
  void cleanup.run().finally(() => process.exit(124));
}, limitSec * 1000);

const onSignal = (signal: NodeJS.Signals): void => {
  process.stderr.write(`\nbench: ${signal}; stopping servers and database\n`);
  void cleanup.run().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

void main(cleanup)
  .then(
    () => 0,
    (error: unknown) => {
      process.stderr.write(`\nbench failed: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    },
  )
  .then(async (code) => {
    await cleanup.run();
    clearTimeout(deadline);
    // Explicit exit: keep-alive sockets of fetch() would otherwise hold the process a few seconds.
    process.exit(code);
  });
