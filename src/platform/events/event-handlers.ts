import { Injectable } from '@nestjs/common';
import type { Transaction } from 'kysely';
import type { Database } from '../database/database.types.js';
import type { EventEnvelope } from './event-envelope.js';

/**
 * One consumer of events. `consumer` names it in the inbox (its effects happen once per event) and
 * in dead letters, so it must be unique and stable across releases.
 */
export interface EventHandler {
  consumer: string;
  /** The aggregate type (topic) the events come from. */
  aggregateType: string;
  eventTypes: readonly string[];
  /**
   * Applies the event. Runs in a transaction that also records the event in the inbox: write
   * through `trx` so the effect and the record commit together. Throwing rolls both back and the
   * event is retried, then dead-lettered.
   */
  handle(event: EventEnvelope, trx: Transaction<Database>): Promise<void>;
}

/** Handlers by event type. Modules register theirs in onModuleInit; the consumers read it at start. */
@Injectable()
export class EventHandlerRegistry {
  private readonly byType = new Map<string, EventHandler[]>();
  private readonly consumers = new Set<string>();

  /** Adds a handler; a second handler with the same consumer name is refused (the inbox key would clash). */
  register(handler: EventHandler): void {
    if (this.consumers.has(handler.consumer)) throw new Error(`event consumer ${handler.consumer} is registered twice`);
    this.consumers.add(handler.consumer);
    for (const type of handler.eventTypes) {
      const list = this.byType.get(type) ?? [];
      list.push(handler);
      this.byType.set(type, list);
    }
  }

  /** Every handler of an event type, in registration order. */
  handlersFor(eventType: string): readonly EventHandler[] {
    return this.byType.get(eventType) ?? [];
  }

  /** The aggregate types some handler listens to: the topics to subscribe to. */
  aggregateTypes(): string[] {
    return [...new Set([...this.byType.values()].flat().map((handler) => handler.aggregateType))].sort();
  }
}
