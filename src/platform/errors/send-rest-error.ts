import type { FastifyReply, FastifyRequest } from 'fastify';
import { buildEnvelope, mapErrorToRest } from './rest-error.mapper.js';

/**
 * Writes the error envelope for `exception`. Used by the Nest filter and by Fastify's own error and
 * not-found handlers, so errors raised before Nest sees the request look the same.
 */
export function sendRestError(exception: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const mapped = mapErrorToRest(exception);
  const path = request.url.split('?', 1)[0] ?? '/';
  if (mapped.unexpected) {
    // The stack goes to the server log only; the client gets the generic message.
    request.log.error({ requestId: request.id, err: exception, code: mapped.code }, 'request failed');
  } else if (mapped.status >= 500) {
    request.log.warn({ requestId: request.id, code: mapped.code }, 'request failed');
  }
  if (reply.sent) return;
  if (mapped.headers) void reply.headers(mapped.headers);
  // Set here too: errors Fastify raises before routing skip the onSend hook that normally adds it.
  void reply.header('x-request-id', request.id);
  void reply
    .status(mapped.status)
    .header('content-type', 'application/json; charset=utf-8')
    .send(buildEnvelope(mapped, path, request.id));
}
