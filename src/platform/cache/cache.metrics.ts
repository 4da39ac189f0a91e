import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The cache's Prometheus metrics, registered in the app's registry (see MetricsService). */
export class CacheMetrics {
  /** Lookups per layer: l1 and l2 hits and misses; `namespace` is the key's first segment. */
  readonly requests: Counter<'namespace' | 'layer' | 'result'>;
  /** Loads from the source (the database) after both layers missed. */
  readonly loads: Counter<'namespace'>;
  readonly loadDuration: Histogram<'namespace'>;
  /** Waits for another replica's lock: `value` when its value arrived, `timeout` when we loaded ourselves. */
  readonly lockWaits: Counter<'namespace' | 'outcome'>;
  readonly lockWaitDuration: Histogram<'namespace'>;
  /** Redis commands that failed, timed out or were refused by the open circuit breaker. */
  readonly redisErrors: Counter<'operation'>;
  /** 0 closed, 1 open, 2 half-open. */
  readonly breakerState: Gauge;
  /** Keys and tags dropped: `local` by this replica's writes, `remote` on another replica's message. */
  readonly invalidations: Counter<'source'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'cache_requests_total',
      help: 'Cache lookups by layer (l1 in-process, l2 Redis) and result (hit, miss)',
      labelNames: ['namespace', 'layer', 'result'] as const,
      registers,
    });
    this.loads = new Counter({
      name: 'cache_loads_total',
      help: 'Values loaded from the source after a miss in every layer',
      labelNames: ['namespace'] as const,
      registers,
    });
    this.loadDuration = new Histogram({
      name: 'cache_load_duration_seconds',
      help: 'Time to load a missing value from the source',
      labelNames: ['namespace'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.lockWaits = new Counter({
      name: 'cache_lock_waits_total',
      help: "Misses that waited for another replica's load lock, by outcome (value, timeout)",
      labelNames: ['namespace', 'outcome'] as const,
      registers,
    });
    this.lockWaitDuration = new Histogram({
      name: 'cache_lock_wait_seconds',
      help: "Time spent waiting for another replica's load lock",
      labelNames: ['namespace'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.redisErrors = new Counter({
      name: 'cache_redis_errors_total',
      help: 'Redis cache commands that failed, timed out or were skipped by the open circuit breaker',
      labelNames: ['operation'] as const,
      registers,
    });
    this.breakerState = new Gauge({
      name: 'cache_redis_circuit_state',
      help: 'Circuit breaker around Redis: 0 closed, 1 open, 2 half-open',
      registers,
    });
    this.invalidations = new Counter({
      name: 'cache_invalidations_total',
      help: 'Keys and tags invalidated, by source (local write, remote message)',
      labelNames: ['source'] as const,
      registers,
    });
  }
}
