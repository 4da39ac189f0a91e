import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import type { DbExecutor } from '../../platform/database/database.service.js';
import type { OrderCancelReason, OrderStatus, SagaStatus, SagaStepStatus } from '../../platform/database/database.types.js';

export interface OrderRecord {
  id: string;
  organization_id: string | null;
  user_id: string;
  status: OrderStatus;
  currency: string;
  total: string;
  payment_id: string | null;
  cancel_reason: OrderCancelReason | null;
  created_at: Date;
  updated_at: Date;
}

export interface OrderItemRecord {
  order_id: string;
  product_id: string;
  quantity: number;
  unit_price: string;
  line_total: string;
}

export interface NewOrder {
  id: string;
  organization_id: string | null;
  user_id: string;
  currency: string;
  total: number;
  items: Array<{ product_id: string; quantity: number; unit_price: number; line_total: number }>;
}

export interface IdempotencyRecord {
  request_hash: Buffer;
  status: 'in_progress' | 'completed';
  response_status: number | null;
  response_body: unknown;
}

export interface SagaRecord {
  id: string;
  order_id: string;
  status: SagaStatus;
  attempts: number;
  failure_reason: string | null;
}

export interface SagaStepRecord {
  step: string;
  status: SagaStepStatus;
  output: Record<string, unknown>;
}

const ORDER_COLUMNS = [
  'orders.id',
  'orders.organization_id',
  'orders.user_id',
  'orders.status',
  'orders.currency',
  'orders.total',
  'orders.payment_id',
  'orders.cancel_reason',
  'orders.created_at',
  'orders.updated_at',
] as const;

@Injectable()
export class OrdersRepository {
  /**
   * For the rest of a SERIALIZABLE transaction, plans index scans even where a sequential scan looks
   * cheaper. PostgreSQL's SSI locks a whole relation for a sequential scan (a tuple or page for an
   * index scan), so on small tables (a young catalog, the ten hot products of a sale) every order
   * would conflict with every other, not only with orders of the same product. PostgreSQL's
   * documentation gives this remedy in "Serializable Isolation Level".
   */
  async preferIndexScans(db: DbExecutor): Promise<void> {
    await sql`SET LOCAL enable_seqscan = off`.execute(db);
  }

  // Orders -------------------------------------------------------------------------------------

  async insertOrder(db: DbExecutor, order: NewOrder): Promise<OrderRecord> {
    const row = await db
      .insertInto('orders')
      .values({ id: order.id, organization_id: order.organization_id, user_id: order.user_id, status: 'PENDING', currency: order.currency, total: order.total })
      .returning(ORDER_COLUMNS)
      .executeTakeFirstOrThrow();
    await db
      .insertInto('order_items')
      .values(order.items.map((item) => ({ order_id: order.id, ...item })))
      .execute();
    return row;
  }

  findById(db: DbExecutor, id: string): Promise<OrderRecord | undefined> {
    return db.selectFrom('orders').select(ORDER_COLUMNS).where('orders.id', '=', id).executeTakeFirst();
  }

  /** Locks the order row for the rest of the transaction. */
  findByIdForUpdate(db: DbExecutor, id: string): Promise<OrderRecord | undefined> {
    return db.selectFrom('orders').select(ORDER_COLUMNS).where('orders.id', '=', id).forUpdate().executeTakeFirst();
  }

  async itemsOf(db: DbExecutor, orderIds: readonly string[]): Promise<OrderItemRecord[]> {
    if (orderIds.length === 0) return [];
    return db.selectFrom('order_items').selectAll().where('order_id', 'in', orderIds).orderBy('order_id').orderBy('product_id').execute();
  }

  /** Newest first, keyset on (created_at, id), within the given owner or organization. */
  list(
    db: DbExecutor,
    scope: { userId?: string; organizationId?: string | null },
    options: { limit: number; status?: OrderStatus; before?: { createdAt: string; id: string } },
  ): Promise<Array<OrderRecord & { sort_key: string }>> {
    let query = db
      .selectFrom('orders')
      .select([...ORDER_COLUMNS, sql<string>`to_char(orders.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('sort_key')]);
    if (scope.userId !== undefined) query = query.where('orders.user_id', '=', scope.userId);
    if (scope.organizationId !== undefined) {
      query = scope.organizationId === null ? query.where('orders.organization_id', 'is', null) : query.where('orders.organization_id', '=', scope.organizationId);
    }
    if (options.status) query = query.where('orders.status', '=', options.status);
    if (options.before) {
      query = query.where(sql<boolean>`(orders.created_at, orders.id) < (${options.before.createdAt}::timestamptz, ${options.before.id}::uuid)`);
    }
    return query.orderBy('orders.created_at', 'desc').orderBy('orders.id', 'desc').limit(options.limit).execute();
  }

  /** PENDING -> CONFIRMED; false when the order is no longer PENDING (cancelled meanwhile). */
  async confirm(db: DbExecutor, id: string, paymentId: string): Promise<boolean> {
    const result = await db
      .updateTable('orders')
      .set({ status: 'CONFIRMED', payment_id: paymentId, updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .where('status', '=', 'PENDING')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** PENDING -> CANCELLED; false when the order is no longer PENDING, so the caller releases stock once. */
  async cancel(db: DbExecutor, id: string, reason: OrderCancelReason): Promise<boolean> {
    const result = await db
      .updateTable('orders')
      .set({ status: 'CANCELLED', cancel_reason: reason, updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .where('status', '=', 'PENDING')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  // Idempotency keys ----------------------------------------------------------------------------

  /**
   * Claims a key nobody has used: inserts it in_progress with a lease. False when a row exists.
   * Call it only after findIdempotencyKey found none: the unique check of an INSERT waits for a
   * transaction that is updating the existing row (the first request completing it), while the
   * plain read before it never waits.
   */
  async insertIdempotencyKey(db: DbExecutor, claim: { userId: string; scope: string; key: string; requestHash: Buffer; leaseMs: number }): Promise<boolean> {
    const inserted = await db
      .insertInto('idempotency_keys')
      .values({
        user_id: claim.userId,
        scope: claim.scope,
        key: claim.key,
        request_hash: claim.requestHash,
        status: 'in_progress',
        locked_until: sql<Date>`now() + make_interval(secs => ${claim.leaseMs / 1000})`,
      })
      .onConflict((oc) => oc.columns(['user_id', 'scope', 'key']).doNothing())
      .returning('key')
      .executeTakeFirst();
    return inserted !== undefined;
  }

  /**
   * Takes over an in_progress claim whose lease lapsed (its request died without creating anything:
   * the order and the completion commit together). Never waits: a row locked by the transaction
   * completing it is skipped (SKIP LOCKED).
   */
  async takeOverIdempotencyKey(db: DbExecutor, claim: { userId: string; scope: string; key: string; requestHash: Buffer; leaseMs: number }): Promise<boolean> {
    const lease = sql<Date>`now() + make_interval(secs => ${claim.leaseMs / 1000})`;
    const takenOver = await sql<{ key: string }>`
      UPDATE idempotency_keys SET request_hash = ${claim.requestHash}, locked_until = ${lease}
       WHERE (user_id, scope, key) IN (
         SELECT user_id, scope, key FROM idempotency_keys
          WHERE user_id = ${claim.userId} AND scope = ${claim.scope} AND key = ${claim.key}
            AND status = 'in_progress' AND locked_until < now()
          FOR UPDATE SKIP LOCKED)
      RETURNING key`.execute(db);
    return takenOver.rows.length > 0;
  }

  findIdempotencyKey(db: DbExecutor, userId: string, scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    return db
      .selectFrom('idempotency_keys')
      .select(['request_hash', 'status', 'response_status', 'response_body'])
      .where('user_id', '=', userId)
      .where('scope', '=', scope)
      .where('key', '=', key)
      .executeTakeFirst();
  }

  async completeIdempotencyKey(db: DbExecutor, userId: string, scope: string, key: string, response: { status: number; body: unknown }): Promise<void> {
    await db
      .updateTable('idempotency_keys')
      .set({ status: 'completed', response_status: response.status, response_body: JSON.stringify(response.body), completed_at: sql<Date>`now()`, locked_until: null })
      .where('user_id', '=', userId)
      .where('scope', '=', scope)
      .where('key', '=', key)
      .execute();
  }

  /** Frees an in_progress claim whose request created nothing, so the client may retry with it. */
  async releaseIdempotencyKey(db: DbExecutor, userId: string, scope: string, key: string): Promise<void> {
    await db
      .deleteFrom('idempotency_keys')
      .where('user_id', '=', userId)
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('status', '=', 'in_progress')
      .execute();
  }

  // Saga ----------------------------------------------------------------------------------------

  async insertSaga(db: DbExecutor, saga: { id: string; sagaType: string; orderId: string; owner: string; leaseMs: number }): Promise<void> {
    await db
      .insertInto('saga_instances')
      .values({
        id: saga.id,
        saga_type: saga.sagaType,
        order_id: saga.orderId,
        status: 'RUNNING',
        locked_by: saga.owner,
        locked_until: sql<Date>`now() + make_interval(secs => ${saga.leaseMs / 1000})`,
      })
      .execute();
  }

  /**
   * Takes the saga's lease for `owner` if it is unfinished and either already owned by `owner` or
   * its lease has lapsed. Undefined when someone else holds it or the saga is finished.
   */
  acquireSaga(db: DbExecutor, sagaId: string, owner: string, leaseMs: number): Promise<SagaRecord | undefined> {
    return db
      .updateTable('saga_instances')
      .set({ locked_by: owner, locked_until: sql<Date>`now() + make_interval(secs => ${leaseMs / 1000})`, attempts: sql<number>`attempts + 1`, updated_at: sql<Date>`now()` })
      .where('id', '=', sagaId)
      .where('status', 'in', ['RUNNING', 'COMPENSATING'])
      .where((eb) => eb.or([eb('locked_by', '=', owner), eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
      .returning(['id', 'order_id', 'status', 'attempts', 'failure_reason'])
      .executeTakeFirst();
  }

  /** Gives the lease up; the saga is picked up again by recovery after `retryAfterMs`. */
  async releaseSaga(db: DbExecutor, sagaId: string, owner: string, retryAfterMs: number): Promise<void> {
    await db
      .updateTable('saga_instances')
      .set({ locked_by: null, locked_until: sql<Date>`now() + make_interval(secs => ${retryAfterMs / 1000})`, updated_at: sql<Date>`now()` })
      .where('id', '=', sagaId)
      .where('locked_by', '=', owner)
      .execute();
  }

  findSagaForUpdate(db: DbExecutor, sagaId: string): Promise<SagaRecord | undefined> {
    return db.selectFrom('saga_instances').select(['id', 'order_id', 'status', 'attempts', 'failure_reason']).where('id', '=', sagaId).forUpdate().executeTakeFirst();
  }

  findSagaByOrderForUpdate(db: DbExecutor, orderId: string): Promise<SagaRecord | undefined> {
    return db.selectFrom('saga_instances').select(['id', 'order_id', 'status', 'attempts', 'failure_reason']).where('order_id', '=', orderId).forUpdate().executeTakeFirst();
  }

  async setSagaStatus(db: DbExecutor, sagaId: string, status: SagaStatus, failureReason?: string): Promise<void> {
    await db
      .updateTable('saga_instances')
      .set({
        status,
        updated_at: sql<Date>`now()`,
        ...(failureReason !== undefined && { failure_reason: failureReason }),
        ...((status === 'COMPLETED' || status === 'COMPENSATED') && { locked_by: null, locked_until: null }),
      })
      .where('id', '=', sagaId)
      .execute();
  }

  steps(db: DbExecutor, sagaId: string): Promise<SagaStepRecord[]> {
    return db.selectFrom('saga_steps').select(['step', 'status', 'output']).where('saga_id', '=', sagaId).execute();
  }

  /** The first record of a step in a transaction that also created the saga (a plain insert, no conflict check). */
  async insertStep(db: DbExecutor, sagaId: string, step: string, status: SagaStepStatus): Promise<void> {
    await db
      .insertInto('saga_steps')
      .values({ saga_id: sagaId, step, status, finished_at: status === 'SUCCEEDED' ? sql<Date>`now()` : null })
      .execute();
  }

  /** Records a step's state; a step is one row, moved through STARTED -> SUCCEEDED/FAILED -> COMPENSATED. */
  async recordStep(db: DbExecutor, sagaId: string, step: string, status: SagaStepStatus, details: { output?: Record<string, unknown>; error?: string } = {}): Promise<void> {
    const finished = status === 'SUCCEEDED' || status === 'FAILED' ? sql<Date>`now()` : null;
    const compensated = status === 'COMPENSATED' ? sql<Date>`now()` : null;
    await db
      .insertInto('saga_steps')
      .values({ saga_id: sagaId, step, status, output: JSON.stringify(details.output ?? {}), error: details.error ?? null, finished_at: finished, compensated_at: compensated })
      .onConflict((oc) =>
        oc.columns(['saga_id', 'step']).doUpdateSet({
          status,
          ...(details.output !== undefined && { output: JSON.stringify(details.output) }),
          ...(details.error !== undefined && { error: details.error }),
          ...(finished !== null && { finished_at: finished }),
          ...(compensated !== null && { compensated_at: compensated }),
        }),
      )
      .execute();
  }

  /** Unfinished sagas nobody holds (lease lapsed or released), oldest first. */
  async recoverableSagas(db: DbExecutor, limit: number): Promise<string[]> {
    const rows = await db
      .selectFrom('saga_instances')
      .select('id')
      .where('status', 'in', ['RUNNING', 'COMPENSATING'])
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }
}
