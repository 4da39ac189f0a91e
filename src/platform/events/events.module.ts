import { Global, Module } from '@nestjs/common';
import { EventWriter } from './event-writer.js';

/**
 * Events infrastructure every module may inject: the outbox writer (and, in the worker role, the
 * relay and consumers). Global so business modules do not re-import it.
 */
@Global()
@Module({
  providers: [EventWriter],
  exports: [EventWriter],
})
export class EventsModule {}
