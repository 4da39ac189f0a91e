import { Injectable } from '@nestjs/common';
import { sql, type Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { Database, NewOutboxRow } from '../database/database.types.js';
import { requestContext } from '../observability/request-context.js';
import { assertValidNewEvent, type NewEvent } from './event-envelope.js';

/** The channel the relay LISTENs on; a NOTIFY on it wakes the relay after a commit. */
export const OUTBOX_CHANNEL = 'groundwork_outbox';

/**
 * Appends events to the outbox inside the caller's business transaction, so the event exists if and
 * only if the business change committed. Never publishes: the relay does, after the commit.
 */
@Injectable()
export class EventWriter {
  /**
   * Appends one event in `trx` and returns its eventId. correlationId and traceparent come from the
   * request context (HTTP request or the event being handled) when there is one.
   */
  async append(trx: Transaction<Database>, event: NewEvent): Promise<string> {
    const [id] = await this.appendMany(trx, [event]);
    return id as string;
  }

  /** Appends several events in one INSERT, in order; returns their eventIds in the same order. */
  async appendMany(trx: Transaction<Database>, events: readonly NewEvent[]): Promise<string[]> {
    if (events.length === 0) return [];
    for (const event of events) assertValidNewEvent(event);
    const context = requestContext.current();
    const rows: NewOutboxRow[] = events.map((event) => ({
      id: uuidv7(),
      event_type: event.eventType,
      aggregate_type: event.aggregateType,
      aggregate_id: event.aggregateId,
      // Stringified here: pg would send a top-level array as a PostgreSQL array, not JSON.
      payload: JSON.stringify(event.payload),
      version: event.version ?? 1,
      correlation_id: context?.requestId ?? null,
      causation_id: event.causationId ?? context?.causationId ?? null,
      traceparent: context?.traceparent ?? null,
    }));
    // One multi-row INSERT assigns positions in the order of the VALUES list.
    await trx.insertInto('outbox').values(rows).execute();
    // NOTIFY inside a transaction is delivered only on commit, and identical notifications of one
    // transaction collapse into one, so a rolled-back write wakes nobody and a batch wakes once.
    await sql`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`.execute(trx);
    return rows.map((row) => row.id);
  }
}
