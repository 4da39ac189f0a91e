import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '../config/config.schema.js';
import { DatabaseService } from '../database/database.service.js';
import { PROCESS_LOGGER } from '../observability/logger.tokens.js';
import { EventDispatcher } from './event-dispatcher.js';
import { EventHandlerRegistry } from './event-handlers.js';
import { EventStore } from './event-store.js';
import type { EventTransport } from './event-transport.js';
import { EventsMetrics } from './events.metrics.js';
import { InProcessTransport } from './in-process-transport.js';
import { KafkaEventConsumer } from './kafka-consumer.js';
import { KafkaTopics, KafkaTransport, type KafkaSettings } from './kafka.js';
import { OutboxRelay } from './outbox-relay.js';

export interface EventsStatus {
  transport: 'kafka' | 'in-process';
  /** Kafka only: whether the cluster answered a metadata request just now. */
  kafka?: 'up' | 'down';
  relayActive: boolean;
  backlog: number;
  oldestAgeSeconds: number;
}

/**
 * Builds the events pipeline from configuration and runs it in the worker role: the outbox relay
 * (to Kafka when KAFKA_BROKERS is set, else to the in-process handlers) and, with Kafka, the
 * consumer group of this service role. The api role only writes to the outbox.
 */
@Injectable()
export class EventsRuntime implements OnApplicationBootstrap, OnModuleDestroy {
  readonly store: EventStore;
  readonly dispatcher: EventDispatcher;
  readonly transport: EventTransport;
  readonly relay: OutboxRelay;
  readonly kafka: { settings: KafkaSettings; topics: KafkaTopics; transport: KafkaTransport; consumer: KafkaEventConsumer } | undefined;
  private readonly runsWorker: boolean;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(PROCESS_LOGGER) logger: Logger,
    database: DatabaseService,
    readonly registry: EventHandlerRegistry,
    metrics: EventsMetrics,
  ) {
    const log = logger.child({ component: 'events' });
    this.runsWorker = config.APP_ROLE !== 'api';
    this.store = new EventStore(database);
    this.dispatcher = new EventDispatcher(database, this.store, registry, metrics, log, {
      maxAttempts: config.EVENTS_HANDLER_MAX_ATTEMPTS,
      retryBaseMs: config.EVENTS_HANDLER_RETRY_BASE_MS,
    });
    if (config.KAFKA_BROKERS) {
      const settings: KafkaSettings = { brokers: config.KAFKA_BROKERS, topicPrefix: config.KAFKA_TOPIC_PREFIX, clientId: 'groundwork' };
      const topics = new KafkaTopics(settings);
      const transport = new KafkaTransport(settings, topics, log);
      const consumer = new KafkaEventConsumer(settings, `${settings.topicPrefix}worker`, topics, transport, registry, this.dispatcher, metrics, log);
      this.kafka = { settings, topics, transport, consumer };
      this.transport = transport;
    } else {
      this.kafka = undefined;
      this.transport = new InProcessTransport(this.dispatcher, this.store);
    }
    this.relay = new OutboxRelay(database, this.store, this.transport, metrics, log, {
      batchSize: config.EVENTS_RELAY_BATCH_SIZE,
      pollMs: config.EVENTS_RELAY_POLL_MS,
      retentionHours: config.EVENTS_OUTBOX_RETENTION_HOURS,
    });
    metrics.setBacklogSource(() => this.store.backlog());
    if (this.kafka) {
      const consumer = this.kafka.consumer;
      metrics.setLagSource(() => consumer.lag());
    }
  }

  /** After every module's onModuleInit, so all handlers are registered before consuming starts. */
  onApplicationBootstrap(): void {
    if (!this.runsWorker) return;
    this.relay.start();
    this.kafka?.consumer.start();
  }

  async onModuleDestroy(): Promise<void> {
    // Before the database closes (onApplicationShutdown): the relay and handlers still need it.
    await this.relay.stop();
    await this.kafka?.consumer.stop();
    await this.kafka?.transport.close().catch(() => undefined);
    await this.kafka?.topics.close().catch(() => undefined);
  }

  /** For /health: the transport, Kafka reachability and the outbox backlog. */
  async status(): Promise<EventsStatus> {
    const backlog = await this.store.backlog();
    const base = { relayActive: this.relay.isLeader, backlog: backlog.count, oldestAgeSeconds: Math.round(backlog.oldestAgeSeconds * 10) / 10 };
    if (!this.kafka) return { transport: 'in-process', ...base };
    const kafka = await this.kafka.topics.ping(1_000).then(
      () => 'up' as const,
      () => 'down' as const,
    );
    return { transport: 'kafka', kafka, ...base };
  }
}
