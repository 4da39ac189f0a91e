/**
 * The baseline of the orders benchmark (bench/orders.ts): POST /orders on bare node:http and a pg
 * pool, with none of the framework (no Nest, Fastify, DTO validation, guard metadata, logging,
 * metrics, DI, resilient HTTP client). It runs the same statements as the service because it calls
 * the same repository methods (ProductsRepository, OrdersRepository, EventWriter, and the two
 * authentication reads of AuthService.authenticate) on a Kysely instance over its own pool, inside
 * the same runInTransaction with the same retry policy (ORDER_TRANSACTION). After answering it
 * drives the same saga steps: charge at the same payment provider with the same idempotency key,
 * then the confirm transaction.
 *
 * Configured by the runner through the environment: DATABASE_URL, PORT, POOL_SIZE, JWKS (the
 * service's public keys), AUTH_ISSUER, AUTH_AUDIENCE, PAYMENT_PROVIDER_URL.
 */
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { AuthRepository } from '../src/modules/auth/auth.repository.js';
import { OrdersRepository } from '../src/modules/orders/orders.repository.js';
import { chargeKeyOf, ORDER_SAGA_TYPE, SagaSteps } from '../src/modules/orders/orders.saga.js';
import { IDEMPOTENCY_LEASE_MS, ORDER_TRANSACTION } from '../src/modules/orders/orders.service.js';
import { ProductsRepository } from '../src/modules/products/products.repository.js';
import { UsersRepository } from '../src/modules/users/users.repository.js';
import type { Database } from '../src/platform/database/database.types.js';
import { registerPool } from '../src/platform/database/pool-query.js';
import { runInTransaction } from '../src/platform/database/transaction.js';
import { EventWriter } from '../src/platform/events/event-writer.js';

const SCOPE = 'POST /orders';
const SAGA_LEASE_MS = 30_000;
const OWNER = `baseline:${process.pid}`;
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const JSON_TYPE = 'application/json; charset=utf-8';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: Number(process.env.POOL_SIZE ?? 10), application_name: 'groundwork-baseline' });
const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
registerPool(db, pool);
const jwks = createLocalJWKSet(JSON.parse(env('JWKS')) as JSONWebKeySet);
const issuer = env('AUTH_ISSUER');
const audience = env('AUTH_AUDIENCE');
const providerUrl = env('PAYMENT_PROVIDER_URL');
const products = new ProductsRepository();
const orders = new OrdersRepository();
const users = new UsersRepository();
const auth = new AuthRepository();
const events = new EventWriter();

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

function fail(res: ServerResponse, status: number, code: string): void {
  send(res, status, { error: { code } });
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

/** The token check of AccessTokens.verify and the two reads of AuthService.authenticate. */
async function authenticate(header: string | undefined): Promise<{ userId: string; organizationId: string | null } | undefined> {
  const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
  if (!token) return undefined;
  try {
    const { payload } = await jwtVerify(token, jwks, { algorithms: ['EdDSA'], issuer, audience, typ: 'at+jwt', requiredClaims: ['exp', 'iat', 'sub', 'jti'], clockTolerance: 5 });
    const [user, live] = await Promise.all([users.findCredentialsById(db, String(payload.sub)), auth.familyIsLive(db, String(payload.sid))]);
    const role = (payload.roles as string[] | undefined)?.[0];
    if (!user || user.status !== 'active' || user.token_version !== payload.ver || user.role !== role || user.organization_id !== payload.org || !live) return undefined;
    return { userId: user.id, organizationId: user.organization_id };
  } catch {
    return undefined;
  }
}

type Line = { productId: string; quantity: number };

async function placeOrder(caller: { userId: string; organizationId: string | null }, key: string, items: Line[]): Promise<{ status: number; body: unknown; sagaId?: string }> {
  const hash = createHash('sha256').update(JSON.stringify(items.map((item) => [item.productId.toLowerCase(), item.quantity]))).digest();
  const claim = { userId: caller.userId, scope: SCOPE, key, requestHash: hash, leaseMs: IDEMPOTENCY_LEASE_MS };
  let existing = await orders.findIdempotencyKey(db, caller.userId, SCOPE, key);
  let claimed = false;
  if (!existing) {
    claimed = await orders.insertIdempotencyKey(db, claim);
    if (!claimed) existing = await orders.findIdempotencyKey(db, caller.userId, SCOPE, key);
  } else if (existing.status === 'in_progress') {
    claimed = await orders.takeOverIdempotencyKey(db, claim);
  }
  if (!claimed) {
    if (!existing || existing.status === 'in_progress') return { status: 409, body: { error: { code: 'IDEMPOTENCY_KEY_IN_USE' } } };
    return { status: existing.response_status!, body: existing.response_body };
  }
  const outcome = await runInTransaction(
    db,
    async (trx) => {
      await orders.preferIndexScans(trx);
      const sorted = [...items].sort((a, b) => (a.productId < b.productId ? -1 : 1));
      const rows = await products.forOrder(
        trx,
        sorted.map((line) => line.productId),
      );
      const byId = new Map(rows.map((row) => [row.id, row]));
      if (sorted.some((line) => { const row = byId.get(line.productId); return !row || row.on_hand - row.reserved < line.quantity; })) return undefined;
      const priced = sorted.map((line) => {
        const unitPrice = Number(byId.get(line.productId)!.price);
        return { product_id: line.productId, quantity: line.quantity, unit_price: unitPrice, line_total: unitPrice * line.quantity };
      });
      const orderId = uuidv7();
      const order = await orders.insertOrder(trx, {
        id: orderId,
        organization_id: caller.organizationId,
        user_id: caller.userId,
        currency: rows[0]!.currency,
        total: priced.reduce((sum, line) => sum + line.line_total, 0),
        items: priced,
      });
      const body = {
        id: order.id,
        userId: order.user_id,
        organizationId: order.organization_id,
        status: order.status,
        currency: order.currency,
        total: Number(order.total),
        paymentId: order.payment_id,
        cancelReason: order.cancel_reason,
        items: priced.map((item) => ({ productId: item.product_id, quantity: item.quantity, unitPrice: item.unit_price, lineTotal: item.line_total })),
        createdAt: order.created_at.toISOString(),
        updatedAt: order.updated_at.toISOString(),
      };
      const sagaId = uuidv7();
      await orders.insertSaga(trx, { id: sagaId, sagaType: ORDER_SAGA_TYPE, orderId, owner: OWNER, leaseMs: SAGA_LEASE_MS });
      await orders.insertStep(trx, sagaId, SagaSteps.reserve, 'SUCCEEDED');
      await events.append(trx, { eventType: 'OrderCreated', aggregateType: 'order', aggregateId: orderId, payload: { orderId, userId: caller.userId, organizationId: caller.organizationId, currency: body.currency, total: body.total, items: body.items } });
      await orders.completeIdempotencyKey(trx, caller.userId, SCOPE, key, { status: 201, body });
      for (const line of sorted) if (!(await products.reserve(trx, line))) throw new Error('reservation lost');
      return { body, sagaId };
    },
    ORDER_TRANSACTION,
  );
  if (!outcome) {
    await orders.releaseIdempotencyKey(db, caller.userId, SCOPE, key);
    return { status: 409, body: { error: { code: 'INSUFFICIENT_INVENTORY' } } };
  }
  return { status: 201, body: outcome.body, sagaId: outcome.sagaId };
}

/** The saga's happy path with the same statements: lease, charge (same key), confirm transaction. */
async function driveSaga(sagaId: string): Promise<void> {
  const saga = await orders.acquireSaga(db, sagaId, OWNER, SAGA_LEASE_MS);
  if (!saga) return;
  const order = (await orders.findById(db, saga.order_id))!;
  await orders.steps(db, sagaId);
  await orders.recordStep(db, sagaId, SagaSteps.charge, 'STARTED');
  const response = await fetch(`${providerUrl}/charges`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': chargeKeyOf(order.id) },
    body: JSON.stringify({ amount: Number(order.total), currency: order.currency, reference: order.id }),
  });
  const charge = (await response.json()) as { id: string; status: string };
  if (response.status !== 201) throw new Error(`charge answered ${response.status}`);
  await orders.recordStep(db, sagaId, SagaSteps.charge, 'SUCCEEDED', { output: { paymentId: charge.id } });
  await runInTransaction(db, async (trx) => {
    if (!(await orders.confirm(trx, order.id, charge.id))) return;
    const items = await orders.itemsOf(trx, [order.id]);
    for (const item of items) await products.commitSale(trx, { productId: item.product_id, quantity: item.quantity });
    await events.append(trx, { eventType: 'OrderConfirmed', aggregateType: 'order', aggregateId: order.id, payload: { orderId: order.id, paymentId: charge.id, total: Number(order.total), currency: order.currency } });
    await orders.recordStep(trx, sagaId, SagaSteps.confirm, 'SUCCEEDED');
    await orders.setSagaStatus(trx, sagaId, 'COMPLETED');
  });
}

let sagaFailures = 0;
const server = createServer((req, res) => {
  void (async () => {
    if (req.method !== 'POST' || req.url !== '/orders') return fail(res, 404, 'ROUTE_NOT_FOUND');
    const caller = await authenticate(req.headers.authorization);
    if (!caller) return fail(res, 401, 'TOKEN_INVALID');
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(key)) return fail(res, 400, 'IDEMPOTENCY_KEY_REQUIRED');
    const body = (await readBody(req)) as { items: Line[] };
    const result = await placeOrder(caller, key, body.items);
    send(res, result.status, result.body);
    if (result.sagaId) void driveSaga(result.sagaId).catch(() => (sagaFailures += 1));
  })().catch((error: unknown) => {
    process.stderr.write(`baseline error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (!res.headersSent) fail(res, 500, 'INTERNAL');
  });
});
server.listen(Number(env('PORT')), '127.0.0.1', () => process.send?.({ type: 'ready' }));
process.on('message', (message: { type: string }) => {
  if (message.type === 'saga-failures') process.send?.({ type: 'saga-failures', count: sagaFailures });
});
