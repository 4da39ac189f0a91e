import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { MetricsService } from '../../platform/observability/metrics.js';

/**
 * Order and saga metrics, on the process registry. Serialization retries of the order transaction
 * show in the platform's db_transaction_retries_total{isolation="serializable"}.
 */
@Injectable()
export class OrdersMetrics {
  readonly created: Counter<never>;
  readonly confirmed: Counter<never>;
  readonly cancelled: Counter<'reason'>;
  readonly rejected: Counter<'code'>;
  readonly sagaStepDuration: Histogram<'step' | 'outcome'>;
  readonly compensations: Counter<'reason'>;
  readonly idempotentReplays: Counter<never>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.created = new Counter({ name: 'orders_created_total', help: 'Orders placed (stock reserved, saga started)', registers });
    this.confirmed = new Counter({ name: 'orders_confirmed_total', help: 'Orders paid and confirmed', registers });
    this.cancelled = new Counter({ name: 'orders_cancelled_total', help: 'Orders cancelled, by reason', labelNames: ['reason'], registers });
    this.rejected = new Counter({ name: 'orders_rejected_total', help: 'Order requests refused before anything was written, by error code', labelNames: ['code'], registers });
    this.sagaStepDuration = new Histogram({
      name: 'saga_step_duration_seconds',
      help: 'Duration of order saga steps and compensations',
      labelNames: ['step', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.compensations = new Counter({ name: 'saga_compensations_total', help: 'Order sagas that compensated, by reason', labelNames: ['reason'], registers });
    this.idempotentReplays = new Counter({ name: 'idempotency_replays_total', help: 'Requests answered from a stored Idempotency-Key response', registers });
  }
}
