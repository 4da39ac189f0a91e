import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../observability/metrics.js';

type BacklogSource = () => Promise<{ count: number; oldestAgeSeconds: number }>;
type LagSource = () => Promise<Array<{ topic: string; partition: number; lag: number }>>;

/** Metrics of the outbox relay and the consumers, in the process's registry. */
@Injectable()
export class EventsMetrics {
  private backlogSource: BacklogSource | undefined;
  private lagSource: LagSource | undefined;

  readonly published: Counter<'transport'>;
  readonly publishFailures: Counter<'transport'>;
  /** Seconds from the business commit's write to the broker's (or in-process) acknowledgement. */
  readonly relayLag: Histogram<'transport'>;
  readonly leader: Gauge;
  readonly handlerDuration: Histogram<'consumer' | 'outcome'>;
  readonly deadLettered: Counter<'consumer' | 'reason'>;
  readonly skipped: Counter<'reason'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- collect() runs with prom-client's `this`
    const self = this;
    this.published = new Counter({ name: 'events_published_total', help: 'Events relayed from the outbox', labelNames: ['transport'], registers });
    this.publishFailures = new Counter({
      name: 'events_publish_failures_total',
      help: 'Relay batches that failed to publish (retried with backoff)',
      labelNames: ['transport'],
      registers,
    });
    this.relayLag = new Histogram({
      name: 'events_relay_lag_seconds',
      help: 'Time from the outbox write to publication',
      labelNames: ['transport'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.leader = new Gauge({ name: 'events_relay_leader', help: '1 while this process holds the relay lock', registers });
    this.handlerDuration = new Histogram({
      name: 'events_handler_duration_seconds',
      help: 'Event handler attempts, by consumer and outcome (applied, duplicate, failed)',
      labelNames: ['consumer', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'events_dead_lettered_total',
      help: 'Messages sent to the dead-letter topic or table',
      labelNames: ['consumer', 'reason'],
      registers,
    });
    this.skipped = new Counter({ name: 'events_skipped_total', help: 'Messages skipped (no handler for the event type)', labelNames: ['reason'], registers });
    new Gauge({
      name: 'events_outbox_backlog',
      help: 'Outbox events not yet published',
      registers,
      async collect() {
        if (self.backlogSource) this.set((await self.backlogSource().catch(() => ({ count: 0 }))).count);
      },
    });
    new Gauge({
      name: 'events_outbox_oldest_age_seconds',
      help: 'Age of the oldest unpublished outbox event (0 when none)',
      registers,
      async collect() {
        if (self.backlogSource) this.set((await self.backlogSource().catch(() => ({ oldestAgeSeconds: 0 }))).oldestAgeSeconds);
      },
    });
    new Gauge({
      name: 'events_consumer_lag',
      help: 'Messages on the topic after the consumer group committed offset, by topic and partition',
      labelNames: ['topic', 'partition'],
      registers,
      async collect() {
        this.reset();
        if (!self.lagSource) return;
        for (const { topic, partition, lag } of await self.lagSource().catch(() => [])) this.set({ topic, partition: String(partition) }, lag);
      },
    });
  }

  /** Where the backlog gauges read from (the outbox). */
  setBacklogSource(source: BacklogSource): void {
    this.backlogSource = source;
  }

  /** Where the consumer-lag gauge reads from (the Kafka consumer, when there is one). */
  setLagSource(source: LagSource | undefined): void {
    this.lagSource = source;
  }
}
