import { sql, type Kysely, type Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { Database, OutboxRow } from '../database/database.types.js';
import type { EventEnvelope } from './event-envelope.js';

/** What a dead-lettered message records: the consumer that gave up, why, and after how many attempts. */
export interface DeadLetter {
  consumer: string;
  topic: string;
  eventId: string | null;
  eventType: string | null;
  /** The message as received (the serialized envelope, or whatever unparseable bytes arrived). */
  raw: string;
  error: string;
  attempts: number;
}

/** The outbox row as the envelope that travels. */
export function toEnvelope(row: OutboxRow): EventEnvelope {
  return {
    eventId: row.id,
    eventType: row.event_type,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    payload: row.payload,
    metadata: {
      timestamp: row.occurred_at.toISOString(),
      version: row.version,
      correlationId: row.correlation_id,
      causationId: row.causation_id,
    },
    traceparent: row.traceparent,
  };
}

/** SQL of the outbox relay, the inbox and the dead-letter table. */
export class EventStore {
  /** `database.db` is read on each call: the pool exists only once the database service has started. */
  constructor(private readonly database: { readonly db: Kysely<Database> }) {}

  private get db(): Kysely<Database> {
    return this.database.db;
  }

  /**
   * Locks up to `limit` unpublished events, oldest first, skipping rows another transaction holds.
   * An aggregate with an older unpublished event that was skipped (still locked elsewhere) is left
   * out entirely, so its events are never published out of order.
   */
  async claimBatch(trx: Transaction<Database>, limit: number): Promise<OutboxRow[]> {
    // `skipped`: unpublished rows before the last claimed one that were not claimed, i.e. locked by
    // another transaction. Usually none, and found on the small partial index of unpublished rows.
    const { rows } = await sql<OutboxRow>`
      WITH claimed AS (
        SELECT * FROM outbox WHERE published_at IS NULL ORDER BY position LIMIT ${limit} FOR UPDATE SKIP LOCKED
      ), skipped AS (
        SELECT DISTINCT o.aggregate_type, o.aggregate_id FROM outbox o
         WHERE o.published_at IS NULL AND o.position < (SELECT max(position) FROM claimed)
           AND NOT EXISTS (SELECT 1 FROM claimed c WHERE c.id = o.id)
      )
      SELECT c.* FROM claimed c
       WHERE NOT EXISTS (SELECT 1 FROM skipped s WHERE s.aggregate_type = c.aggregate_type AND s.aggregate_id = c.aggregate_id)
       ORDER BY c.position`.execute(trx);
    return rows;
  }

  async markPublished(trx: Transaction<Database>, ids: readonly string[]): Promise<void> {
    // One array parameter instead of one parameter per id: a 1000-row batch stays one small statement.
    await sql`UPDATE outbox SET published_at = now() WHERE id = ANY(${ids}::uuid[])`.execute(trx);
  }

  /** Counts a failed publication on the rows (outside the rolled-back relay transaction). */
  async recordPublishFailure(ids: readonly string[], error: string): Promise<void> {
    await this.db
      .updateTable('outbox')
      .set((eb) => ({ publish_attempts: eb('publish_attempts', '+', 1), last_error: error.slice(0, 1000) }))
      .where('id', 'in', ids)
      .where('published_at', 'is', null)
      .execute();
  }

  /** Deletes published outbox rows and inbox rows older than the retention; returns the rows deleted. */
  async purge(retentionHours: number): Promise<number> {
    const outbox = await sql`DELETE FROM outbox WHERE published_at < now() - make_interval(hours => ${retentionHours})`.execute(this.db);
    const inbox = await sql`DELETE FROM inbox WHERE processed_at < now() - make_interval(hours => ${retentionHours})`.execute(this.db);
    return Number(outbox.numAffectedRows ?? 0n) + Number(inbox.numAffectedRows ?? 0n);
  }

  /** Unpublished events and the age in seconds of the oldest one (0 when none). */
  async backlog(): Promise<{ count: number; oldestAgeSeconds: number }> {
    const row = await sql<{ count: number; age: number | null }>`
      SELECT count(*)::int AS count, extract(epoch FROM now() - min(occurred_at))::float8 AS age
        FROM outbox WHERE published_at IS NULL`.execute(this.db);
    const first = row.rows[0];
    return { count: first?.count ?? 0, oldestAgeSeconds: first?.age ?? 0 };
  }

  /**
   * Records that `consumer` handled `eventId`, inside the handler's transaction. False when it
   * already had: the event is a redelivery and the handler must not run again.
   */
  async claimInbox(trx: Transaction<Database>, consumer: string, eventId: string): Promise<boolean> {
    const inserted = await trx
      .insertInto('inbox')
      .values({ consumer, event_id: eventId })
      .onConflict((oc) => oc.columns(['consumer', 'event_id']).doNothing())
      .returning('event_id')
      .executeTakeFirst();
    return inserted !== undefined;
  }

  async insertDeadLetter(letter: DeadLetter): Promise<void> {
    await this.db
      .insertInto('dead_letters')
      .values({
        id: uuidv7(),
        consumer: letter.consumer,
        topic: letter.topic,
        event_id: letter.eventId,
        event_type: letter.eventType,
        message: letter.raw,
        error: letter.error.slice(0, 2000),
        attempts: letter.attempts,
      })
      .execute();
  }
}
