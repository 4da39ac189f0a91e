import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { Consumer, MessagesStreamModes, stringDeserializers } from '@platformatic/kafka';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseService } from '../../src/platform/database/database.service.js';
import { EventWriter } from '../../src/platform/events/event-writer.js';
import { EventsMetrics } from '../../src/platform/events/events.metrics.js';
import { EventsRuntime } from '../../src/platform/events/events.runtime.js';
import { parseEnvelope } from '../../src/platform/events/event-envelope.js';
import { OutboxRelay } from '../../src/platform/events/outbox-relay.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createEffectsTable, effects, recordingHandler, RecordingTransport } from '../helpers/events.js';
import { waitFor } from '../helpers/wait.js';
import { KAFKA_BROKERS, produceRaw, readTopic, uniquePrefix, type StringMessage } from '../helpers/kafka.js';

// Needs a Kafka broker; .ci/run starts one with scripts/kafka.sh and sets KAFKA_BROKERS.
if (!KAFKA_BROKERS) console.warn('[test] SKIPPED Kafka events tests: KAFKA_BROKERS is not set (scripts/kafka.sh start)');

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const brokers = KAFKA_BROKERS ?? '';

function eventIdOf(message: StringMessage): string {
  return (JSON.parse(message.value) as { eventId: string }).eventId;
}

describe.skipIf(!KAFKA_BROKERS)('events through Kafka', () => {
  describe('publishing', () => {
    let t: TestApp;
    const prefix = uniquePrefix('pub');

    beforeAll(async () => {
      t = await startTestApp({ KAFKA_BROKERS: brokers, KAFKA_TOPIC_PREFIX: prefix, EVENTS_RELAY_POLL_MS: '100' });
    });
    afterAll(async () => {
      await t?.close();
    });

    it('a rollback publishes nothing; a commit publishes exactly one message with the envelope, key and headers', async () => {
      const database = t.app.get(DatabaseService);
      const writer = t.app.get(EventWriter);
      let rolledBack = '';
      await expect(
        database.transaction(async (trx) => {
          rolledBack = await writer.append(trx, { eventType: 'UserCreated', aggregateType: 'user', aggregateId: 'nobody', payload: {} });
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      const { rows } = await t.sql.query('SELECT 1 FROM outbox WHERE id = $1', [rolledBack]);
      expect(rows).toEqual([]);

      const res = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'kafka@example.com', name: 'Kaf Ka' }, headers: { traceparent: TRACEPARENT } });
      expect(res.statusCode, res.body).toBe(201);
      const id = res.json<{ id: string }>().id;

      const messages = await readTopic(brokers, `${prefix}user`, (read) => read.some((m) => m.key === id));
      // Give a duplicate a moment to show up; there must be none.
      const again = await readTopic(brokers, `${prefix}user`, () => false, 1_500);
      const mine = again.filter((m) => m.key === id);
      expect(mine).toHaveLength(1);
      expect(messages.filter((m) => eventIdOf(m) === rolledBack)).toEqual([]);
      const message = mine[0]!;
      const envelope = parseEnvelope(message.value);
      expect(envelope).toMatchObject({
        eventType: 'UserCreated',
        aggregateType: 'user',
        aggregateId: id,
        payload: { user: { id, email: 'kafka@example.com', name: 'Kaf Ka' } },
        metadata: { version: 1, correlationId: res.headers['x-request-id'], causationId: null },
        traceparent: TRACEPARENT,
      });
      expect(Date.parse(envelope.metadata.timestamp)).not.toBeNaN();
      expect(Object.fromEntries(message.headers)).toEqual({
        'event-id': envelope.eventId,
        'event-type': 'UserCreated',
        'content-type': 'application/json',
        traceparent: TRACEPARENT,
      });
      await waitFor(async () => {
        const { rows: published } = await t.sql.query<{ published_at: Date | null }>('SELECT published_at FROM outbox WHERE id = $1', [envelope.eventId]);
        return published[0]?.published_at instanceof Date;
      }, 'the outbox row to be published');
    });

    it('shows Kafka up in /health', async () => {
      const health = await t.anonymous({ method: 'GET', url: '/health' });
      expect(health.statusCode, health.body).toBe(200);
      expect(health.json<{ details: Record<string, unknown> }>().details.events).toMatchObject({ status: 'up', transport: 'kafka', kafka: 'up' });
    });
  });

  describe('redelivery', () => {
    let t: TestApp;
    let runtime: EventsRuntime;
    const prefix = uniquePrefix('redeliver');

    beforeAll(async () => {
      // The api role starts no relay or consumer: the tests below run them, and "kill" them, themselves.
      t = await startTestApp({ APP_ROLE: 'api', KAFKA_BROKERS: brokers, KAFKA_TOPIC_PREFIX: prefix, EVENTS_RELAY_POLL_MS: '100' });
      runtime = t.app.get(EventsRuntime);
      await createEffectsTable(t.sql);
      runtime.registry.register(recordingHandler('kafka-effects', 'account', ['Opened']));
    });
    afterAll(async () => {
      await runtime?.kafka?.consumer.stop();
      await t?.close();
    });

    async function open(aggregateId: string): Promise<string> {
      return t.app.get(DatabaseService).transaction((trx) => t.app.get(EventWriter).append(trx, { eventType: 'Opened', aggregateType: 'account', aggregateId, payload: {} }));
    }

    it('a relay killed between publish and mark publishes twice; the handler applies the event once', async () => {
      const transport = new RecordingTransport(runtime.transport);
      transport.failAfterPublish = 1;
      const relay = new OutboxRelay(t.app.get(DatabaseService), runtime.store, transport, t.app.get(EventsMetrics), pino({ level: 'silent' }), {
        batchSize: 50,
        pollMs: 100,
        retentionHours: 24,
      });
      const eventId = await open('acc-1');
      relay.start();
      try {
        await waitFor(async () => {
          const { rows } = await t.sql.query<{ published_at: Date | null }>('SELECT published_at FROM outbox WHERE id = $1', [eventId]);
          return rows[0]?.published_at instanceof Date;
        }, 'the outbox row to be published');
      } finally {
        await relay.stop();
      }
      const onTopic = await readTopic(brokers, `${prefix}account`, (read) => read.filter((m) => eventIdOf(m) === eventId).length >= 2);
      expect(onTopic.filter((m) => eventIdOf(m) === eventId)).toHaveLength(2);

      runtime.kafka!.consumer.start();
      await waitFor(async () => (await effects(t.sql, 'kafka-effects')).some((row) => row.event_id === eventId), 'the handler to run', 30_000);
      // Both copies are consumed (the group's committed offset passes the second), the effect stays single.
      await waitFor(async () => (await runtime.kafka!.consumer.lag()).every((p) => p.lag === 0) && (await runtime.kafka!.consumer.lag()).length > 0, 'lag 0', 30_000);
      expect((await effects(t.sql, 'kafka-effects')).filter((row) => row.event_id === eventId)).toHaveLength(1);
      const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toMatch(/events_handler_duration_seconds_count\{[^}]*consumer="kafka-effects"[^}]*outcome="duplicate"[^}]*\} [1-9]/);
      expect(metrics.body).toMatch(/events_consumer_lag\{[^}]*topic="[^"]*account"[^}]*\} 0/);
    });

    it('a consumer killed after its handler committed but before the offset commit gets the message again; the effect happens once', async () => {
      await runtime.kafka!.consumer.stop();
      const eventId = await open('acc-2');
      const relay = new OutboxRelay(t.app.get(DatabaseService), runtime.store, runtime.transport, t.app.get(EventsMetrics), pino({ level: 'silent' }), {
        batchSize: 50,
        pollMs: 100,
        retentionHours: 24,
      });
      relay.start();
      try {
        // A member of the service's consumer group reads the message and runs the handlers...
        const consumer = new Consumer({
          clientId: 'doomed-consumer',
          groupId: `${prefix}worker`,
          bootstrapBrokers: brokers.split(','),
          deserializers: stringDeserializers,
          autocommit: false,
          maxWaitTime: 200,
        });
        const stream = await consumer.consume({ topics: [`${prefix}account`], mode: MessagesStreamModes.COMMITTED, fallbackMode: 'earliest', autocommit: false });
        for await (const message of stream as AsyncIterable<StringMessage>) {
          if (eventIdOf(message) !== eventId) continue;
          await runtime.dispatcher.dispatch(parseEnvelope(message.value), message.topic, message.value, () => Promise.reject(new Error('no dead letters expected')));
          break;
        }
        expect((await effects(t.sql, 'kafka-effects')).filter((row) => row.event_id === eventId)).toHaveLength(1);
        // ...and dies before committing the offset.
        await consumer.close(true);

        runtime.kafka!.consumer.start();
        await waitFor(async () => (await runtime.kafka!.consumer.lag()).length > 0 && (await runtime.kafka!.consumer.lag()).every((p) => p.lag === 0), 'the redelivery to be consumed', 30_000);
      } finally {
        await relay.stop();
      }
      expect((await effects(t.sql, 'kafka-effects')).filter((row) => row.event_id === eventId)).toHaveLength(1);
    });
  });

  describe('dead letters', () => {
    let t: TestApp;
    const prefix = uniquePrefix('dlq');

    beforeAll(async () => {
      t = await startTestApp({ APP_ROLE: 'api', KAFKA_BROKERS: brokers, KAFKA_TOPIC_PREFIX: prefix, EVENTS_HANDLER_MAX_ATTEMPTS: '3', EVENTS_HANDLER_RETRY_BASE_MS: '5', EVENTS_RELAY_POLL_MS: '100' });
      const runtime = t.app.get(EventsRuntime);
      await createEffectsTable(t.sql);
      runtime.registry.register(recordingHandler('always-fails', 'user', ['UserCreated'], () => true));
      runtime.registry.register(recordingHandler('works', 'user', ['UserCreated']));
      runtime.relay.start();
      runtime.kafka!.consumer.start();
    });
    afterAll(async () => {
      await t?.close();
    });

    it('a handler that always fails sends the message to <topic>.dlq after the configured attempts; the other handler still applies it', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/users', payload: { email: `dlq-${randomBytes(3).toString('hex')}@example.com`, name: 'Dead Letter' } });
      expect(res.statusCode, res.body).toBe(201);
      const id = res.json<{ id: string }>().id;
      const dead = await readTopic(brokers, `${prefix}user.dlq`, (read) => read.some((m) => m.key === id), 30_000);
      const letter = dead.find((m) => m.key === id)!;
      expect(letter).toBeDefined();
      expect(Object.fromEntries(letter.headers)).toMatchObject({
        'event-type': 'UserCreated',
        'x-attempts': '3',
        'x-consumer': 'always-fails',
        'x-error': 'handler always-fails refuses UserCreated',
        'x-original-topic': `${prefix}user`,
      });
      expect(parseEnvelope(letter.value)).toMatchObject({ eventType: 'UserCreated', aggregateId: id });
      await waitFor(async () => (await effects(t.sql, 'works')).some((row) => row.aggregate_id === id), 'the working handler', 20_000);
    });

    it('a malformed message goes to the dead-letter topic; an unknown event type is skipped', async () => {
      const key = `bad-${randomBytes(3).toString('hex')}`;
      await produceRaw(brokers, [
        { topic: `${prefix}user`, key, value: '{not json' },
        { topic: `${prefix}user`, key: `${key}-unknown`, value: JSON.stringify({ ...sampleEnvelope(), eventType: 'SomethingNew' }) },
      ]);
      const dead = await readTopic(brokers, `${prefix}user.dlq`, (read) => read.some((m) => m.key === key), 30_000);
      const letter = dead.find((m) => m.key === key)!;
      expect(letter.value).toBe('{not json');
      expect(Object.fromEntries(letter.headers)).toMatchObject({ 'x-consumer': 'envelope-parser', 'x-attempts': '1' });
      expect(Object.fromEntries(letter.headers)['x-error']).toMatch(/^malformed message/);
      await waitFor(() => Promise.resolve(t.logs.some((line) => line.msg === 'unknown event type; skipped' && line.eventType === 'SomethingNew')), 'the skip', 20_000);
      expect(dead.filter((m) => m.key === `${key}-unknown`)).toEqual([]);
    });
  });
});

function sampleEnvelope(): Record<string, unknown> {
  return {
    eventId: '01900000-0000-7000-8000-0000000000ff',
    eventType: 'UserCreated',
    aggregateType: 'user',
    aggregateId: 'x',
    payload: {},
    metadata: { timestamp: new Date().toISOString(), version: 1, correlationId: null, causationId: null },
    traceparent: null,
  };
}
