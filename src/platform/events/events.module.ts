import { Global, Module } from '@nestjs/common';
import { EventHandlerRegistry } from './event-handlers.js';
import { EventWriter } from './event-writer.js';
import { EventsMetrics } from './events.metrics.js';
import { EventsRuntime } from './events.runtime.js';

/**
 * Events infrastructure every module may inject: the outbox writer, the handler registry (modules
 * register consumers there in onModuleInit) and the runtime (relay and consumers in the worker role).
 * Global so business modules do not re-import it.
 */
@Global()
@Module({
  providers: [EventWriter, EventHandlerRegistry, EventsMetrics, EventsRuntime],
  exports: [EventWriter, EventHandlerRegistry, EventsRuntime],
})
export class EventsModule {}
