/**
 * POST /orders under contention, the service beside a bare baseline, in one run:
 *
 *   npm run bench:orders [-- --seconds 10 --warmup 2 --connections 32 --rounds 1]
 *
 * 1. Database: DATABASE_URL, or an embedded PostgreSQL under DATA_DIR (default .data/bench-orders),
 *    migrated by the service at start.
 * 2. The payment provider (dist/payment-provider/main.js) in its own process, shared by both sides.
 * 3. The service: the real build (dist/src/main.js) with NODE_ENV=production, LOG_LEVEL=warn,
 *    throwaway keys, DATABASE_POOL_SIZE=10, paying through that provider.
 * 4. The baseline (bench/orders-baseline.ts): node:http + pg, the same repository statements,
 *    retry policy and saga steps, same pool size.
 * 5. Ten hot products with ample stock: every order takes one unit of a random one of them, so
 *    concurrent SERIALIZABLE transactions keep colliding on the same ten inventory rows.
 * 6. Load (bench/orders-load.ts, forked): warm-up, then the measured seconds, per server,
 *    alternating which goes first each round. After each run the sagas are left to settle.
 * 7. Checks: no 5xx or errors on either side, and zero oversell: for every product, units sold
 *    (CONFIRMED order lines) + still reserved + available equals the initial stock, reserved ends
 *    at 0, and the provider holds exactly one charge per confirmed order.
 * Prints the table and the ratio (target: the service keeps at least 70% of the baseline's rate).
 */
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { openDatabase } from '../scripts/seed.js';
import { loadConfig } from '../src/platform/config/config.schema.js';
import { generateSigningKey } from '../src/platform/security/key-store.js';
import type { OrdersLoadMessage, OrdersLoadRequest, OrdersLoadSummary } from './orders-load.js';
import { freePort, stopTracked, track } from './support.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const SERVICE_ENTRY = path.join(ROOT, 'dist', 'src', 'main.js');
const PROVIDER_ENTRY = path.join(ROOT, 'dist', 'payment-provider', 'main.js');
const TARGET_RATIO = 0.7;
const HOT_PRODUCTS = 10;
const STOCK = 10_000_000;
const POOL_SIZE = 10;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '1' },
  },
});
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const print = (line: string): void => void process.stdout.write(`${line}\n`);
const config = loadConfig({ ...process.env, DATA_DIR: process.env.DATA_DIR ?? '.data/bench-orders' });

async function waitFor(what: string, check: () => Promise<boolean>, limitMs: number, owner?: ReturnType<typeof track>): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (owner && owner.child.exitCode !== null) throw new Error(`${what}: process exited:\n${owner.output()}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not within ${limitMs / 1000} s${owner ? `:\n${owner.output()}` : ''}`);
    await sleep(100);
  }
}

function load(request: OrdersLoadRequest): Promise<OrdersLoadSummary> {
  const child = track(fork(path.join(HERE, 'orders-load.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }));
  return new Promise((resolve, reject) => {
    child.child.once('message', (message: OrdersLoadMessage) => {
      child.child.kill();
      if (message.type === 'result') resolve(message.summary);
      else reject(new Error(`load: ${message.message}`));
    });
    void child.exited.then(() => reject(new Error('load generator exited without a result')));
    child.child.send(request);
  });
}

async function main(): Promise<void> {
  const handle = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: path.join(config.DATA_DIR, 'pg'),
    database: 'groundwork',
    poolSize: 2,
    applicationName: 'groundwork-bench',
  });
  let provider: ReturnType<typeof track> | undefined;
  let service: ReturnType<typeof track> | undefined;
  let baseline: ReturnType<typeof track> | undefined;
  try {
    const providerPort = await freePort();
    const providerUrl = `http://127.0.0.1:${providerPort}`;
    provider = track(spawn(process.execPath, [PROVIDER_ENTRY], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PAYMENT_PROVIDER_PORT: String(providerPort) } }));
    await waitFor('payment provider', async () => (await fetch(`${providerUrl}/health`)).ok, 20_000, provider);

    const servicePort = await freePort();
    const serviceUrl = `http://127.0.0.1:${servicePort}`;
    const signingKey = await generateSigningKey();
    service = track(
      spawn(process.execPath, ['--enable-source-maps', SERVICE_ENTRY], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          NODE_ENV: 'production',
          LOG_LEVEL: 'warn',
          GRPC_PORT: '0',
          HOST: '127.0.0.1',
          PORT: String(servicePort),
          DATABASE_URL: handle.connectionString,
          DATABASE_POOL_SIZE: String(POOL_SIZE),
          MIGRATE_ON_START: 'true',
          READINESS_DRAIN_MS: '0',
          DATA_DIR: path.join(config.DATA_DIR, 'service'),
          AUTH_SIGNING_KEYS: JSON.stringify([signingKey]),
          AUTH_REFRESH_TOKEN_SECRET: randomBytes(32).toString('base64url'),
          PAYMENT_PROVIDER_URL: providerUrl,
        },
      }),
    );
    await waitFor('service', async () => (await fetch(`${serviceUrl}/health/ready`)).ok, 90_000, service);

    const email = `orders-bench-${Date.now()}@example.com`;
    const password = `Pw-${randomBytes(12).toString("base64url")}`;
    const registered = await fetch(`${serviceUrl}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, name: 'Orders Bench', password }),
    });
    if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${await registered.text()}`);
    const authorization = `Bearer ${((await registered.json()) as { accessToken: string }).accessToken}`;
    const jwks = await (await fetch(`${serviceUrl}/.well-known/jwks.json`)).text();

    const productIds = Array.from({ length: HOT_PRODUCTS }, () => uuidv7());
    const runTag = randomBytes(3).toString('hex');
    await handle.db
      .insertInto('products')
      .values(productIds.map((id, index) => ({ id, sku: `HOT-${runTag}-${index}`, name: `Hot product ${index}`, price: 1999, currency: 'EUR' })))
      .execute();
    await handle.db
      .insertInto('inventory')
      .values(productIds.map((id) => ({ product_id: id, on_hand: STOCK })))
      .execute();

    const baselinePort = await freePort();
    baseline = track(
      fork(path.join(HERE, 'orders-baseline.js'), [], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
        execArgv: [],
        env: {
          ...process.env,
          DATABASE_URL: handle.connectionString,
          PORT: String(baselinePort),
          POOL_SIZE: String(POOL_SIZE),
          JWKS: jwks,
          AUTH_ISSUER: config.AUTH_ISSUER,
          AUTH_AUDIENCE: config.AUTH_AUDIENCE,
          PAYMENT_PROVIDER_URL: providerUrl,
        },
      }),
    );
    await new Promise<void>((resolve, reject) => {
      baseline!.child.once('message', () => resolve());
      void baseline!.exited.then(() => reject(new Error(`baseline exited during start:\n${baseline!.output()}`)));
    });
    const baselineUrl = `http://127.0.0.1:${baselinePort}`;

    const settle = (): Promise<void> =>
      waitFor(
        'sagas to settle',
        async () => {
          const row = await sql<{ open: number }>`SELECT count(*)::int AS open FROM saga_instances WHERE status IN ('RUNNING', 'COMPENSATING')`.execute(handle.db);
          return row.rows[0]!.open === 0;
        },
        120_000,
      );

    print(`POST /orders, ${HOT_PRODUCTS} hot products, ${connections} connections, ${warmup} s warm-up + ${seconds} s, pool ${POOL_SIZE}, ${rounds} round(s)`);
    const results: Record<'service' | 'baseline', OrdersLoadSummary[]> = { service: [], baseline: [] };
    for (let round = 0; round < rounds; round++) {
      const order: Array<'service' | 'baseline'> = round % 2 === 0 ? ['baseline', 'service'] : ['service', 'baseline'];
      for (const name of order) {
        const summary = await load({
          url: name === 'service' ? serviceUrl : baselineUrl,
          authorization,
          productIds,
          connections,
          durationSec: seconds,
          warmupSec: warmup,
          keyPrefix: `${runTag}-${name}-${round}`,
        });
        results[name].push(summary);
        await settle();
      }
    }

    const retries = await (await fetch(`${serviceUrl}/metrics`)).text();
    const serializationRetries = retries
      .split('\n')
      .filter((line) => line.startsWith('db_transaction_retries_total{') && line.includes('isolation="serializable"'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);

    // Zero oversell, whatever either server did.
    const accounting = await sql<{ id: string; on_hand: number; reserved: number; sold: number }>`
      SELECT i.product_id AS id, i.on_hand, i.reserved,
             coalesce((SELECT sum(oi.quantity) FROM order_items oi JOIN orders o ON o.id = oi.order_id
                        WHERE oi.product_id = i.product_id AND o.status = 'CONFIRMED'), 0)::int AS sold
        FROM inventory i WHERE i.product_id = ANY(${productIds}::uuid[])`.execute(handle.db);
    const oversold = accounting.rows.filter((row) => row.reserved !== 0 || row.on_hand + row.sold !== STOCK || row.on_hand < 0);
    const confirmed = await sql<{ count: number }>`
      SELECT count(DISTINCT o.id)::int AS count FROM orders o JOIN order_items oi ON oi.order_id = o.id
       WHERE oi.product_id = ANY(${productIds}::uuid[]) AND o.status = 'CONFIRMED'`.execute(handle.db);
    const stats = (await (await fetch(`${providerUrl}/_control/stats`)).json()) as { charges: number };

    const mean = (list: OrdersLoadSummary[], pick: (s: OrdersLoadSummary) => number): number => list.reduce((sum, s) => sum + pick(s), 0) / list.length;
    print('');
    print('| server | orders/s | p50 ms | p99 ms | statuses | errors |');
    print('|---|---|---|---|---|---|');
    for (const name of ['service', 'baseline'] as const) {
      const list = results[name];
      const statuses = list.map((s) => Object.entries(s.byStatus).map(([code, count]) => `${code}: ${count}`).join(', ')).join(' / ');
      print(`| ${name} | ${mean(list, (s) => s.created / seconds).toFixed(1)} | ${mean(list, (s) => s.latencyMs.p50).toFixed(1)} | ${mean(list, (s) => s.latencyMs.p99).toFixed(1)} | ${statuses} | ${mean(list, (s) => s.errors)} |`);
    }
    const ratio = mean(results.service, (s) => s.created) / mean(results.baseline, (s) => s.created);
    print('');
    print(`service serialization retries (db_transaction_retries_total{isolation="serializable"}): ${serializationRetries}`);
    print(`confirmed orders: ${confirmed.rows[0]!.count}; provider charges: ${stats.charges}; oversold products: ${oversold.length}`);
    print(`ratio: ${(ratio * 100).toFixed(1)}% of the baseline (target >= ${TARGET_RATIO * 100}%)`);
    const failed = [...results.service, ...results.baseline].some((s) => s.errors > 0 || Object.keys(s.byStatus).some((code) => code !== '201'));
    if (oversold.length > 0 || failed || confirmed.rows[0]!.count !== stats.charges) {
      throw new Error(`checks failed: oversold ${JSON.stringify(oversold)}, non-201 or errors: ${failed}, confirmed ${confirmed.rows[0]!.count} vs charges ${stats.charges}`);
    }
  } finally {
    await stopTracked(baseline);
    await stopTracked(service);
    await stopTracked(provider);
    await handle.close();
  }
}

await main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench:orders failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
