import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/platform/config/config.schema.js';
import { loggerOptions } from '../../src/platform/observability/logger.js';
import { acceptRequestId, requestContext } from '../../src/platform/observability/request-context.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A pino logger with the service's options writing parsed lines into an array. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const raw: string[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = pino(loggerOptions(loadConfig({ LOG_LEVEL: 'info' })), sink);
  return { logger, lines, text: () => raw.join('\n') };
}

describe('acceptRequestId', () => {
  it.each([
    'abc',
    'req-123',
    'a',
    '0f8fad5b-d9cb-469f-a165-70867728950e',
    'trace.span:01_02-03',
    'x'.repeat(128),
  ])('accepts the safe id %s as is', (id) => {
    expect(acceptRequestId(id)).toBe(id);
  });

  it.each([
    ['too long', 'x'.repeat(129)],
    ['empty', ''],
    ['a space', 'abc def'],
    ['a newline', 'abc\ndef'],
    ['a carriage return', 'abc\r\nX-Injected: 1'],
    ['a quote', 'abc"def'],
    ['a slash', 'a/b'],
    ['non-ASCII letters', 'äbc'],
    ['a JSON fragment', '{"level":"fatal"}'],
    ['a trailing newline', 'abc\n'],
  ])('replaces an id with %s by a fresh UUID', (_reason, id) => {
    const accepted = acceptRequestId(id);
    expect(accepted).not.toBe(id);
    expect(accepted).toMatch(UUID);
  });

  it('generates a UUID when there is no header, a different one each time', () => {
    const first = acceptRequestId(undefined);
    const second = acceptRequestId(undefined);
    expect(first).toMatch(UUID);
    expect(second).toMatch(UUID);
    expect(first).not.toBe(second);
  });

  it('uses the first of repeated headers, under the same rules', () => {
    expect(acceptRequestId(['first-id', 'second-id'])).toBe('first-id');
    expect(acceptRequestId(['bad id', 'second-id'])).toMatch(UUID);
    expect(acceptRequestId([])).toMatch(UUID);
  });
});

describe('request context', () => {
  it('is visible through awaits and timers inside run() and not outside it', async () => {
    expect(requestContext.current()).toBeUndefined();
    const seen = await requestContext.run({ requestId: 'ctx-1' }, async () => {
      await sleep(5);
      const inTimer = await new Promise<string | undefined>((resolve) => setTimeout(() => resolve(requestContext.current()?.requestId), 1));
      return [requestContext.current()?.requestId, inTimer];
    });
    expect(seen).toEqual(['ctx-1', 'ctx-1']);
    expect(requestContext.current()).toBeUndefined();
  });

  it('keeps concurrent requests apart', async () => {
    const observe = (id: string, delay: number) =>
      requestContext.run({ requestId: id }, async () => {
        await sleep(delay);
        return requestContext.current()?.requestId;
      });
    expect(await Promise.all([observe('a', 20), observe('b', 1), observe('c', 10)])).toEqual(['a', 'b', 'c']);
  });
});

describe('logger', () => {
  it('adds the request id of the current context to lines that do not name one', async () => {
    const { logger, lines } = capturingLogger();
    logger.info('outside');
    await requestContext.run({ requestId: 'req-42' }, async () => {
      await sleep(1);
      logger.info('inside');
      logger.child({ component: 'repo' }).warn('inside child');
      logger.info({ requestId: 'explicit' }, 'names its own');
    });
    logger.flush();
    const byMessage = new Map(lines.map((line) => [line.msg, line]));
    expect(byMessage.get('outside')).not.toHaveProperty('requestId');
    expect(byMessage.get('inside')).toMatchObject({ requestId: 'req-42' });
    expect(byMessage.get('inside child')).toMatchObject({ requestId: 'req-42', component: 'repo' });
    expect(byMessage.get('names its own')).toMatchObject({ requestId: 'explicit' });
  });

  it('never writes the request id key twice on one line', () => {
    const raw: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        raw.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = pino(loggerOptions(loadConfig({})), sink);
    requestContext.run({ requestId: 'ctx' }, () => logger.info({ requestId: 'explicit' }, 'x'));
    expect(raw.join('').match(/"requestId"/g)).toHaveLength(1);
  });

  it('redacts secrets in headers and in fields named like secrets, nested up to two levels', () => {
    const { logger, text, lines } = capturingLogger();
    logger.info(
      {
        req: { headers: { authorization: 'Bearer SECRET-AUTH', cookie: 'sid=SECRET-COOKIE', 'x-api-key': 'SECRET-APIKEY-HEADER' } },
        res: { headers: { 'set-cookie': 'sid=SECRET-SET-COOKIE' } },
        password: 'SECRET-PW-TOP',
        body: { password: 'SECRET-PW-1', refreshToken: 'SECRET-RT-1', email: 'ada@example.com' },
        input: { user: { newPassword: 'SECRET-PW-2', token: 'SECRET-TOKEN-2', apiKey: 'SECRET-KEY-2' } },
        config: { DATABASE_URL: 'postgres://u:SECRET-DBURL@h/db', REDIS_URL: 'redis://:SECRET-REDIS@h' },
      },
      'with secrets',
    );
    logger.flush();
    expect(text()).not.toMatch(/SECRET-/);
    const [line] = lines;
    expect(line).toMatchObject({
      msg: 'with secrets',
      password: '[redacted]',
      req: { headers: { authorization: '[redacted]', cookie: '[redacted]', 'x-api-key': '[redacted]' } },
      body: { password: '[redacted]', refreshToken: '[redacted]', email: 'ada@example.com' },
      input: { user: { newPassword: '[redacted]', token: '[redacted]' } },
    });
  });
});
