import type { DatabaseService } from '../database/database.service.js';
import type { EventEnvelope } from './event-envelope.js';

/** Where the relay hands events: Kafka, or the in-process consumer pipeline when no broker is set. */
export interface EventTransport {
  readonly name: 'kafka' | 'in-process';
  /** Publishes the events in order; resolves once every one is acknowledged (acks=all for Kafka). */
  publish(events: readonly EventEnvelope[]): Promise<void>;
}

/** What the relay and the dispatcher need of the database (DatabaseService, or a bench's own pool). */
export type EventsDatabase = Pick<DatabaseService, 'db' | 'transaction' | 'dedicatedClient'>;
