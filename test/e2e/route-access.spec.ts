import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { expectErrorEnvelope } from '../helpers/api.js';
import { restRoutes, type RestRoute } from '../helpers/routes.js';

/**
 * The routes reachable without a token, each on purpose: probes and scrapes (no credentials
 * there), the public keys, and the ways to get or end a session with a refresh token. Adding a
 * route here is a security decision; say why at its @Public().
 */
const DELIBERATELY_PUBLIC = [
  'GET /.well-known/jwks.json',
  'POST /auth/login',
  'POST /auth/logout',
  'POST /auth/refresh',
  'POST /auth/register',
  'POST /auth/verify-email',
  'GET /health',
  'GET /health/live',
  'GET /health/ready',
  'GET /metrics',
  // The product catalog is the shop window; it holds nothing private.
  'GET /products',
  'GET /products/:id',
];

/** Served by Fastify plugins, not Nest handlers: the OpenAPI UI and documents, public by design. */
const NON_NEST_ROUTES = /^\/docs(\/|$)/;

/**
 * "METHOD /path" for every route in Fastify's printRoutes() tree. Each line is a segment under the
 * line above it with one less level of indentation (four characters a level); HEAD routes are the
 * ones Fastify adds for GET.
 */
function servedRoutes(tree: string): string[] {
  const parents: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│├└─ ]*)(\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const path = (depth > 1 ? parents[depth - 2]! : '') + match[2]!;
    parents[depth - 1] = path;
    for (const method of match[3]!.split(', ')) if (method !== 'HEAD') routes.push(`${method} ${path}`);
  }
  return routes;
}

const label = (route: RestRoute): string => `${route.method} ${route.path}`;
/** A concrete URL for a route template: any id will do, the guard answers before the handler. */
const urlOf = (route: RestRoute): string => route.path.replace(/:[A-Za-z]+/g, randomUUID());

describe('every REST route is guarded or deliberately public (STYLE.md 12)', () => {
  let t: TestApp;
  let routes: RestRoute[];
  beforeAll(async () => {
    t = await startTestApp();
    routes = restRoutes(t.app);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('finds the route table, and every route is one Fastify serves', () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
    const fastify = t.app.getHttpAdapter().getInstance();
    for (const route of routes) expect(fastify.hasRoute({ method: route.method, url: route.path }), label(route)).toBe(true);
  });

  it('Fastify serves no route that Nest does not know about, other than the docs', () => {
    const served = servedRoutes(t.app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false }));
    expect(served).toContain('PATCH /users/:id');
    const known = new Set(routes.map(label));
    expect(served.filter((route) => !known.has(route) && !NON_NEST_ROUTES.test(route.split(' ')[1]!))).toEqual([]);
  });

  it('every handler declares @Public(), @RequirePermissions(...) or @Authenticated()', () => {
    const undecided = routes.filter((route) => route.access === undefined).map((route) => `${label(route)} (${route.handler})`);
    expect(undecided, 'routes without an access decision').toEqual([]);
  });

  it('exactly the deliberate routes are public', () => {
    expect(routes.filter((route) => route.access?.kind === 'public').map(label).sort()).toEqual([...DELIBERATELY_PUBLIC].sort());
  });

  it('an anonymous caller gets 401 AUTHENTICATION_REQUIRED from every other route, before validation', async () => {
    const guarded = routes.filter((route) => route.access?.kind !== 'public');
    expect(guarded.length).toBeGreaterThan(0);
    for (const route of guarded) {
      const url = urlOf(route);
      // An invalid body too: authentication must come before validation, or a 400 would tell an
      // anonymous caller about the route's schema.
      const hasBody = route.method === 'POST' || route.method === 'PATCH' || route.method === 'PUT';
      const res = await t.anonymous({ method: route.method as 'GET', url, ...(hasBody && { payload: { unexpected: true } }) });
      expectErrorEnvelope(res, { status: 401, code: 'AUTHENTICATION_REQUIRED', url });
      expect(res.headers['www-authenticate'], label(route)).toBe('Bearer');
    }
  });

  it('a forged token gets 401 TOKEN_INVALID from every other route', async () => {
    for (const route of routes.filter((candidate) => candidate.access?.kind !== 'public')) {
      const url = urlOf(route);
      const res = await t.anonymous({ method: route.method as 'GET', url, headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' } });
      expectErrorEnvelope(res, { status: 401, code: 'TOKEN_INVALID', url });
    }
  });
});
