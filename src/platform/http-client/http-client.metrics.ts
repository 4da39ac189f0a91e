import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Circuit states as the breaker-state gauge labels them. */
export const CIRCUIT_STATES = ['closed', 'open', 'half_open', 'isolated'] as const;
export type CircuitStateName = (typeof CIRCUIT_STATES)[number];

/** How one attempt ended, as the latency histogram labels it. */
export type AttemptOutcome = '2xx' | '3xx' | '4xx' | '429' | '5xx' | 'timeout' | 'network' | 'aborted';

/** Why a logical call failed (after its retries), as the failures counter labels it. */
export type FailureReason = 'circuit_open' | 'timeout' | 'network' | 'status';

/**
 * Outbound-call metrics, labelled by downstream. Registered on the app's registry, so
 * /metrics shows them next to the HTTP server's.
 */
export class HttpClientMetrics {
  /** Logical calls (one per request() however many attempts), by result. */
  readonly calls: Counter<'downstream' | 'method' | 'result'>;
  /** Logical calls that failed after retries, by reason (counted also when a fallback answered). */
  readonly failures: Counter<'downstream' | 'reason'>;
  /** Attempts repeated after a retryable failure, by what failed. */
  readonly retries: Counter<'downstream' | 'reason'>;
  /** 1 for the breaker's current state, 0 for the others. */
  readonly circuitState: Gauge<'downstream' | 'state'>;
  /** Duration of each attempt (its count is the number of requests that went on the wire). */
  readonly attemptDuration: Histogram<'downstream' | 'method' | 'outcome'>;

  constructor(registry: Registry) {
    this.calls = reuse(registry, 'http_client_calls_total', () => new Counter({
      name: 'http_client_calls_total',
      help: 'Outbound HTTP calls (logical, retries included in one call), by downstream and result (success, failure, fallback)',
      labelNames: ['downstream', 'method', 'result'] as const,
      registers: [registry],
    }));
    this.failures = reuse(registry, 'http_client_failures_total', () => new Counter({
      name: 'http_client_failures_total',
      help: 'Outbound HTTP calls that failed after retries, by downstream and reason (circuit_open, timeout, network, status)',
      labelNames: ['downstream', 'reason'] as const,
      registers: [registry],
    }));
    this.retries = reuse(registry, 'http_client_retries_total', () => new Counter({
      name: 'http_client_retries_total',
      help: 'Outbound HTTP attempts retried, by downstream and the failure that caused the retry',
      labelNames: ['downstream', 'reason'] as const,
      registers: [registry],
    }));
    this.circuitState = reuse(registry, 'http_client_circuit_state', () => new Gauge({
      name: 'http_client_circuit_state',
      help: 'Circuit breaker state per downstream: 1 for the current state (closed, open, half_open, isolated), 0 otherwise',
      labelNames: ['downstream', 'state'] as const,
      registers: [registry],
    }));
    this.attemptDuration = reuse(registry, 'http_client_request_duration_seconds', () => new Histogram({
      name: 'http_client_request_duration_seconds',
      help: 'Duration of each outbound HTTP attempt, by downstream, method and outcome',
      labelNames: ['downstream', 'method', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }));
  }

  /** Sets the one-hot breaker-state gauge of a service. */
  setCircuitState(downstream: string, state: CircuitStateName): void {
    for (const candidate of CIRCUIT_STATES) this.circuitState.set({ downstream, state: candidate }, candidate === state ? 1 : 0);
  }
}

// Two factories on one registry (an app and a script sharing it) must share the metric, not throw
// "already registered".
function reuse<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
