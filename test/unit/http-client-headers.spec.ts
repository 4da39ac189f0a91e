import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../../src/platform/http-client/resilient-http-client.js';
import { formatTraceParent, newTrace, parseTraceParent, traceOf } from '../../src/platform/http-client/trace-context.js';

// The header parsing the resilient client relies on: W3C traceparent and Retry-After.

describe('traceparent', () => {
  const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('parses a valid version-00 header', () => {
    expect(parseTraceParent(valid)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', flags: '01' });
  });

  it('accepts a future version with extra fields and keeps its trace', () => {
    expect(parseTraceParent(`cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra`)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', flags: '00' });
  });

  it.each([
    ['missing', undefined],
    ['garbage', 'not-a-traceparent'],
    ['uppercase hex', valid.toUpperCase()],
    ['version ff', valid.replace(/^00/, 'ff')],
    ['all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['version 00 with extra fields', `${valid}-extra`],
    ['short trace id', '00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01'],
  ])('rejects a header that is %s', (_reason, header) => {
    expect(parseTraceParent(header)).toBeUndefined();
  });

  it('formats version 00 with a fresh span id per call', () => {
    const trace = newTrace();
    const a = formatTraceParent(trace);
    const b = formatTraceParent(trace);
    expect(a).toMatch(new RegExp(`^00-${trace.traceId}-[0-9a-f]{16}-01$`));
    expect(parseTraceParent(a)).toEqual(trace);
    expect(a).not.toBe(b);
  });

  it('continues the incoming trace, else keeps one generated trace per request context', () => {
    expect(traceOf({ requestId: 'r', traceparent: valid }).traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const context = { requestId: 'r2' };
    expect(traceOf(context)).toBe(traceOf(context));
    expect(traceOf({ requestId: 'r3' }).traceId).not.toBe(traceOf(context).traceId);
    expect(traceOf(undefined).traceId).not.toBe(traceOf(undefined).traceId);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads delta-seconds', () => {
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs(['0'], now)).toBe(0);
  });

  it('reads an HTTP date, never negative', () => {
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
  });

  it('ignores a missing or malformed value', () => {
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs('', now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-1', now)).toBeUndefined();
  });
});
