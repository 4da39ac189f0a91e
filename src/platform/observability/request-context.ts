import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** What every log line and error envelope of one request can see, wherever it is in the call tree. */
export interface RequestContext {
  readonly requestId: string;
  /**
   * W3C traceparent of the incoming request or event (validated), carried into the events it writes
   * and continued by outbound HTTP calls.
   */
  readonly traceparent?: string;
  /** The event whose handler is running, recorded as the causationId of events it writes. */
  readonly causationId?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export const requestContext = {
  run<T>(context: RequestContext, fn: () => T): T {
    return storage.run(context, fn);
  },
  current(): RequestContext | undefined {
    return storage.getStore();
  },
};

// Accept a caller's request id only when it is short and made of safe characters, so it cannot
// inject into log lines or headers; anything else is replaced by a fresh UUID.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id to use for an incoming X-Request-ID header value. */
export function acceptRequestId(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SAFE_REQUEST_ID.test(value) ? value : randomUUID();
}
