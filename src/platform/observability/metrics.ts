import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The process's Prometheus registry and the metrics the platform records. Each app instance owns
 * its registry, so tests that boot several apps in one process do not share counters.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by route template',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly transactionRetries = new Counter({
    name: 'db_transaction_retries_total',
    help: 'Transactions re-run after a serialization failure or deadlock',
    labelNames: ['isolation', 'sqlstate'] as const,
    registers: [this.registry],
  });

  readonly transactionFailures = new Counter({
    name: 'db_transaction_retry_exhausted_total',
    help: 'Transactions that still failed with a retryable error after the last attempt',
    labelNames: ['isolation'] as const,
    registers: [this.registry],
  });

  constructor() {
    this.registry.setDefaultLabels({ service: 'groundwork' });
    collectDefaultMetrics({ register: this.registry });
  }
}
