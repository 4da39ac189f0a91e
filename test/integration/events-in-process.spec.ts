import 'reflect-metadata';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseService } from '../../src/platform/database/database.service.js';
import { EventWriter } from '../../src/platform/events/event-writer.js';
import { EventsMetrics } from '../../src/platform/events/events.metrics.js';
import { EventsRuntime } from '../../src/platform/events/events.runtime.js';
import { OutboxRelay } from '../../src/platform/events/outbox-relay.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createEffectsTable, effects, recordingHandler, RecordingTransport } from '../helpers/events.js';
import { waitFor } from '../helpers/wait.js';

const quiet = pino({ level: 'silent' });

describe('events delivered in process (no KAFKA_BROKERS)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ EVENTS_HANDLER_MAX_ATTEMPTS: '3', EVENTS_HANDLER_RETRY_BASE_MS: '5', EVENTS_RELAY_POLL_MS: '100' });
    await createEffectsTable(t.sql);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('the relay hands a committed UserCreated to every handler; a failing handler is dead-lettered and does not stop the others', async () => {
    const runtime = t.app.get(EventsRuntime);
    expect(runtime.transport.name).toBe('in-process');
    runtime.registry.register(recordingHandler('welcome-test', 'user', ['UserCreated']));
    runtime.registry.register(recordingHandler('always-fails', 'user', ['UserCreated'], () => true));

    const res = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'inproc@example.com', name: 'In Proc' } });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json<{ id: string }>().id;

    const applied = await waitFor(async () => {
      const rows = await effects(t.sql, 'welcome-test');
      return rows.length > 0 && rows;
    }, 'the welcome handler to apply the event');
    expect(applied).toEqual([expect.objectContaining({ aggregate_id: id, event_type: 'UserCreated' })]);
    const letters = await waitFor(async () => {
      const { rows } = await t.sql.query('SELECT consumer, event_type, topic, attempts, error, message FROM dead_letters WHERE consumer = $1', ['always-fails']);
      return rows.length > 0 && rows;
    }, 'the failing handler to be dead-lettered');
    expect(letters).toEqual([
      expect.objectContaining({ consumer: 'always-fails', event_type: 'UserCreated', topic: 'user', attempts: 3, error: 'handler always-fails refuses UserCreated' }),
    ]);
    expect(JSON.parse((letters[0] as { message: string }).message)).toMatchObject({ eventType: 'UserCreated', aggregateId: id });
    const outbox = await waitFor(async () => {
      const { rows } = await t.sql.query<{ published_at: Date | null }>(`SELECT published_at FROM outbox WHERE aggregate_id = $1`, [id]);
      return rows[0]?.published_at !== null && rows;
    }, 'the outbox row to be published');
    expect(outbox).toHaveLength(1);
    // The failed attempts were counted; nothing else went wrong on the way.
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/events_dead_lettered_total\{[^}]*consumer="always-fails"[^}]*\} 1/);
    expect(metrics.body).toMatch(/events_handler_duration_seconds_count\{[^}]*consumer="welcome-test"[^}]*outcome="applied"[^}]*\} 1/);
    expect(metrics.body).toMatch(/events_outbox_backlog\{[^}]*\} \d+/);
    expect(metrics.body).toMatch(/events_outbox_oldest_age_seconds/);
    expect(metrics.body).toMatch(/events_published_total\{[^}]*transport="in-process"[^}]*\} \d+/);
  });

  it('a redelivered event has its effect once (inbox)', async () => {
    const runtime = t.app.get(EventsRuntime);
    runtime.registry.register(recordingHandler('dedupe-test', 'order', ['OrderPlaced']));
    const event = {
      eventId: '01900000-0000-7000-8000-00000000abcd',
      eventType: 'OrderPlaced',
      aggregateType: 'order',
      aggregateId: 'o-1',
      payload: {},
      metadata: { timestamp: new Date().toISOString(), version: 1, correlationId: null, causationId: null },
      traceparent: null,
    };
    const noDeadLetters = (): Promise<void> => Promise.reject(new Error('nothing should be dead-lettered'));
    await runtime.dispatcher.dispatch(event, 'order', JSON.stringify(event), noDeadLetters);
    await runtime.dispatcher.dispatch(event, 'order', JSON.stringify(event), noDeadLetters);
    await Promise.all([1, 2, 3].map(() => runtime.dispatcher.dispatch(event, 'order', JSON.stringify(event), noDeadLetters)));
    expect(await effects(t.sql, 'dedupe-test')).toHaveLength(1);
  });

  it('shows the events transport and backlog in /health, never in readiness', async () => {
    const health = await t.anonymous({ method: 'GET', url: '/health' });
    expect(health.statusCode, health.body).toBe(200);
    expect(health.json<{ details: Record<string, unknown> }>().details.events).toMatchObject({ status: 'up', transport: 'in-process' });
    const ready = await t.anonymous({ method: 'GET', url: '/health/ready' });
    expect(Object.keys(ready.json<{ details: Record<string, unknown> }>().details)).not.toContain('events');
  });
});

describe('outbox relay leadership and ordering', () => {
  let t: TestApp;
  let runtime: EventsRuntime;
  let database: DatabaseService;
  let writer: EventWriter;

  beforeAll(async () => {
    // The api role runs no relay of its own: this test starts and kills relays itself.
    t = await startTestApp({ APP_ROLE: 'api', EVENTS_RELAY_POLL_MS: '100' });
    runtime = t.app.get(EventsRuntime);
    database = t.app.get(DatabaseService);
    writer = t.app.get(EventWriter);
    await createEffectsTable(t.sql);
    runtime.registry.register(recordingHandler('relay-test', 'ledger', ['Posted']));
  });
  afterAll(async () => {
    await t?.close();
  });

  function relayWith(transport: RecordingTransport): OutboxRelay {
    return new OutboxRelay(database, runtime.store, transport, t.app.get(EventsMetrics), quiet, { batchSize: 50, pollMs: 100, retentionHours: 24 });
  }

  async function post(aggregateId: string, count: number): Promise<string[]> {
    return database.transaction((trx) =>
      writer.appendMany(trx, Array.from({ length: count }, (_, n) => ({ eventType: 'Posted', aggregateType: 'ledger', aggregateId, payload: { n } }))),
    );
  }

  async function unpublished(): Promise<number> {
    const { rows } = await t.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`);
    return rows[0]!.n;
  }

  it('a relay that dies between publish and mark republishes; the handler applies the event once', async () => {
    const transport = new RecordingTransport(runtime.transport);
    transport.failAfterPublish = 1;
    const relay = relayWith(transport);
    const ids = await post('dup-1', 1);
    relay.start();
    try {
      await waitFor(async () => (await unpublished()) === 0, 'the outbox to drain', 20_000);
    } finally {
      await relay.stop();
    }
    expect(transport.published.filter((event) => event.eventId === ids[0])).toHaveLength(2);
    expect((await effects(t.sql, 'relay-test')).filter((row) => row.event_id === ids[0])).toHaveLength(1);
    const { rows } = await t.sql.query<{ publish_attempts: number; last_error: string }>('SELECT publish_attempts, last_error FROM outbox WHERE id = $1', [ids[0]]);
    expect(rows[0]).toMatchObject({ publish_attempts: 1, last_error: expect.stringContaining('before marking') });
  });

  it('with two relays only the lock holder publishes; when it dies the other takes over', async () => {
    const first = new RecordingTransport(runtime.transport);
    const second = new RecordingTransport(runtime.transport);
    const a = relayWith(first);
    const b = relayWith(second);
    a.start();
    await waitFor(() => Promise.resolve(a.isLeader), 'relay A to lead', 10_000);
    b.start();
    try {
      const before = await post('lead-1', 20);
      await waitFor(async () => (await unpublished()) === 0, 'the outbox to drain', 20_000);
      expect(b.isLeader).toBe(false);
      expect(first.published.map((e) => e.eventId)).toEqual(expect.arrayContaining(before));
      expect(second.published).toEqual([]);

      // What the database sees when a process dies: its session ends, and the session lock with it.
      const pid = a.lockSessionPid;
      expect(pid).toBeDefined();
      await t.sql.query('SELECT pg_terminate_backend($1)', [pid]);
      // The dead process's loop does not come back either.
      await a.stop();
      await waitFor(() => Promise.resolve(b.isLeader), 'relay B to take over', 10_000);
      const after = await post('lead-1', 5);
      await waitFor(async () => (await unpublished()) === 0, 'the outbox to drain', 20_000);
      expect(second.published.map((e) => e.eventId)).toEqual(after);
      expect((await effects(t.sql, 'relay-test')).filter((row) => row.aggregate_id === 'lead-1').map((row) => row.event_id)).toEqual([...before, ...after]);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('claims skip an aggregate whose older event another transaction holds, and keep the others in order', async () => {
    const [heldFirst] = await post('held', 1);
    const heldLater = await post('held', 2);
    const free = await post('free', 3);
    const client = await database.dedicatedClient('test-holder');
    try {
      await client.query('BEGIN');
      await client.query('SELECT id FROM outbox WHERE id = $1 FOR UPDATE', [heldFirst]);
      const claimed = await database.transaction((trx) => runtime.store.claimBatch(trx, 100));
      const ids = claimed.map((row) => row.id);
      expect(ids).toEqual(expect.arrayContaining(free));
      for (const id of [heldFirst, ...heldLater]) expect(ids).not.toContain(id);
      expect(ids.filter((id) => free.includes(id))).toEqual(free);
    } finally {
      await client.query('ROLLBACK');
      await client.end();
    }
  });
});
