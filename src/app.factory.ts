import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AppModule } from './app.module.js';
import type { AppConfig } from './platform/config/config.schema.js';
import { AppError } from './platform/errors/app-error.js';
import { sendRestError } from './platform/errors/send-rest-error.js';
import { registerHttpCaching } from './platform/http-cache/http-cache.js';
import { MetricsService } from './platform/observability/metrics.js';
import { PinoNestLogger } from './platform/observability/nest-logger.js';
import { acceptRequestId, requestContext } from './platform/observability/request-context.js';
import { isTraceparent } from './platform/events/event-envelope.js';

// Probes and scrapes would drown the log; they are logged only when they fail.
const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);
// What an APP_ROLE=worker process answers over HTTP: its probes and its metrics, nothing else.
const WORKER_ROUTES = /^\/(health(\/|$|\?)|metrics(\?|$))/;

export interface CreatedApp {
  app: NestFastifyApplication;
  openapi: OpenAPIObject;
}

/** The OpenAPI document of the running app; also written to contracts/openapi.json. */
export function buildOpenApi(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Groundwork')
    .setDescription('Reference backend implementing the Backend Development Guidelines v1.0')
    .setVersion('1.0.0')
    // Access tokens are EdDSA JWTs (typ at+jwt) from POST /auth/login; routes that need one say so.
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Access token from POST /auth/login or /auth/refresh' })
    .build();
  return SwaggerModule.createDocument(app, config);
}

/**
 * Builds the application (HTTP adapter, modules, hooks, docs) without listening, so tests can
 * drive it through inject() and main.ts can add the listener and signal handling.
 */
/** Trusts the nearest `hops` proxies in the X-Forwarded-For chain, as Fastify's numeric option does. */
function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

export async function createApp(config: AppConfig, logger: Logger): Promise<CreatedApp> {
  // Everything the service writes locally lives under DATA_DIR; creating it up front also gives the
  // disk health check a path to measure on a fresh checkout.
  await mkdir(config.DATA_DIR, { recursive: true });
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    // The request id comes from a sane X-Request-ID header or is generated; never trusted blindly.
    requestIdHeader: false,
    genReqId: (raw: IncomingMessage) => {
      const id = acceptRequestId(raw.headers['x-request-id']);
      return id;
    },
    // Fastify's request.log is the process logger. Its two default lines per request are replaced
    // by the one written in onResponse below.
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child binding: lines name requestId explicitly or get it from the
    // request context (see logger.ts), and a child logger per request would cost on the hot path.
    childLoggerFactory: (parent: FastifyBaseLogger) => parent,
    // While the listener closes, requests already on open connections are still served normally
    // (the database is closed only after them) instead of getting a bare 503 without an envelope.
    return503OnClosing: false,
    // URL-level errors (bad percent-encoding, over-long path parameters) raised before routing
    // leave in the same envelope as every other error.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => sendRestError(error, request, reply),
    forceCloseConnections: 'idle',
    // request.ip (rate limits, audit log) comes from X-Forwarded-For only through trusted proxies.
    // A hop count becomes proxy-addr's predicate form, which the adapter's option type accepts.
    trustProxy: typeof config.TRUST_PROXY === 'number' ? trustHops(config.TRUST_PROXY) : config.TRUST_PROXY,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // No Nest middleware is used (request context and logging are Fastify hooks), so the
    // Express-style middleware layer is left out of every request.
    skipMiddie: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, logger), adapter, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });

  const fastify = app.getHttpAdapter().getInstance();
  const metrics = app.get(MetricsService);
  // Lines without secrets by construction (ids, route, status, timing) skip the redaction pass,
  // which is the costliest part of writing a line.
  const accessLog = logger.child({}, { redact: [] });
  const workerOnly = config.APP_ROLE === 'worker';
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    // A worker runs jobs; the API lives on api/all replicas, so any other route is not served here.
    if (workerOnly && !WORKER_ROUTES.test(request.url)) {
      sendRestError(new AppError('ROUTE_NOT_FOUND'), request, reply);
      return;
    }
    done();
  });
  // Everything after body parsing (Nest guards, pipes, handlers, filters, and the services they
  // call) runs inside the request's AsyncLocalStorage context, so log lines written there carry
  // the request id. preHandler, not onRequest: body parsing runs on stream events that would
  // not keep a context entered earlier.
  fastify.addHook('preHandler', (request, _reply, done) => {
    // The incoming traceparent is kept only when well-formed; outbound calls and events continue it.
    const traceparent = request.headers.traceparent;
    requestContext.run(isTraceparent(traceparent) ? { requestId: request.id, traceparent } : { requestId: request.id }, done);
  });
  // ETag and 304 for routes marked with @HttpCache, computed on the serialized body.
  registerHttpCaching(fastify);
  fastify.addHook('onResponse', (request, reply, done) => {
    // The route template keeps label cardinality bounded; unmatched URLs share one label.
    const route = request.routeOptions.url ?? 'unmatched';
    const statusCode = reply.statusCode;
    metrics.httpRequestDuration.observe({ method: request.method, route, status_code: String(statusCode) }, reply.elapsedTime / 1000);
    const quiet = QUIET_ROUTES.has(route);
    if (!quiet || statusCode >= 400) {
      // A probe answering 503 (starting, draining, database down) is a state, not a server error.
      const level = statusCode >= 500 && !quiet ? 'error' : statusCode >= 400 ? 'warn' : 'info';
      accessLog[level](
        {
          requestId: request.id,
          method: request.method,
          route,
          path: request.url.split('?', 1)[0],
          statusCode,
          responseTimeMs: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request completed',
      );
    }
    done();
  });

  const openapi = buildOpenApi(app);
  SwaggerModule.setup('docs', app, openapi, { jsonDocumentUrl: 'docs/json', yamlDocumentUrl: 'docs/yaml' });

  await app.init();
  // The API speaks JSON only; the default text and form parsers would hand other bodies to the
  // validation pipe and produce a confusing error instead of 415.
  fastify.removeContentTypeParser(['text/plain', 'application/x-www-form-urlencoded']);
  return { app, openapi };
}
