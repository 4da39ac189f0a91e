import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { AppConfig } from '../config/config.schema.js';
import { AppError } from '../errors/app-error.js';

type LimiterConfig = Pick<
  AppConfig,
  | 'REDIS_URL'
  | 'AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT'
  | 'AUTH_LOGIN_MAX_FAILURES_PER_IP'
  | 'AUTH_LOGIN_WINDOW_SECONDS'
  | 'AUTH_REGISTER_MAX_PER_IP'
  | 'AUTH_REGISTER_WINDOW_SECONDS'
>;

/** What a recorded failure did: `lockedOut` names the counters this failure filled. */
export interface FailureOutcome {
  lockedOut: Array<'ip' | 'account'>;
}

/**
 * Counts failed logins per IP and per account (rate-limiter-flexible) and refuses further
 * attempts with 429 TOO_MANY_ATTEMPTS and Retry-After once either count reaches its limit within
 * the window. Only failures count, so a user who types the password right is never throttled by
 * their own successful logins; a success clears the account's count (not the IP's: many users
 * share an IP behind NAT, and one success must not reset an attack from it).
 *
 * With REDIS_URL the counters live in Redis and are shared by every replica; should Redis fail, an
 * in-memory limiter with the same limits takes over (per replica) rather than failing logins open
 * or closed. Account keys are SHA-256 of the lower-cased email, so Redis holds no addresses.
 */
export class LoginThrottle {
  private readonly perIp: RateLimiterAbstract;
  private readonly perAccount: RateLimiterAbstract;
  private readonly registrationsPerIp: RateLimiterAbstract;
  private readonly ipLimit: number;
  private readonly accountLimit: number;

  private constructor(
    config: LimiterConfig,
    private readonly redis: Redis | undefined,
  ) {
    const duration = config.AUTH_LOGIN_WINDOW_SECONDS;
    this.ipLimit = config.AUTH_LOGIN_MAX_FAILURES_PER_IP;
    this.accountLimit = config.AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT;
    const make = (keyPrefix: string, points: number, window = duration): RateLimiterAbstract => {
      const memory = new RateLimiterMemory({ keyPrefix, points, duration: window });
      return redis
        ? new RateLimiterRedis({ storeClient: redis, keyPrefix: `groundwork:${keyPrefix}`, points, duration: window, insuranceLimiter: memory })
        : memory;
    };
    this.perIp = make('login-fail-ip', this.ipLimit);
    this.perAccount = make('login-fail-account', this.accountLimit);
    this.registrationsPerIp = make('register-ip', config.AUTH_REGISTER_MAX_PER_IP, config.AUTH_REGISTER_WINDOW_SECONDS);
  }

  /** The memory throttle, or the Redis one when REDIS_URL is set. */
  static create(config: LimiterConfig, logger: Logger): LoginThrottle {
    if (config.REDIS_URL === undefined) return new LoginThrottle(config, undefined);
    const redis = new Redis(config.REDIS_URL, {
      // Fail fast to the in-memory insurance limiter instead of queueing commands while Redis is down.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectionName: 'groundwork-login-throttle',
    });
    // The message only: the error object can carry the URL, which may hold a password.
    redis.on('error', (error: Error) => logger.warn({ component: 'login-throttle', reason: error.message }, 'Redis error; login counters fall back to memory'));
    return new LoginThrottle(config, redis);
  }

  get usesRedis(): boolean {
    return this.redis !== undefined;
  }

  /** Resolves once Redis is connected (immediately without Redis); for tests and readiness. */
  async ready(): Promise<void> {
    if (!this.redis || this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      this.redis?.once('ready', () => resolve());
      this.redis?.once('end', () => reject(new Error('Redis connection ended')));
    });
  }

  /** Throws TOO_MANY_ATTEMPTS with Retry-After when the IP or the account is locked. */
  async assertAllowed(ip: string, email: string): Promise<void> {
    const [byIp, byAccount] = await Promise.all([this.perIp.get(ip), this.perAccount.get(accountKey(email))]);
    const waits = [
      byIp && byIp.consumedPoints >= this.ipLimit ? byIp.msBeforeNext : 0,
      byAccount && byAccount.consumedPoints >= this.accountLimit ? byAccount.msBeforeNext : 0,
    ];
    const waitMs = Math.max(...waits);
    if (waitMs > 0) {
      throw new AppError('TOO_MANY_ATTEMPTS', { headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) } });
    }
  }

  /** Counts one failed attempt against the IP and the account. */
  async recordFailure(ip: string, email: string): Promise<FailureOutcome> {
    const [byIp, byAccount] = await Promise.all([consume(this.perIp, ip), consume(this.perAccount, accountKey(email))]);
    const lockedOut: FailureOutcome['lockedOut'] = [];
    // Exactly at the limit: this failure is the one that locks; later ones are refused before counting.
    if (byIp.consumedPoints === this.ipLimit) lockedOut.push('ip');
    if (byAccount.consumedPoints === this.accountLimit) lockedOut.push('account');
    return { lockedOut };
  }

  /**
   * Counts one sign-up attempt from `ip` and throws TOO_MANY_ATTEMPTS with Retry-After past the
   * limit. Every attempt counts, successful or not: each one costs an argon2id hash, and accounts
   * created in bulk are the abuse this stops.
   */
  async consumeRegistration(ip: string): Promise<void> {
    try {
      await this.registrationsPerIp.consume(ip);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      throw new AppError('TOO_MANY_ATTEMPTS', { headers: { 'retry-after': String(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000))) } });
    }
  }

  /** Clears the account's failures after a successful login. */
  async recordSuccess(email: string): Promise<void> {
    await this.perAccount.delete(accountKey(email));
  }

  async close(): Promise<void> {
    if (this.redis && this.redis.status !== 'end') await this.redis.quit().catch(() => this.redis?.disconnect());
  }
}

function accountKey(email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('base64url');
}

/** consume() rejects with a RateLimiterRes past the limit; that is a count, not an error. */
async function consume(limiter: RateLimiterAbstract, key: string): Promise<RateLimiterRes> {
  try {
    return await limiter.consume(key);
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) return rejection;
    throw rejection;
  }
}
