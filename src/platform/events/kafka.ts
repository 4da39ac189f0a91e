import { Admin, Producer, ProduceAcks, stringSerializers } from '@platformatic/kafka';
import type { Logger } from 'pino';
import type { EventEnvelope } from './event-envelope.js';
import type { DeadLetter } from './event-store.js';
import type { EventTransport } from './event-transport.js';

export interface KafkaSettings {
  brokers: readonly string[];
  /** Prepended to every topic and group: topic = prefix + aggregateType. */
  topicPrefix: string;
  clientId: string;
}

/** The topic of an aggregate type. */
export function topicFor(settings: KafkaSettings, aggregateType: string): string {
  return `${settings.topicPrefix}${aggregateType}`;
}

/** The dead-letter topic of a topic. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** Headers every event message carries, so routers and tracing need not parse the value. */
export function eventHeaders(event: EventEnvelope): Record<string, string> {
  return {
    'event-id': event.eventId,
    'event-type': event.eventType,
    'content-type': 'application/json',
    ...(event.traceparent !== null && { traceparent: event.traceparent }),
  };
}

// Short timeouts and few client-level retries: with the broker down the relay must fail fast and
// back off itself (the outbox buffers), not hang inside the client.
const CLIENT_TIMEOUTS = { timeout: 5_000, connectTimeout: 3_000, retries: 2, retryDelay: 250 } as const;

/**
 * Topics are created explicitly (partitions 3, replication left to the broker's default) rather
 * than relying on broker-side auto-creation, which production clusters usually disable.
 */
export class KafkaTopics {
  private readonly known = new Set<string>();
  private readonly admin: Admin;

  constructor(settings: KafkaSettings) {
    this.admin = new Admin({ clientId: `${settings.clientId}-admin`, bootstrapBrokers: [...settings.brokers], ...CLIENT_TIMEOUTS });
  }

  /** Creates the topics that do not exist yet (idempotent). */
  async ensure(topics: readonly string[]): Promise<void> {
    const missing = topics.filter((topic) => !this.known.has(topic));
    if (missing.length === 0) return;
    const existing = new Set(await this.admin.listTopics());
    const toCreate = missing.filter((topic) => !existing.has(topic));
    if (toCreate.length > 0) {
      try {
        await this.admin.createTopics({ topics: toCreate, partitions: 3, replicas: -1 });
      } catch (error) {
        // Another replica created it between the list and the create.
        if (!/already exists/i.test(String((error as Error).message) + JSON.stringify((error as { errors?: unknown }).errors ?? ''))) throw error;
      }
    }
    for (const topic of missing) this.known.add(topic);
  }

  /** Resolves when the cluster answers a metadata request within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.admin.metadata({ topics: [], forceUpdate: true }),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('Kafka did not answer in time')), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.admin.close();
  }
}

/**
 * Publishes relayed events to Kafka with an idempotent producer and acks=all: one topic per
 * aggregate type, the aggregate id as key (so one aggregate's events share a partition and keep
 * their order), the envelope as JSON value and event-type, content-type, traceparent headers.
 */
export class KafkaTransport implements EventTransport {
  readonly name = 'kafka';
  private readonly producer: Producer<string, string, string, string>;

  constructor(
    private readonly settings: KafkaSettings,
    private readonly topics: KafkaTopics,
    private readonly logger: Logger,
  ) {
    this.producer = new Producer({
      clientId: `${settings.clientId}-relay`,
      bootstrapBrokers: [...settings.brokers],
      serializers: stringSerializers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      ...CLIENT_TIMEOUTS,
    });
  }

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    if (events.length === 0) return;
    await this.topics.ensure([...new Set(events.map((event) => topicFor(this.settings, event.aggregateType)))]);
    await this.producer.send({
      messages: events.map((event) => ({
        topic: topicFor(this.settings, event.aggregateType),
        key: event.aggregateId,
        value: JSON.stringify(event),
        headers: eventHeaders(event),
      })),
    });
  }

  /** Sends a dead letter to `<topic>.dlq` with the error and attempt count in headers. */
  async publishDeadLetter(letter: DeadLetter, key: string | undefined, headers: Record<string, string>): Promise<void> {
    const topic = deadLetterTopic(letter.topic);
    await this.topics.ensure([topic]);
    await this.producer.send({
      messages: [
        {
          topic,
          ...(key !== undefined && { key }),
          value: letter.raw,
          headers: {
            ...headers,
            'x-error': letter.error.slice(0, 1000),
            'x-attempts': String(letter.attempts),
            'x-consumer': letter.consumer,
            'x-original-topic': letter.topic,
          },
        },
      ],
    });
    this.logger.warn({ topic, consumer: letter.consumer, eventId: letter.eventId }, 'message dead-lettered');
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}
