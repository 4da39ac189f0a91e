import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { requestContext } from '../observability/request-context.js';
import type { EventEnvelope } from './event-envelope.js';
import type { EventHandler, EventHandlerRegistry } from './event-handlers.js';
import type { DeadLetter, EventStore } from './event-store.js';
import type { EventsDatabase } from './event-transport.js';
import type { EventsMetrics } from './events.metrics.js';

/** Where a message goes when a handler gives up on it: `<topic>.dlq` with Kafka, the table in process. */
export type DeadLetterSink = (letter: DeadLetter) => Promise<void>;

export interface DispatcherOptions {
  maxAttempts: number;
  retryBaseMs: number;
}

/**
 * Runs every handler of an event: each in its own transaction together with its inbox row (so a
 * redelivered event has its effect once), retried with exponential backoff, and dead-lettered
 * after the last attempt. Handlers are independent: one failing does not stop the others.
 */
export class EventDispatcher {
  constructor(
    private readonly database: EventsDatabase,
    private readonly store: EventStore,
    private readonly registry: EventHandlerRegistry,
    private readonly metrics: EventsMetrics,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions,
  ) {}

  /**
   * Resolves when every handler has applied the event, found it already applied, or dead-lettered
   * it. Rejects only when dead-lettering itself failed; the message must then be redelivered.
   */
  async dispatch(event: EventEnvelope, topic: string, raw: string, deadLetter: DeadLetterSink): Promise<void> {
    const handlers = this.registry.handlersFor(event.eventType);
    if (handlers.length === 0) {
      this.metrics.skipped.inc({ reason: 'no_handler' });
      this.logger.debug({ eventId: event.eventId, eventType: event.eventType, topic }, 'no handler for event type; skipped');
      return;
    }
    const results = await Promise.allSettled(handlers.map((handler) => this.runHandler(handler, event, topic, raw, deadLetter)));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async runHandler(handler: EventHandler, event: EventEnvelope, topic: string, raw: string, deadLetter: DeadLetterSink): Promise<void> {
    // Events the handler writes carry this event as their cause and keep the chain's correlation id.
    const context = {
      requestId: event.metadata.correlationId ?? event.eventId,
      causationId: event.eventId,
      ...(event.traceparent !== null && { traceparent: event.traceparent }),
    };
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        const applied = await requestContext.run(context, () =>
          this.database.transaction(async (trx) => {
            if (!(await this.store.claimInbox(trx, handler.consumer, event.eventId))) return false;
            await handler.handle(event, trx);
            return true;
          }),
        );
        this.metrics.handlerDuration.observe({ consumer: handler.consumer, outcome: applied ? 'applied' : 'duplicate' }, (performance.now() - started) / 1000);
        return;
      } catch (error) {
        this.metrics.handlerDuration.observe({ consumer: handler.consumer, outcome: 'failed' }, (performance.now() - started) / 1000);
        const message = error instanceof Error ? error.message : String(error);
        if (attempt >= this.options.maxAttempts) {
          this.logger.error(
            { err: error, consumer: handler.consumer, eventId: event.eventId, eventType: event.eventType, attempts: attempt },
            'event handler gave up; dead-lettering the event',
          );
          await deadLetter({ consumer: handler.consumer, topic, eventId: event.eventId, eventType: event.eventType, raw, error: message, attempts: attempt });
          this.metrics.deadLettered.inc({ consumer: handler.consumer, reason: 'handler_failed' });
          return;
        }
        this.logger.warn({ err: error, consumer: handler.consumer, eventId: event.eventId, attempt }, 'event handler failed; retrying');
        // Full jitter keeps many failing consumers from retrying in lockstep.
        await sleep(Math.random() * this.options.retryBaseMs * 2 ** (attempt - 1));
      }
    }
  }
}
