import { randomBytes } from 'node:crypto';
import type { RequestContext } from '../observability/request-context.js';

/** The trace an outbound call belongs to (W3C Trace Context, https://www.w3.org/TR/trace-context/). */
export interface TraceParent {
  /** 32 lowercase hex characters, not all zero. */
  readonly traceId: string;
  /** 2 hex characters; bit 0 is "sampled". */
  readonly flags: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** Parses a traceparent header; undefined when it is missing or malformed (as the spec says to treat it). */
export function parseTraceParent(header: string | undefined): TraceParent | undefined {
  if (header === undefined) return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version, traceId, parentId, flags] = match as unknown as [string, string, string, string, string];
  // Version ff is forbidden; version 00 has exactly four fields; all-zero ids are invalid.
  if (version === 'ff' || (version === '00' && header.trim().length !== 55)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return { traceId, flags };
}

/** A fresh trace, sampled. */
export function newTrace(): TraceParent {
  return { traceId: randomBytes(16).toString('hex'), flags: '01' };
}

// A request that arrived without a traceparent still needs one trace id for all its outbound calls;
// it is generated on the first call and kept for the request's lifetime (the context object's).
const generated = new WeakMap<RequestContext, TraceParent>();

/** The trace of the current request: its incoming traceparent, else one generated once per request. */
export function traceOf(context: RequestContext | undefined): TraceParent {
  if (context === undefined) return newTrace();
  const incoming = parseTraceParent(context.traceparent);
  if (incoming) return incoming;
  let trace = generated.get(context);
  if (!trace) {
    trace = newTrace();
    generated.set(context, trace);
  }
  return trace;
}

/** The traceparent header of one outbound attempt: the request's trace, a new span id for the attempt. */
export function formatTraceParent(trace: TraceParent): string {
  return `00-${trace.traceId}-${randomBytes(8).toString('hex')}-${trace.flags}`;
}
