import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { acceptRequestId, requestContext } from './request-context.js';

/**
 * Runs the rest of the request inside an AsyncLocalStorage context holding its id, so log lines
 * written anywhere below (services, repositories) carry the request id.
 */
@Injectable()
export class RequestContextMiddleware implements NestMiddleware<IncomingMessage & { id?: string }, ServerResponse> {
  use(req: IncomingMessage & { id?: string }, _res: ServerResponse, next: () => void): void {
    const requestId = req.id ?? acceptRequestId(req.headers['x-request-id']);
    requestContext.run({ requestId }, next);
  }
}
