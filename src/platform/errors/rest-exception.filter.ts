import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendRestError } from './send-rest-error.js';

/** Global filter: every failure inside Nest (guards, pipes, handlers) leaves as the error envelope. */
@Catch()
export class RestExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    sendRestError(exception, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
  }
}
