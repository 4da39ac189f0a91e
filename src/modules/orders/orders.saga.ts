import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Transaction } from 'kysely';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config.schema.js';
import { DatabaseService } from '../../platform/database/database.service.js';
import type { Database, OrderCancelReason } from '../../platform/database/database.types.js';
import { EventWriter } from '../../platform/events/event-writer.js';
import { PROCESS_LOGGER } from '../../platform/observability/logger.tokens.js';
import { PaymentsService, PaymentUnavailableError } from '../payments/payments.service.js';
import { ProductsService } from '../products/products.service.js';
import { ORDER_AGGREGATE, OrderEvents, type OrderCancelledPayload, type OrderConfirmedPayload } from './orders.events.js';
import { OrdersMetrics } from './orders.metrics.js';
import { OrdersRepository, type OrderRecord, type SagaRecord, type SagaStepRecord } from './orders.repository.js';

export const ORDER_SAGA_TYPE = 'order-payment';

/** The steps, in order. `reserve` is done by the order transaction itself. */
export const SagaSteps = { reserve: 'reserve', charge: 'charge', confirm: 'confirm' } as const;

/** Acquisitions of a saga (each one a charge attempt) before an unreachable provider cancels the order. */
export const MAX_SAGA_ATTEMPTS = 6;

/** The provider's idempotency key for the order's charge: the same on every attempt and in every process. */
export function chargeKeyOf(orderId: string): string {
  return `order-${orderId}-charge`;
}

function refundKeyOf(orderId: string): string {
  return `order-${orderId}-refund`;
}

/** Why a saga compensates, as the order's cancel_reason records it. */
function asCancelReason(reason: string | null): OrderCancelReason {
  return reason === 'payment_declined' || reason === 'cancelled_by_user' || reason === 'cancelled_by_admin' ? reason : 'payment_failed';
}

/**
 * The order payment saga, persisted in saga_instances / saga_steps:
 *   reserve (in the order transaction) -> charge (payment provider, idempotency key from the order)
 *   -> confirm (order CONFIRMED, reservation becomes a sale, OrderConfirmed; one transaction).
 * A decline, a provider unreachable for MAX_SAGA_ATTEMPTS, or a cancel by the user compensates in
 * reverse: refund if a charge may exist, then release the reservation and cancel the order
 * (OrderCancelled) in one transaction.
 *
 * Every step is idempotent: the charge and refund carry idempotency keys derived from the order, and
 * confirm and cancel are guarded status transitions (PENDING -> ...) that move stock exactly once.
 * A step is recorded STARTED before its side effect, so after a crash the saga knows a charge may
 * exist. The process that placed the order drives the saga at once; it holds a lease
 * (saga_instances.locked_by/locked_until), and the worker role picks up every unfinished saga whose
 * lease lapsed, at start and then every SAGA_RECOVERY_INTERVAL_MS.
 */
@Injectable()
export class OrderSaga implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** This process's name on the leases it takes. */
  readonly owner = `${hostname()}:${process.pid}:${uuidv7()}`;
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private recovering: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly database: DatabaseService,
    private readonly orders: OrdersRepository,
    private readonly products: ProductsService,
    private readonly payments: PaymentsService,
    private readonly events: EventWriter,
    private readonly metrics: OrdersMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROCESS_LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.APP_ROLE === 'api') return;
    // Sagas a crashed process left behind are resumed right away, then polled for.
    this.scheduleRecovery(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // Steps in flight finish (bounded by the HTTP client's timeouts); an unfinished saga keeps its
    // state and is resumed by a worker once this process's lease lapses.
    await Promise.allSettled([...this.running.values(), this.recovering]);
  }

  /** Writes the saga in the order transaction, owned by this process, with `reserve` done. */
  async begin(trx: Transaction<Database>, orderId: string): Promise<string> {
    const sagaId = uuidv7();
    await this.orders.insertSaga(trx, { id: sagaId, sagaType: ORDER_SAGA_TYPE, orderId, owner: this.owner, leaseMs: this.config.SAGA_LEASE_MS });
    // A plain insert: an ON CONFLICT check would read the index page other orders insert into,
    // which SERIALIZABLE counts as a conflict between them.
    await this.orders.insertStep(trx, sagaId, SagaSteps.reserve, 'SUCCEEDED');
    return sagaId;
  }

  /**
   * Called in the transaction that cancelled a PENDING order (which released its stock): the saga
   * switches to compensation so a charge it made is refunded. Returns the saga to drive.
   */
  async cancelRequested(trx: Transaction<Database>, orderId: string, reason: OrderCancelReason): Promise<string | undefined> {
    const saga = await this.orders.findSagaByOrderForUpdate(trx, orderId);
    if (!saga || (saga.status !== 'RUNNING' && saga.status !== 'COMPENSATING')) return undefined;
    await this.orders.setSagaStatus(trx, saga.id, 'COMPENSATING', reason);
    await this.orders.recordStep(trx, saga.id, SagaSteps.reserve, 'COMPENSATED');
    return saga.id;
  }

  /** Drives the saga in the background of this process (no-op when it is already being driven here). */
  start(sagaId: string): void {
    if (this.stopped || this.running.has(sagaId)) return;
    const run = this.drive(sagaId)
      .catch((error: unknown) => this.logger.error({ err: error, sagaId }, 'order saga step failed unexpectedly; recovery will retry it'))
      .finally(() => this.running.delete(sagaId));
    this.running.set(sagaId, run);
  }

  /** Starts every unfinished saga nobody holds and waits for them; returns how many it found. */
  async recoverOnce(limit = 100): Promise<number> {
    const ids = await this.orders.recoverableSagas(this.database.db, limit);
    if (ids.length > 0) this.logger.info({ sagas: ids.length }, 'resuming unfinished order sagas');
    for (const id of ids) this.start(id);
    await Promise.allSettled(ids.flatMap((id) => this.running.get(id) ?? []));
    return ids.length;
  }

  private scheduleRecovery(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.recovering = this.recoverOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.warn({ err: error }, 'order saga recovery pass failed'))
        .finally(() => {
          this.recovering = undefined;
          this.scheduleRecovery(this.config.SAGA_RECOVERY_INTERVAL_MS);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async drive(sagaId: string): Promise<void> {
    const saga = await this.orders.acquireSaga(this.database.db, sagaId, this.owner, this.config.SAGA_LEASE_MS);
    if (!saga) return; // finished, or another process holds it
    const order = await this.orders.findById(this.database.db, saga.order_id);
    if (!order) return; // deleted with its saga (cascade); nothing left to do
    const steps = new Map((await this.orders.steps(this.database.db, sagaId)).map((step) => [step.step, step]));

    if (saga.status === 'COMPENSATING') return this.compensate(saga, order, steps, asCancelReason(saga.failure_reason));

    let charge = steps.get(SagaSteps.charge);
    if (charge?.status === 'FAILED') return this.compensate(saga, order, steps, 'payment_declined');
    // Cancelled before it was paid: nothing to charge.
    if (order.status !== 'PENDING') return this.compensate(saga, order, steps, asCancelReason(order.cancel_reason));

    if (charge?.status !== 'SUCCEEDED') {
      await this.orders.recordStep(this.database.db, sagaId, SagaSteps.charge, 'STARTED');
      const startedAt = process.hrtime.bigint();
      const outcome = await this.timed(SagaSteps.charge, startedAt, () =>
        this.payments.charge({ idempotencyKey: chargeKeyOf(order.id), amount: Number(order.total), currency: order.currency, reference: order.id }),
      );
      if (outcome === 'unavailable') {
        steps.set(SagaSteps.charge, { step: SagaSteps.charge, status: 'STARTED', output: {} });
        if (saga.attempts >= MAX_SAGA_ATTEMPTS) return this.compensate(saga, order, steps, 'payment_failed');
        return this.retryLater(saga);
      }
      if (outcome.status === 'declined') {
        await this.orders.recordStep(this.database.db, sagaId, SagaSteps.charge, 'FAILED', { error: outcome.reason });
        steps.set(SagaSteps.charge, { step: SagaSteps.charge, status: 'FAILED', output: {} });
        return this.compensate(saga, order, steps, 'payment_declined');
      }
      await this.orders.recordStep(this.database.db, sagaId, SagaSteps.charge, 'SUCCEEDED', { output: { paymentId: outcome.paymentId } });
      this.logger.info({ sagaId, orderId: order.id, step: SagaSteps.charge }, 'order saga step succeeded');
      charge = { step: SagaSteps.charge, status: 'SUCCEEDED', output: { paymentId: outcome.paymentId } };
      steps.set(SagaSteps.charge, charge);
    }

    const paymentId = String(charge.output.paymentId);
    const startedAt = process.hrtime.bigint();
    const confirmed = await this.database.transaction(async (trx) => {
      if (!(await this.orders.confirm(trx, order.id, paymentId))) return false;
      const items = await this.orders.itemsOf(trx, [order.id]);
      await this.products.commitSale(
        trx,
        items.map((item) => ({ productId: item.product_id, quantity: item.quantity })),
      );
      const payload: OrderConfirmedPayload = { orderId: order.id, paymentId, total: Number(order.total), currency: order.currency };
      await this.events.append(trx, { eventType: OrderEvents.confirmed, aggregateType: ORDER_AGGREGATE, aggregateId: order.id, payload });
      await this.orders.recordStep(trx, sagaId, SagaSteps.confirm, 'SUCCEEDED');
      await this.orders.setSagaStatus(trx, sagaId, 'COMPLETED');
      return true;
    });
    this.observe(SagaSteps.confirm, startedAt, confirmed ? 'succeeded' : 'skipped');
    if (confirmed) {
      this.metrics.confirmed.inc();
      this.logger.info({ sagaId, orderId: order.id }, 'order confirmed');
      return;
    }
    // The order left PENDING while we were charging (cancelled): give the money back.
    const current = await this.orders.findById(this.database.db, order.id);
    return this.compensate(saga, current ?? order, steps, asCancelReason(current?.cancel_reason ?? null));
  }

  /** Undoes the done steps in reverse: refund a charge that may exist, then release and cancel. */
  private async compensate(saga: SagaRecord, order: OrderRecord, steps: Map<string, SagaStepRecord>, reason: OrderCancelReason): Promise<void> {
    if (saga.status !== 'COMPENSATING') {
      await this.orders.setSagaStatus(this.database.db, saga.id, 'COMPENSATING', reason);
      saga = { ...saga, status: 'COMPENSATING', failure_reason: reason };
    }
    const charge = steps.get(SagaSteps.charge);
    // STARTED: the charge request may have reached the provider before a crash or a timeout.
    if (charge && (charge.status === 'SUCCEEDED' || charge.status === 'STARTED')) {
      const startedAt = process.hrtime.bigint();
      const outcome = await this.timed('refund', startedAt, () =>
        this.payments.refund({ idempotencyKey: refundKeyOf(order.id), reference: order.id }),
      );
      if (outcome === 'unavailable') return this.retryLater(saga);
      await this.orders.recordStep(this.database.db, saga.id, SagaSteps.charge, 'COMPENSATED', { output: { ...charge.output, refund: outcome.status } });
    }

    const startedAt = process.hrtime.bigint();
    const cancelled = await this.database.transaction(async (trx) => {
      const changed = await this.orders.cancel(trx, order.id, reason);
      if (changed) {
        const items = await this.orders.itemsOf(trx, [order.id]);
        await this.products.releaseReservation(
          trx,
          items.map((item) => ({ productId: item.product_id, quantity: item.quantity })),
        );
        const payload: OrderCancelledPayload = { orderId: order.id, reason };
        await this.events.append(trx, { eventType: OrderEvents.cancelled, aggregateType: ORDER_AGGREGATE, aggregateId: order.id, payload });
      }
      await this.orders.recordStep(trx, saga.id, SagaSteps.reserve, 'COMPENSATED');
      await this.orders.setSagaStatus(trx, saga.id, 'COMPENSATED');
      return changed;
    });
    this.observe('release', startedAt, 'succeeded');
    this.metrics.compensations.inc({ reason });
    // A cancel by a caller counted itself when it changed the order.
    if (cancelled) this.metrics.cancelled.inc({ reason });
    this.logger.info({ sagaId: saga.id, orderId: order.id, reason }, 'order saga compensated');
  }

  /** Runs a payment call, timing it; an unknown outcome is 'unavailable' (retried later), not an error. */
  private async timed<T>(step: string, startedAt: bigint, call: () => Promise<T>): Promise<T | 'unavailable'> {
    try {
      const result = await call();
      this.observe(step, startedAt, 'succeeded');
      return result;
    } catch (error) {
      if (!(error instanceof PaymentUnavailableError)) throw error;
      this.observe(step, startedAt, 'unavailable');
      this.logger.warn({ err: error, step }, 'payment provider unavailable; the saga will retry');
      return 'unavailable';
    }
  }

  private observe(step: string, startedAt: bigint, outcome: string): void {
    this.metrics.sagaStepDuration.observe({ step, outcome }, Number(process.hrtime.bigint() - startedAt) / 1e9);
  }

  /** Releases the lease with a backoff that grows with the attempts; recovery resumes it. */
  private async retryLater(saga: SagaRecord): Promise<void> {
    const delayMs = Math.min(30_000, 500 * 2 ** Math.max(0, saga.attempts - 1));
    await this.orders.releaseSaga(this.database.db, saga.id, this.owner, delayMs);
  }
}
