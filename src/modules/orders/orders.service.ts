import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { DatabaseService } from '../../platform/database/database.service.js';
import type { OrderCancelReason } from '../../platform/database/database.types.js';
import { decodeCursor, encodeCursor } from '../../platform/database/pagination.js';
import type { TransactionOptions } from '../../platform/database/transaction.js';
import { AppError } from '../../platform/errors/app-error.js';
import { EventWriter } from '../../platform/events/event-writer.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { ResourceAccessService } from '../access/access.service.js';
import { ProductsService } from '../products/products.service.js';
import { ORDER_PAGE_SIZE, type CreateOrderDto, type ListOrdersQueryDto, type OrderDto, type OrderPageDto } from './orders.dto.js';
import { ORDER_AGGREGATE, OrderEvents, type OrderCancelledPayload, type OrderCreatedPayload } from './orders.events.js';
import { OrdersMetrics } from './orders.metrics.js';
import { OrdersRepository, type OrderItemRecord, type OrderRecord } from './orders.repository.js';
import { OrderSaga } from './orders.saga.js';

/**
 * The retry policy of the order transaction. SERIALIZABLE aborts all but one of the transactions
 * that reserve the same hot product at once (40001), so under a flash sale most attempts are lost
 * races; the budget is sized so a request gives up (503) only under sustained overload, with
 * jittered backoff spreading the retries. The bench's raw-pg baseline uses the same policy.
 */
export const ORDER_TRANSACTION: TransactionOptions = { isolation: 'serializable', maxAttempts: 60, baseDelayMs: 2, maxDelayMs: 50 };

/** How long a request holds its Idempotency-Key before another may take it over (it died). */
export const IDEMPOTENCY_LEASE_MS = 60_000;
const IDEMPOTENCY_SCOPE = 'POST /orders';
// Printable ASCII without spaces, as Stripe and the IETF Idempotency-Key draft use in practice.
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** A response stored under an Idempotency-Key, or a fresh one; `replayed` says which. */
export interface IdempotentResult<T> {
  status: number;
  body: T;
  replayed: boolean;
}

function toDto(order: OrderRecord, items: readonly OrderItemRecord[]): OrderDto {
  return {
    id: order.id,
    userId: order.user_id,
    organizationId: order.organization_id,
    status: order.status,
    currency: order.currency,
    total: Number(order.total),
    paymentId: order.payment_id,
    cancelReason: order.cancel_reason,
    items: items.map((item) => ({ productId: item.product_id, quantity: item.quantity, unitPrice: Number(item.unit_price), lineTotal: Number(item.line_total) })),
    createdAt: order.created_at.toISOString(),
    updatedAt: order.updated_at.toISOString(),
  };
}

const orderNotFound = (): AppError => new AppError('ORDER_NOT_FOUND');

/** The canonical request a key is bound to: the same items in the same order hash the same. */
function requestHash(input: CreateOrderDto): Buffer {
  const canonical = JSON.stringify(input.items.map((item) => [item.productId.toLowerCase(), item.quantity]));
  return createHash('sha256').update(canonical).digest();
}

type CreateOutcome =
  | { kind: 'created'; dto: OrderDto; sagaId: string }
  | { kind: 'refused'; error: AppError };

/**
 * Orders: placed under an Idempotency-Key in one SERIALIZABLE transaction (reserve stock, write the
 * order priced from the catalog, start the saga, write OrderCreated to the outbox, complete the
 * key), then paid by the persisted saga (orders.saga.ts) outside any transaction.
 * Callers see their own orders; holders of `orders:read` / `orders:cancel` act on every order of
 * their organization; another organization's orders are ORDER_NOT_FOUND.
 */
@Injectable()
export class OrdersService {
  constructor(
    private readonly database: DatabaseService,
    private readonly orders: OrdersRepository,
    private readonly products: ProductsService,
    private readonly events: EventWriter,
    private readonly access: ResourceAccessService,
    private readonly metrics: OrdersMetrics,
    private readonly saga: OrderSaga,
  ) {}

  async create(caller: Principal, idempotencyKey: string | undefined, input: CreateOrderDto): Promise<IdempotentResult<OrderDto>> {
    if (idempotencyKey === undefined || !IDEMPOTENCY_KEY.test(idempotencyKey)) throw new AppError('IDEMPOTENCY_KEY_REQUIRED');
    const seen = new Set<string>();
    input.items.forEach((item, index) => {
      const id = item.productId.toLowerCase();
      if (seen.has(id)) throw AppError.validation([{ field: `items[${index}].productId`, message: 'each product may appear once; use quantity' }]);
      seen.add(id);
    });

    const hash = requestHash(input);
    const claim = { userId: caller.userId, scope: IDEMPOTENCY_SCOPE, key: idempotencyKey, requestHash: hash, leaseMs: IDEMPOTENCY_LEASE_MS };
    // Read first (never waits), then insert or take over; see OrdersRepository for why.
    let existing = await this.orders.findIdempotencyKey(this.database.db, caller.userId, IDEMPOTENCY_SCOPE, idempotencyKey);
    let claimed = false;
    if (!existing) {
      claimed = await this.orders.insertIdempotencyKey(this.database.db, claim);
      if (!claimed) existing = await this.orders.findIdempotencyKey(this.database.db, caller.userId, IDEMPOTENCY_SCOPE, idempotencyKey);
    } else if (existing.status === 'in_progress') {
      claimed = await this.orders.takeOverIdempotencyKey(this.database.db, claim);
    }
    if (!claimed) {
      // Gone between the two statements (the first request failed and freed it): retry later.
      if (!existing) throw new AppError('IDEMPOTENCY_KEY_IN_USE', { headers: { 'retry-after': '1' } });
      if (!existing.request_hash.equals(hash)) throw new AppError('IDEMPOTENCY_KEY_MISMATCH');
      if (existing.status === 'in_progress') throw new AppError('IDEMPOTENCY_KEY_IN_USE', { headers: { 'retry-after': '1' } });
      this.metrics.idempotentReplays.inc();
      return { status: existing.response_status!, body: existing.response_body as OrderDto, replayed: true };
    }

    let outcome: CreateOutcome;
    try {
      outcome = await this.database.transaction((trx) => this.placeOrder(trx, caller, idempotencyKey, input), ORDER_TRANSACTION);
    } catch (error) {
      // Nothing was created (the transaction rolled back), so the key is freed for a retry.
      await this.orders.releaseIdempotencyKey(this.database.db, caller.userId, IDEMPOTENCY_SCOPE, idempotencyKey);
      throw error;
    }
    if (outcome.kind === 'refused') {
      await this.orders.releaseIdempotencyKey(this.database.db, caller.userId, IDEMPOTENCY_SCOPE, idempotencyKey);
      this.metrics.rejected.inc({ code: outcome.error.code });
      throw outcome.error;
    }
    this.metrics.created.inc();
    this.saga.start(outcome.sagaId);
    return { status: 201, body: outcome.dto, replayed: false };
  }

  /**
   * The order transaction: quote (prices and stock, read), write the order, its saga, OrderCreated
   * and the idempotent response, and reserve the stock last. A refusal (shortage, unknown product)
   * is returned rather than thrown:
   * it was decided on reads, and only a committed SERIALIZABLE transaction guarantees its reads
   * were consistent, so the refusal commits (writing nothing) before it reaches the client.
   */
  private async placeOrder(trx: Parameters<ProductsService['reserve']>[0], caller: Principal, idempotencyKey: string, input: CreateOrderDto): Promise<CreateOutcome> {
    await this.orders.preferIndexScans(trx);
    const reservation = await this.products.quote(trx, input.items);
    switch (reservation.kind) {
      case 'unavailable':
        return {
          kind: 'refused',
          error: new AppError('PRODUCT_UNAVAILABLE', { details: reservation.productIds.map((id) => ({ field: 'items', message: `product ${id} does not exist or is not for sale` })) }),
        };
      case 'currency-mismatch':
        return { kind: 'refused', error: new AppError('CURRENCY_MISMATCH', { details: [{ field: 'items', message: `currencies: ${reservation.currencies.join(', ')}` }] }) };
      case 'insufficient':
        return {
          kind: 'refused',
          error: new AppError('INSUFFICIENT_INVENTORY', {
            details: reservation.shortages.map((shortage) => ({
              field: 'items',
              message: `product ${shortage.productId}: requested ${shortage.requested}, available ${Math.max(0, shortage.available)}`,
            })),
          }),
        };
      case 'reserved':
        break;
    }
    const orderId = uuidv7();
    const order = await this.orders.insertOrder(trx, {
      id: orderId,
      organization_id: caller.organizationId,
      user_id: caller.userId,
      currency: reservation.currency,
      total: reservation.total,
      items: reservation.lines.map((line) => ({ product_id: line.productId, quantity: line.quantity, unit_price: line.unitPrice, line_total: line.lineTotal })),
    });
    const dto = toDto(
      order,
      reservation.lines.map((line) => ({ order_id: orderId, product_id: line.productId, quantity: line.quantity, unit_price: String(line.unitPrice), line_total: String(line.lineTotal) })),
    );
    const sagaId = await this.saga.begin(trx, orderId);
    const payload: OrderCreatedPayload = {
      orderId,
      userId: caller.userId,
      organizationId: caller.organizationId,
      currency: dto.currency,
      total: dto.total,
      items: dto.items,
    };
    await this.events.append(trx, { eventType: OrderEvents.created, aggregateType: ORDER_AGGREGATE, aggregateId: orderId, payload });
    await this.orders.completeIdempotencyKey(trx, caller.userId, IDEMPOTENCY_SCOPE, idempotencyKey, { status: 201, body: dto });
    // Last: the hot rows are locked only from here to the commit.
    await this.products.reserve(trx, input.items);
    return { kind: 'created', dto, sagaId };
  }

  /** The caller's orders; with `orders:read`, every order of its organization (platform admins: all). */
  async list(caller: Principal, query: ListOrdersQueryDto): Promise<OrderPageDto> {
    const limit = query.limit ?? ORDER_PAGE_SIZE;
    const scope = this.access.holds(caller, 'orders:read') ? { organizationId: this.access.tenantScope(caller) } : { userId: caller.userId };
    const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor, 'createdAt', 'desc');
    const rows = await this.orders.list(this.database.db, scope, {
      limit: limit + 1,
      ...(query.status && { status: query.status }),
      ...(before && { before: { createdAt: before.value, id: before.id } }),
    });
    const page = rows.slice(0, limit);
    const items = await this.orders.itemsOf(
      this.database.db,
      page.map((row) => row.id),
    );
    const last = page.at(-1);
    return {
      data: page.map((row) => toDto(row, items.filter((item) => item.order_id === row.id))),
      nextCursor: rows.length > limit && last ? encodeCursor({ sort: 'createdAt', direction: 'desc', value: last.sort_key, id: last.id }) : null,
    };
  }

  async findOne(caller: Principal, id: string): Promise<OrderDto> {
    const order = await this.orders.findById(this.database.db, id);
    if (!order || !this.canSee(caller, order)) throw orderNotFound();
    return toDto(order, await this.orders.itemsOf(this.database.db, [id]));
  }

  /**
   * PENDING -> CANCELLED, by the owner or a holder of `orders:cancel` in the order's organization.
   * The reservation is released in the same transaction as the status change (so exactly once),
   * and the saga is switched to compensation: a charge it already made is refunded.
   * CONFIRMED and CANCELLED are final (ORDER_NOT_CANCELLABLE).
   */
  async cancel(caller: Principal, id: string): Promise<OrderDto> {
    const order = await this.orders.findById(this.database.db, id);
    if (!order || !this.canSee(caller, order)) throw orderNotFound();
    const owner = order.user_id === caller.userId;
    if (!owner && !this.access.holds(caller, 'orders:cancel')) throw new AppError('FORBIDDEN');
    const reason: OrderCancelReason = owner ? 'cancelled_by_user' : 'cancelled_by_admin';

    const sagaId = await this.database.transaction(async (trx) => {
      const current = await this.orders.findByIdForUpdate(trx, id);
      if (!current || current.status !== 'PENDING') throw new AppError('ORDER_NOT_CANCELLABLE');
      await this.orders.cancel(trx, id, reason);
      const items = await this.orders.itemsOf(trx, [id]);
      await this.products.releaseReservation(
        trx,
        items.map((item) => ({ productId: item.product_id, quantity: item.quantity })),
      );
      const payload: OrderCancelledPayload = { orderId: id, reason };
      await this.events.append(trx, { eventType: OrderEvents.cancelled, aggregateType: ORDER_AGGREGATE, aggregateId: id, payload });
      return this.saga.cancelRequested(trx, id, reason);
    });
    this.metrics.cancelled.inc({ reason });
    // Refund promptly if the saga already charged; recovery would otherwise get to it.
    if (sagaId !== undefined) this.saga.start(sagaId);
    return this.findOne(caller, id);
  }

  private canSee(caller: Principal, order: OrderRecord): boolean {
    if (order.user_id === caller.userId) return true;
    return this.access.holds(caller, 'orders:read') && this.access.canSeeTenant(caller, order.organization_id);
  }
}

