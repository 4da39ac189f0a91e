import { applyDecorators, UseInterceptors, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import type { Observable } from 'rxjs';
import { tap } from 'rxjs/operators';

/**
 * How clients and proxies may cache a route's successful responses:
 * - `private`: personal data. `private, no-cache`: only the caller's own cache may keep it, and it
 *   must revalidate every time (cheap with the ETag: 304, no body). `Vary: Authorization`, since
 *   who asks decides what is seen.
 * - `public`: the same for everyone (public keys, reference data). `public, max-age=N`.
 * - `no-store`: secrets (tokens); nothing may keep it and no ETag is sent.
 */
export type HttpCachePolicy =
  | { scope: 'private'; vary?: readonly string[] }
  | { scope: 'public'; maxAgeSeconds: number; vary?: readonly string[] }
  | { scope: 'no-store' };

/** Marks a request whose 200 response gets a strong ETag and If-None-Match handling (see registerHttpCaching). */
const ETAG_ROUTES = new WeakSet<FastifyRequest>();

function cacheControl(policy: HttpCachePolicy): string {
  if (policy.scope === 'no-store') return 'no-store';
  if (policy.scope === 'private') return 'private, no-cache';
  return `public, max-age=${policy.maxAgeSeconds}`;
}

/** Applies one route's policy once its handler has succeeded; error responses keep their own headers. */
class HttpCacheInterceptor implements NestInterceptor {
  private readonly cacheControl: string;
  private readonly vary: string | undefined;

  constructor(private readonly policy: HttpCachePolicy) {
    this.cacheControl = cacheControl(policy);
    const vary = policy.scope === 'no-store' ? [] : [...(policy.scope === 'private' ? ['Authorization'] : []), ...(policy.vary ?? [])];
    this.vary = vary.length > 0 ? [...new Set(vary)].join(', ') : undefined;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    return next.handle().pipe(
      tap(() => {
        void reply.header('cache-control', this.cacheControl);
        if (this.vary) void reply.header('vary', this.vary);
        if (this.policy.scope !== 'no-store' && request.method === 'GET') ETAG_ROUTES.add(request);
      }),
    );
  }
}

/** Route decorator: the route's Cache-Control, Vary and (unless no-store) strong ETag with 304 on If-None-Match. */
export function HttpCache(policy: HttpCachePolicy): MethodDecorator & ClassDecorator {
  return applyDecorators(UseInterceptors(new HttpCacheInterceptor(policy)));
}

/** A strong validator: a hash of the exact bytes sent, so equal ETags mean identical bodies. */
export function strongEtag(payload: string | Buffer): string {
  return `"${createHash('sha256').update(payload).digest('base64url').slice(0, 32)}"`;
}

/**
 * RFC 9110 13.1.2: If-None-Match uses the weak comparison (W/ prefixes ignored), and `*` matches
 * any current representation.
 */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}

/**
 * Adds the ETag to marked 200 responses after serialization (the hash is of the bytes on the wire)
 * and turns a matching If-None-Match into 304 with no body. Cache-Control and Vary stay on the 304,
 * as RFC 9110 15.4.5 requires.
 */
export function registerHttpCaching(fastify: FastifyInstance): void {
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (!ETAG_ROUTES.has(request) || reply.statusCode !== 200 || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) {
      done(null, payload);
      return;
    }
    const etag = strongEtag(payload);
    void reply.header('etag', etag);
    if (noneMatch(request.headers['if-none-match'], etag)) {
      void reply.code(304);
      void reply.removeHeader('content-type');
      void reply.removeHeader('content-length');
      done(null, '');
      return;
    }
    done(null, payload);
  });
}
