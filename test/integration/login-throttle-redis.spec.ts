import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/platform/config/config.schema.js';
import { AppError } from '../../src/platform/errors/app-error.js';
import { LoginThrottle } from '../../src/platform/security/login-throttle.js';

// The login throttle on Redis: counters shared by two throttles (two replicas). Needs REDIS_URL;
// .ci/run sets it when the machine's Redis answers.
const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) console.warn('[test] SKIPPED login throttle on Redis: REDIS_URL is not set');

describe.skipIf(!REDIS_URL)('login throttle on Redis', () => {
  const config = { ...loadConfig({ REDIS_URL: REDIS_URL ?? '' }), AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT: 2, AUTH_LOGIN_MAX_FAILURES_PER_IP: 50, AUTH_LOGIN_WINDOW_SECONDS: 30 };
  const logger = pino({ level: 'silent' });
  let replicaA: LoginThrottle;
  let replicaB: LoginThrottle;

  beforeAll(async () => {
    replicaA = LoginThrottle.create(config, logger);
    replicaB = LoginThrottle.create(config, logger);
    await Promise.all([replicaA.ready(), replicaB.ready()]);
  });
  afterAll(async () => {
    await replicaA?.close();
    await replicaB?.close();
  });

  it('shares failure counts between replicas and locks with a Retry-After', async () => {
    expect(replicaA.usesRedis).toBe(true);
    const email = `redis-${randomBytes(4).toString('hex')}@example.com`;
    expect((await replicaA.recordFailure('10.9.0.1', email)).lockedOut).toEqual([]);
    expect((await replicaB.recordFailure('10.9.0.2', email)).lockedOut).toEqual(['account']);
    const error = await replicaA.assertAllowed('10.9.0.3', email).then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('TOO_MANY_ATTEMPTS');
    expect(Number((error as AppError).headers?.['retry-after'])).toBeGreaterThan(0);
    await replicaB.recordSuccess(email);
    await expect(replicaA.assertAllowed('10.9.0.3', email)).resolves.toBeUndefined();
  });
});
