import type pg from 'pg';
import type { EventEnvelope } from '../../src/platform/events/event-envelope.js';
import type { EventHandler } from '../../src/platform/events/event-handlers.js';
import type { EventTransport } from '../../src/platform/events/event-transport.js';
import { sql } from 'kysely';

/** A table handlers write their effects to, so a test can count how often an effect happened. */
export async function createEffectsTable(pool: pg.Pool): Promise<void> {
  await pool.query('CREATE TABLE IF NOT EXISTS test_effects (consumer text NOT NULL, event_id uuid NOT NULL, aggregate_id text NOT NULL, event_type text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(), seq bigserial)');
}

/** A handler whose effect is one test_effects row per application; `fail` makes it throw instead. */
export function recordingHandler(consumer: string, aggregateType: string, eventTypes: string[], fail?: (event: EventEnvelope) => boolean): EventHandler {
  return {
    consumer,
    aggregateType,
    eventTypes,
    async handle(event, trx) {
      if (fail?.(event)) throw new Error(`handler ${consumer} refuses ${event.eventType}`);
      await sql`INSERT INTO test_effects (consumer, event_id, aggregate_id, event_type) VALUES (${consumer}, ${event.eventId}, ${event.aggregateId}, ${event.eventType})`.execute(trx);
    },
  };
}

export async function effects(pool: pg.Pool, consumer: string): Promise<Array<{ event_id: string; aggregate_id: string; event_type: string }>> {
  const { rows } = await pool.query<{ event_id: string; aggregate_id: string; event_type: string }>(
    'SELECT event_id, aggregate_id, event_type FROM test_effects WHERE consumer = $1 ORDER BY seq',
    [consumer],
  );
  return rows;
}

/** Wraps a transport to record what went through it, and optionally to fail after publishing. */
export class RecordingTransport implements EventTransport {
  readonly published: EventEnvelope[] = [];
  /** When set, publish() succeeds at the transport and then throws, like a relay dying before its mark. */
  failAfterPublish = 0;

  constructor(private readonly inner: EventTransport) {}

  get name(): EventTransport['name'] {
    return this.inner.name;
  }

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    await this.inner.publish(events);
    this.published.push(...events);
    if (this.failAfterPublish > 0) {
      this.failAfterPublish -= 1;
      throw new Error('relay died after publishing, before marking the rows published');
    }
  }
}
