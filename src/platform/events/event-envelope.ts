/**
 * The message every event travels in, on Kafka and in process: the guideline's envelope
 * (eventId, eventType, aggregateId, payload, metadata) plus the aggregate type (the topic) and the
 * W3C traceparent of the request that caused it.
 */
export interface EventEnvelope<P extends Record<string, unknown> = Record<string, unknown>> {
  eventId: string;
  eventType: string;
  aggregateType: string;
  aggregateId: string;
  payload: P;
  metadata: {
    /** ISO 8601 time the business transaction wrote the event. */
    timestamp: string;
    /** Schema version of this event type's payload. */
    version: number;
    /** The request (or the first event) of the chain this event belongs to. */
    correlationId: string | null;
    /** The event whose handler wrote this one, when there is one. */
    causationId: string | null;
  };
  traceparent: string | null;
}

/** What a writer supplies; the rest of the envelope is filled when the event is appended. */
export interface NewEvent {
  eventType: string;
  aggregateType: string;
  aggregateId: string;
  payload: Record<string, unknown>;
  causationId?: string;
  /** Schema version of the payload; 1 when omitted. */
  version?: number;
}

// Aggregate types become Kafka topic names, so they are restricted to characters topics accept.
const AGGREGATE_TYPE = /^[A-Za-z][A-Za-z0-9_-]{0,99}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// W3C trace context, version 00: version-traceid-parentid-flags, all-zero ids invalid.
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** True when the value is a syntactically valid W3C traceparent header (version 00). */
export function isTraceparent(value: unknown): value is string {
  return typeof value === 'string' && TRACEPARENT.test(value);
}

/** Throws when a writer's event cannot be stored or routed; a programming error, not bad input. */
export function assertValidNewEvent(event: NewEvent): void {
  if (!AGGREGATE_TYPE.test(event.aggregateType)) throw new Error(`invalid aggregateType ${JSON.stringify(event.aggregateType)}`);
  if (event.eventType.length === 0 || event.eventType.length > 200) throw new Error('eventType must be 1 to 200 characters');
  if (event.aggregateId.length === 0 || event.aggregateId.length > 200) throw new Error('aggregateId must be 1 to 200 characters');
  if (event.version !== undefined && (!Number.isInteger(event.version) || event.version < 1)) throw new Error('version must be a positive integer');
  if (typeof event.payload !== 'object' || event.payload === null || Array.isArray(event.payload)) throw new Error('payload must be an object');
}

/**
 * Parses a received message into an envelope, or throws with the reason. Used by consumers on
 * bytes from the broker, which may have been written by anything.
 */
export function parseEnvelope(raw: string): EventEnvelope {
  const value: unknown = JSON.parse(raw);
  if (typeof value !== 'object' || value === null) throw new Error('envelope is not an object');
  const e = value as Record<string, unknown>;
  const metadata = e.metadata as Record<string, unknown> | null | undefined;
  if (typeof e.eventId !== 'string' || !UUID.test(e.eventId)) throw new Error('eventId is not a UUID');
  if (typeof e.eventType !== 'string' || e.eventType.length === 0) throw new Error('eventType missing');
  if (typeof e.aggregateType !== 'string' || !AGGREGATE_TYPE.test(e.aggregateType)) throw new Error('aggregateType invalid');
  if (typeof e.aggregateId !== 'string' || e.aggregateId.length === 0) throw new Error('aggregateId missing');
  if (typeof e.payload !== 'object' || e.payload === null || Array.isArray(e.payload)) throw new Error('payload is not an object');
  if (typeof metadata !== 'object' || metadata === null) throw new Error('metadata missing');
  if (typeof metadata.timestamp !== 'string' || typeof metadata.version !== 'number') throw new Error('metadata incomplete');
  return {
    eventId: e.eventId,
    eventType: e.eventType,
    aggregateType: e.aggregateType,
    aggregateId: e.aggregateId,
    payload: e.payload as Record<string, unknown>,
    metadata: {
      timestamp: metadata.timestamp,
      version: metadata.version,
      correlationId: typeof metadata.correlationId === 'string' ? metadata.correlationId : null,
      causationId: typeof metadata.causationId === 'string' ? metadata.causationId : null,
    },
    traceparent: isTraceparent(e.traceparent) ? e.traceparent : null,
  };
}
