import type { EventEnvelope } from './event-envelope.js';
import type { DeadLetterSink, EventDispatcher } from './event-dispatcher.js';
import type { EventStore } from './event-store.js';
import type { EventTransport } from './event-transport.js';

/**
 * Delivery with no broker: the relay hands each batch, in order, straight to the handlers of this
 * process. Same guarantees as with Kafka (the outbox row stays unpublished until every handler has
 * applied or dead-lettered the event; the inbox absorbs redeliveries); dead letters go to a table.
 */
export class InProcessTransport implements EventTransport {
  readonly name = 'in-process';
  private readonly deadLetter: DeadLetterSink;

  constructor(
    private readonly dispatcher: EventDispatcher,
    store: EventStore,
  ) {
    this.deadLetter = (letter) => store.insertDeadLetter(letter);
  }

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    // One by one: handlers see each aggregate's events in order.
    for (const event of events) await this.dispatcher.dispatch(event, event.aggregateType, JSON.stringify(event), this.deadLetter);
  }
}
