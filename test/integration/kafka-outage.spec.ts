import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventsRuntime } from '../../src/platform/events/events.runtime.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createEffectsTable, effects, recordingHandler } from '../helpers/events.js';
import { waitFor } from '../helpers/wait.js';
import { KAFKA_BROKERS, OwnBroker, uniquePrefix } from '../helpers/kafka.js';

// Stops a broker for 30 s, so it uses a broker of its own (scripts/kafka.sh) and leaves the shared
// one alone. Runs where Kafka tests run: when KAFKA_BROKERS is set (scripts/kafka.sh is then usable).
if (!KAFKA_BROKERS) console.warn('[test] SKIPPED Kafka outage test: KAFKA_BROKERS is not set (scripts/kafka.sh start)');

const OUTAGE_MS = 30_000;

describe.skipIf(!KAFKA_BROKERS)('Kafka broker outage', () => {
  let broker: OwnBroker;
  let t: TestApp;

  beforeAll(async () => {
    broker = await OwnBroker.start();
    t = await startTestApp({ KAFKA_BROKERS: broker.address, KAFKA_TOPIC_PREFIX: uniquePrefix('outage'), EVENTS_RELAY_POLL_MS: '200' });
    await createEffectsTable(t.sql);
    const runtime = t.app.get(EventsRuntime);
    runtime.registry.register(recordingHandler('outage-effects', 'user', ['UserCreated', 'UserUpdated']));
    runtime.kafka!.consumer.start();
  }, 240_000);
  afterAll(async () => {
    await t?.close();
    await broker?.remove();
  }, 120_000);

  it(
    'keeps taking writes with no 5xx while the broker is down for 30 s; afterwards every event arrives, in order per aggregate',
    async () => {
      const create = async (n: number): Promise<string> => {
        const res = await t.app.inject({ method: 'POST', url: '/users', payload: { email: `outage-${n}@example.com`, name: `Outage ${n}` } });
        expect(res.statusCode, res.body).toBe(201);
        return res.json<{ id: string }>().id;
      };
      const users = [await create(0), await create(1), await create(2)];
      await waitFor(async () => (await effects(t.sql, 'outage-effects')).length >= 3, 'the first events to be consumed', 60_000);

      await broker.stop();
      const statuses: number[] = [];
      const stoppedAt = Date.now();
      let n = 0;
      while (Date.now() - stoppedAt < OUTAGE_MS) {
        const id = users[n % users.length]!;
        const res = await t.app.inject({ method: 'PATCH', url: `/users/${id}`, payload: { name: `Renamed ${n}` } });
        statuses.push(res.statusCode);
        n += 1;
        await sleep(100);
      }
      // Kafka down: /health says so, readiness does not (the outbox buffers meanwhile).
      const health = await t.anonymous({ method: 'GET', url: '/health' });
      expect(health.json<{ details: Record<string, { status: string; kafka?: string; backlog?: number }> }>().details.events).toMatchObject({
        status: 'down',
        kafka: 'down',
      });
      expect((await t.anonymous({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      const backlog = await t.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL');
      expect(backlog.rows[0]!.n).toBeGreaterThan(0);
      expect(statuses.filter((status) => status >= 500)).toEqual([]);
      expect(statuses.every((status) => status === 200)).toBe(true);

      await broker.restart();
      const { rows: written } = await t.sql.query<{ id: string; aggregate_id: string }>(
        `SELECT id, aggregate_id FROM outbox WHERE aggregate_type = 'user' AND aggregate_id = ANY($1) ORDER BY position`,
        [users],
      );
      expect(written.length).toBe(3 + n);
      const applied = await waitFor(
        async () => {
          const rows = await effects(t.sql, 'outage-effects');
          return rows.length >= written.length && rows;
        }, 'every event after the restart', 120_000);
      expect(new Set(applied.map((row) => row.event_id)).size).toBe(written.length);
      for (const user of users) {
        expect(applied.filter((row) => row.aggregate_id === user).map((row) => row.event_id)).toEqual(
          written.filter((row) => row.aggregate_id === user).map((row) => row.id),
        );
      }
    },
    300_000,
  );
});
