import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseService } from '../../src/platform/database/database.service.js';
import { EventWriter } from '../../src/platform/events/event-writer.js';
import { requestContext } from '../../src/platform/observability/request-context.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

interface OutboxRow {
  id: string;
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  payload: Record<string, unknown>;
  version: number;
  correlation_id: string | null;
  causation_id: string | null;
  traceparent: string | null;
  published_at: Date | null;
}

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('outbox writer', () => {
  let t: TestApp;
  let database: DatabaseService;
  let writer: EventWriter;

  beforeAll(async () => {
    t = await startTestApp();
    database = t.app.get(DatabaseService);
    writer = t.app.get(EventWriter);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function outboxRow(id: string): Promise<OutboxRow | undefined> {
    const { rows } = await t.sql.query<OutboxRow>('SELECT * FROM outbox WHERE id = $1', [id]);
    return rows[0];
  }

  it('a rolled-back transaction leaves no event', async () => {
    let eventId: string | undefined;
    await expect(
      database.transaction(async (trx) => {
        eventId = await writer.append(trx, { eventType: 'ThingHappened', aggregateType: 'thing', aggregateId: 'a1', payload: { n: 1 } });
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    expect(eventId).toBeDefined();
    expect(await outboxRow(eventId as string)).toBeUndefined();
  });

  it('a committed transaction leaves exactly one unpublished event with the request context in its metadata', async () => {
    const eventId = await requestContext.run({ requestId: 'req-outbox-1', traceparent: TRACEPARENT }, () =>
      database.transaction((trx) =>
        writer.append(trx, { eventType: 'ThingHappened', aggregateType: 'thing', aggregateId: 'a2', payload: { n: 2, list: [1, 2] }, causationId: 'cause-1' }),
      ),
    );
    expect(eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await outboxRow(eventId)).toMatchObject({
      event_type: 'ThingHappened',
      aggregate_type: 'thing',
      aggregate_id: 'a2',
      payload: { n: 2, list: [1, 2] },
      version: 1,
      correlation_id: 'req-outbox-1',
      causation_id: 'cause-1',
      traceparent: TRACEPARENT,
      published_at: null,
    });
  });

  it('appendMany keeps the order of its events', async () => {
    const ids = await database.transaction((trx) =>
      writer.appendMany(
        trx,
        [1, 2, 3].map((n) => ({ eventType: 'Counted', aggregateType: 'counter', aggregateId: 'c1', payload: { n } })),
      ),
    );
    const { rows } = await t.sql.query<{ id: string }>('SELECT id FROM outbox WHERE aggregate_id = $1 ORDER BY position', ['c1']);
    expect(rows.map((row) => row.id)).toEqual(ids);
  });

  it('refuses an aggregate type that cannot be a topic name, before writing anything', async () => {
    await expect(
      database.transaction((trx) => writer.append(trx, { eventType: 'X', aggregateType: 'bad topic!', aggregateId: 'a', payload: {} })),
    ).rejects.toThrow(/aggregateType/);
  });

  it('users writes emit UserCreated, UserUpdated and UserDeleted in their transactions', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'evented@example.com', name: 'Evented' } });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    const updated = await t.app.inject({ method: 'PATCH', url: `/users/${id}`, payload: { name: 'Renamed' }, headers: { traceparent: TRACEPARENT } });
    expect(updated.statusCode, updated.body).toBe(200);
    // A refused write (duplicate email) emits nothing.
    const duplicate = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'evented@example.com', name: 'Again' } });
    expect(duplicate.statusCode).toBe(409);
    const deleted = await t.app.inject({ method: 'DELETE', url: `/users/${id}` });
    expect(deleted.statusCode, deleted.body).toBe(204);

    const { rows } = await t.sql.query<OutboxRow>(`SELECT * FROM outbox WHERE aggregate_type = 'user' AND aggregate_id = $1 ORDER BY position`, [id]);
    expect(rows.map((row) => row.event_type)).toEqual(['UserCreated', 'UserUpdated', 'UserDeleted']);
    expect(rows[0]?.payload).toMatchObject({ user: { id, email: 'evented@example.com', name: 'Evented' } });
    expect(rows[1]?.payload).toMatchObject({ user: { id, name: 'Renamed' }, changed: ['name'] });
    expect(rows[1]?.traceparent).toBe(TRACEPARENT);
    expect(rows[1]?.correlation_id).toBe(updated.headers['x-request-id']);
    expect(rows[2]?.payload).toEqual({ id, organizationId: null });
  });
});
