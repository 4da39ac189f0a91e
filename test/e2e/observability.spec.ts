import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsersService } from '../../src/modules/users/users.service.js';
import { PROCESS_LOGGER } from '../../src/platform/observability/logger.tokens.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { ignoreClosingErrors } from '../helpers/pool.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Envelope {
  error: { code: string; message: string; details: unknown; timestamp: string; path: string; requestId: string };
}

function linesFor(t: TestApp, requestId: string): Array<Record<string, unknown>> {
  return t.logs.filter((line) => line.requestId === requestId);
}

/** One sample value of a Prometheus text exposition, matched by metric name and a subset of labels. */
function sample(metricsText: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of metricsText.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line) ?? /^([a-zA-Z_:][a-zA-Z0-9_:]*)() (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

describe('observability', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    ignoreClosingErrors(t.sql);
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('request id', () => {
    it('accepts a safe X-Request-ID, echoes it and puts it in the error envelope', async () => {
      const res = await t.app.inject({ method: 'GET', url: `/users/${randomUUID()}`, headers: { 'x-request-id': 'client-req.42:a_b' } });
      expect(res.statusCode).toBe(404);
      expect(res.headers['x-request-id']).toBe('client-req.42:a_b');
      expect(res.json<Envelope>().error).toMatchObject({ code: 'USER_NOT_FOUND', requestId: 'client-req.42:a_b' });
    });

    it('generates a UUID when the client sends none, and uses it in the envelope', async () => {
      const res = await t.app.inject({ method: 'GET', url: `/users/${randomUUID()}` });
      const id = res.headers['x-request-id'];
      expect(id).toMatch(UUID);
      expect(res.json<Envelope>().error.requestId).toBe(id);
    });

    it('gives successful responses a request id too', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/users', headers: { 'x-request-id': 'list-1' } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-request-id']).toBe('list-1');
    });

    it.each([
      ['too long', 'r'.repeat(129)],
      ['with spaces', 'my request id'],
      ['with a newline', 'abc\ninjected'],
      ['with a JSON fragment', '{"level":60}'],
      ['non-ASCII', 'réq'],
    ])('replaces an unsafe X-Request-ID (%s) by a UUID', async (_reason, unsafe) => {
      const res = await t.app.inject({ method: 'GET', url: `/users/${randomUUID()}`, headers: { 'x-request-id': unsafe } });
      const id = res.headers['x-request-id'];
      expect(id).toMatch(UUID);
      expect(res.json<Envelope>().error.requestId).toBe(id);
      expect(JSON.stringify(t.logs)).not.toContain(unsafe);
    });

    it('accepts exactly 128 characters', async () => {
      const longest = 'r'.repeat(128);
      const res = await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': longest } });
      expect(res.headers['x-request-id']).toBe(longest);
    });

    it('puts the request id on errors raised before Nest sees the request (unknown route, bad JSON)', async () => {
      const notFound = await t.app.inject({ method: 'GET', url: '/no/such/route', headers: { 'x-request-id': 'nf-1' } });
      expect(notFound.statusCode).toBe(404);
      expect(notFound.headers['x-request-id']).toBe('nf-1');
      expect(notFound.json<Envelope>().error).toMatchObject({ code: 'ROUTE_NOT_FOUND', requestId: 'nf-1', path: '/no/such/route' });

      const badJson = await t.app.inject({
        method: 'POST',
        url: '/users',
        headers: { 'x-request-id': 'bad-json-1', 'content-type': 'application/json' },
        payload: '{"email": ',
      });
      expect(badJson.statusCode).toBe(400);
      expect(badJson.headers['x-request-id']).toBe('bad-json-1');
      expect(badJson.json<Envelope>().error).toMatchObject({ code: 'MALFORMED_REQUEST', requestId: 'bad-json-1' });
    });
  });

  describe('request log', () => {
    it('writes exactly one "request completed" line per request, with the route template', async () => {
      const requestId = `log-${randomUUID()}`;
      const id = randomUUID();
      const res = await t.app.inject({ method: 'GET', url: `/users/${id}?x=1`, headers: { 'x-request-id': requestId } });
      expect(res.statusCode).toBe(404);
      const completed = linesFor(t, requestId).filter((line) => line.msg === 'request completed');
      expect(completed).toHaveLength(1);
      expect(completed[0]).toMatchObject({
        requestId,
        method: 'GET',
        route: '/users/:id',
        path: `/users/${id}`,
        statusCode: 404,
        level: 'warn',
        service: 'groundwork',
      });
      expect(typeof completed[0]?.responseTimeMs).toBe('number');
      // The request id key appears once on the line (the mixin does not add a second one).
      expect(JSON.stringify(completed[0]).match(/"requestId"/g)).toHaveLength(1);
    });

    it('logs successes at info and unknown routes under "unmatched"', async () => {
      await t.app.inject({ method: 'GET', url: '/users', headers: { 'x-request-id': 'ok-line' } });
      await t.app.inject({ method: 'GET', url: '/definitely/not/here', headers: { 'x-request-id': 'unmatched-line' } });
      expect(linesFor(t, 'ok-line').filter((l) => l.msg === 'request completed')).toEqual([
        expect.objectContaining({ route: '/users', statusCode: 200, level: 'info' }),
      ]);
      expect(linesFor(t, 'unmatched-line').filter((l) => l.msg === 'request completed')).toEqual([
        expect.objectContaining({ route: 'unmatched', path: '/definitely/not/here', statusCode: 404, level: 'warn' }),
      ]);
    });

    it('does not log successful probes and scrapes, but does log failed ones', async () => {
      await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'quiet-live' } });
      await t.app.inject({ method: 'GET', url: '/metrics', headers: { 'x-request-id': 'quiet-metrics' } });
      expect(linesFor(t, 'quiet-live')).toEqual([]);
      expect(linesFor(t, 'quiet-metrics')).toEqual([]);
    });

    it('carries the request id on lines written inside a service, for GET and for POST with a body', async () => {
      const service = t.app.get(UsersService);
      const logger = t.app.get<symbol, Logger>(PROCESS_LOGGER);
      // Instrument the real singleton the controller uses: log from inside the service call, after
      // an await, the way a service or repository would.
      const originalList = service.list.bind(service);
      const originalCreate = service.create.bind(service);
      service.list = async (caller, query) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        logger.info({ probe: 'list' }, 'service probe');
        return originalList(caller, query);
      };
      service.create = async (caller, input) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        logger.info({ probe: 'create' }, 'service probe');
        const created = await originalCreate(caller, input);
        logger.info({ probe: 'created' }, 'service probe');
        return created;
      };
      try {
        const list = await t.app.inject({ method: 'GET', url: '/users', headers: { 'x-request-id': 'svc-get' } });
        expect(list.statusCode).toBe(200);
        const create = await t.app.inject({
          method: 'POST',
          url: '/users',
          headers: { 'x-request-id': 'svc-post' },
          payload: { email: `probe-${randomUUID()}@example.com`, name: 'Probe' },
        });
        expect(create.statusCode).toBe(201);
      } finally {
        Reflect.deleteProperty(service, 'list');
        Reflect.deleteProperty(service, 'create');
      }
      const probes = t.logs.filter((line) => line.msg === 'service probe');
      expect(probes.map((line) => [line.probe, line.requestId])).toEqual([
        ['list', 'svc-get'],
        ['create', 'svc-post'],
        ['created', 'svc-post'],
      ]);
    });

    it('keeps the ids of concurrent requests apart', async () => {
      const service = t.app.get(UsersService);
      const logger = t.app.get<symbol, Logger>(PROCESS_LOGGER);
      const original = service.findOne.bind(service);
      service.findOne = async (caller, id) => {
        // Interleave: the first request finishes last.
        await new Promise((resolve) => setTimeout(resolve, id.endsWith('0') ? 30 : 1));
        logger.info({ probeId: id }, 'concurrent probe');
        return original(caller, id);
      };
      const ids = Array.from({ length: 6 }, (_, i) => `00000000-0000-4000-8000-00000000000${i}`);
      try {
        await Promise.all(ids.map((id, i) => t.app.inject({ method: 'GET', url: `/users/${id}`, headers: { 'x-request-id': `conc-${i}` } })));
      } finally {
        Reflect.deleteProperty(service, 'findOne');
      }
      const probes = t.logs.filter((line) => line.msg === 'concurrent probe');
      expect(probes).toHaveLength(ids.length);
      for (const line of probes) expect(line.requestId).toBe(`conc-${ids.indexOf(line.probeId as string)}`);
    });
  });

  describe('redaction', () => {
    it('never writes the Authorization header, cookies or passwords of a request to the log', async () => {
      // The bearer secret is a real access token, so the requests get past authentication.
      const secrets = [t.admin.accessToken, 'SECRET-COOKIE-91bc', 'SECRET-PASSWORD-55de', 'SECRET-QUERY-0a0a'];
      const headers = { authorization: `Bearer ${secrets[0]}`, cookie: `session=${secrets[1]}`, 'x-request-id': 'redact-1' };
      const rejected = await t.app.inject({
        method: 'POST',
        url: `/users?token=${secrets[3]}`,
        headers,
        payload: { email: 'secret@example.com', name: 'Secret', password: secrets[2] },
      });
      expect(rejected.statusCode).toBe(400);
      const accepted = await t.app.inject({
        method: 'POST',
        url: '/users',
        headers: { ...headers, 'x-request-id': 'redact-2' },
        payload: { email: `redact-${randomUUID()}@example.com`, name: 'Secret', metadata: { password: secrets[2] } },
      });
      expect(accepted.statusCode).toBe(201);
      // The app did log these requests, and none of its lines holds a secret.
      expect(linesFor(t, 'redact-1').length).toBeGreaterThan(0);
      const allLogText = JSON.stringify(t.logs);
      for (const secret of secrets) expect(allLogText).not.toContain(secret);
    });
  });

  describe('metrics', () => {
    it('exposes process metrics and per-route request durations by template', async () => {
      const id = randomUUID();
      await t.app.inject({ method: 'GET', url: `/users/${id}` });
      await t.app.inject({ method: 'GET', url: `/users/${randomUUID()}` });
      await t.app.inject({ method: 'GET', url: `/no-such-page/${id}` });
      await t.app.inject({ method: 'GET', url: '/users' });

      const res = await t.app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = res.body;

      for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
        expect(sample(text, name, { service: 'groundwork' }), name).toBeGreaterThanOrEqual(0);
      }
      expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/users/:id', status_code: '404', service: 'groundwork' })).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/users', status_code: '200' })).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_code: '404' })).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'http_request_duration_seconds_bucket', { route: '/users/:id', status_code: '404', le: '+Inf' })).toBeGreaterThanOrEqual(2);
      // Concrete ids and paths never become label values.
      expect(text).not.toContain(id);
      expect(text).not.toContain('no-such-page');
      expect(text).toContain('# TYPE db_transaction_retries_total counter');
    });

    it('counts the scrape itself under its own route', async () => {
      await t.app.inject({ method: 'GET', url: '/metrics' });
      const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(sample(text, 'http_request_duration_seconds_count', { route: '/metrics', status_code: '200' })).toBeGreaterThanOrEqual(1);
    });
  });
});

describe('unexpected errors', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    ignoreClosingErrors(t.sql);
    // Break the schema under the running app: every query that reads user profiles now fails inside
    // PostgreSQL. Profiles, not users: authentication reads users and must still succeed, so the
    // failures happen in the users service and repository as before.
    await t.sql.query('DROP TABLE user_profiles CASCADE');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 500 INTERNAL with the generic message and no SQL or stack, and logs the stack', async () => {
    // A real token: the request must reach the failing query, and the token must stay out of the log.
    const secret = t.admin.accessToken;
    const res = await t.app.inject({
      method: 'GET',
      url: '/users?status=active',
      headers: { 'x-request-id': 'boom-1', authorization: `Bearer ${secret}` },
    });
    expect(res.statusCode).toBe(500);
    expect(res.headers['x-request-id']).toBe('boom-1');
    const body = res.json<Envelope>();
    expect(body.error).toMatchObject({ code: 'INTERNAL', message: 'An unexpected error occurred.', details: null, path: '/users', requestId: 'boom-1' });
    expect(Object.keys(body)).toEqual(['error']);
    expect(Object.keys(body.error).sort()).toEqual(['code', 'details', 'message', 'path', 'requestId', 'timestamp']);
    expect(res.body).not.toMatch(/relation|select |42P01|does not exist|\bat .*\(|\.[jt]s:\d|stack|postgres/i);

    const lines = linesFor(t, 'boom-1');
    const failed = lines.find((line) => line.msg === 'request failed');
    expect(failed).toMatchObject({ level: 'error', code: 'INTERNAL' });
    const err = failed?.err as { message?: string; stack?: string; code?: string } | undefined;
    expect(err?.message).toMatch(/relation "user_profiles" does not exist/);
    expect(err?.code).toBe('42P01');
    expect(err?.stack).toMatch(/\n\s+at /);
    expect(lines.filter((line) => line.msg === 'request completed')).toEqual([
      expect.objectContaining({ route: '/users', statusCode: 500, level: 'error' }),
    ]);
    expect(JSON.stringify(t.logs)).not.toContain(secret);
  });

  it('masks failures inside a transaction the same way', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/users',
      headers: { 'x-request-id': 'boom-2' },
      payload: { email: 'boom@example.com', name: 'Boom', metadata: { password: 'SECRET-META-PW' } },
    });
    expect(res.statusCode).toBe(500);
    expect(res.json<Envelope>().error).toMatchObject({ code: 'INTERNAL', requestId: 'boom-2' });
    expect(res.body).not.toContain('boom@example.com');
    expect(linesFor(t, 'boom-2').some((line) => line.msg === 'request failed' && line.level === 'error')).toBe(true);
    expect(JSON.stringify(t.logs)).not.toContain('SECRET-META-PW');
  });

  it('counts the failure in the request metrics with status 500', async () => {
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/users', status_code: '500' })).toBe(1);
  });
});
