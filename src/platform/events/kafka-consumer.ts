import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, MessagesStreamModes, stringDeserializers, type Message, type MessagesStream } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { parseEnvelope } from './event-envelope.js';
import type { EventDispatcher } from './event-dispatcher.js';
import type { EventHandlerRegistry } from './event-handlers.js';
import type { EventsMetrics } from './events.metrics.js';
import { topicFor, type KafkaSettings, type KafkaTopics, type KafkaTransport } from './kafka.js';

const MAX_BACKOFF_MS = 30_000;
/** Consumer used when a message is malformed: no handler ever saw it. */
const MALFORMED_CONSUMER = 'envelope-parser';

type StringMessage = Message<string, string, string, string>;

/**
 * Consumes the topics of every registered handler in one consumer group (prefix + group name, one
 * group per service role) and dispatches each message to its handlers. The offset is committed only
 * after the handlers committed (or dead-lettered), so a crash before the commit redelivers and the
 * inbox makes the redelivery a no-op. Messages are handled one at a time, which keeps per-partition
 * (per-aggregate) order.
 */
export class KafkaEventConsumer {
  private consumer: Consumer<string, string, string, string> | undefined;
  private stream: MessagesStream<string, string, string, string> | undefined;
  private stopped = true;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly settings: KafkaSettings,
    private readonly groupId: string,
    private readonly topics: KafkaTopics,
    private readonly producer: KafkaTransport,
    private readonly registry: EventHandlerRegistry,
    private readonly dispatcher: EventDispatcher,
    private readonly metrics: EventsMetrics,
    private readonly logger: Logger,
  ) {}

  /** The topics this consumer reads: one per aggregate type some handler listens to. */
  subscribedTopics(): string[] {
    return this.registry.aggregateTypes().map((type) => topicFor(this.settings, type));
  }

  start(): void {
    if (!this.stopped || this.subscribedTopics().length === 0) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.stream?.close().catch(() => undefined);
    await this.loop;
  }

  /** Messages after the committed offset of this group, per topic partition (for the lag gauge). */
  async lag(): Promise<Array<{ topic: string; partition: number; lag: number }>> {
    const consumer = this.consumer;
    if (!consumer) return [];
    const topics = this.subscribedTopics();
    const latest = await consumer.listOffsets({ topics });
    const committed = await consumer.listCommittedOffsets({ topics: topics.map((topic) => ({ topic, partitions: (latest.get(topic) ?? []).map((_, i) => i) })) });
    const result: Array<{ topic: string; partition: number; lag: number }> = [];
    for (const [topic, ends] of latest) {
      ends.forEach((end, partition) => {
        const done = committed.get(topic)?.[partition] ?? -1n;
        result.push({ topic, partition, lag: Number(end - (done < 0n ? 0n : done)) });
      });
    }
    return result;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const topics = this.subscribedTopics();
        await this.topics.ensure(topics);
        this.consumer = new Consumer({
          clientId: `${this.settings.clientId}-consumer`,
          groupId: this.groupId,
          bootstrapBrokers: [...this.settings.brokers],
          deserializers: stringDeserializers,
          autocommit: false,
          sessionTimeout: 10_000,
          heartbeatInterval: 1_000,
          maxWaitTime: 500,
          timeout: 5_000,
          retries: 2,
          retryDelay: 250,
        });
        this.stream = await this.consumer.consume({ topics, mode: MessagesStreamModes.COMMITTED, fallbackMode: 'earliest', autocommit: false });
        this.logger.info({ groupId: this.groupId, topics }, 'Kafka consumer started');
        for await (const message of this.stream as AsyncIterable<StringMessage>) {
          await this.handle(message);
          await message.commit();
          failures = 0;
          if (this.stopped) break;
        }
      } catch (error) {
        if (this.stopped) break;
        failures += 1;
        if (failures === 1 || failures % 10 === 0) this.logger.warn({ err: error, failures }, 'Kafka consumer failed; restarting with backoff');
        await sleep(Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures - 1, 10)));
      } finally {
        await this.stream?.close().catch(() => undefined);
        await this.consumer?.close(true).catch(() => undefined);
        this.stream = undefined;
        this.consumer = undefined;
      }
    }
  }

  private async handle(message: StringMessage): Promise<void> {
    const raw = message.value ?? '';
    const headers = Object.fromEntries(message.headers);
    let event;
    try {
      event = parseEnvelope(raw);
    } catch (error) {
      // Retrying cannot fix bytes; they go straight to the dead-letter topic.
      await this.producer.publishDeadLetter(
        { consumer: MALFORMED_CONSUMER, topic: message.topic, eventId: null, eventType: headers['event-type'] ?? null, raw, error: `malformed message: ${(error as Error).message}`, attempts: 1 },
        message.key ?? undefined,
        headers,
      );
      this.metrics.deadLettered.inc({ consumer: MALFORMED_CONSUMER, reason: 'malformed' });
      return;
    }
    if (this.registry.handlersFor(event.eventType).length === 0) {
      this.metrics.skipped.inc({ reason: 'unknown_type' });
      this.logger.info({ eventId: event.eventId, eventType: event.eventType, topic: message.topic }, 'unknown event type; skipped');
      return;
    }
    await this.dispatcher.dispatch(event, message.topic, raw, (letter) => this.producer.publishDeadLetter(letter, message.key ?? undefined, headers));
  }
}
