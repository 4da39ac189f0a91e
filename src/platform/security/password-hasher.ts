import { Algorithm, hash, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import pLimit, { type LimitFunction } from 'p-limit';

/** argon2id cost parameters; the config enforces the OWASP minimum (19456 KiB, t=2, p=1). */
export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/**
 * Passwords are compared as Unicode NFKC, as NIST SP 800-63B asks, so the same password typed on
 * another keyboard or OS (composed vs decomposed accents, full-width digits) still matches.
 */
function normalize(password: string): string {
  return password.normalize('NFKC');
}

/**
 * argon2id password hashing with PHC-format output (algorithm, version and parameters travel in the
 * string), so parameters can be raised and old hashes upgraded at the next successful login.
 * @node-rs/argon2 runs the hash on libuv's thread pool, off the event loop; at most `concurrency`
 * hashes run at once (AUTH_HASH_CONCURRENCY), the others queue here rather than in libuv's pool, where
 * they would hold up file I/O, and rather than on every core, where they would starve other requests.
 */
export class PasswordHasher {
  private dummy: Promise<string> | undefined;
  private readonly limit: LimitFunction;

  constructor(
    readonly params: Argon2Params,
    readonly concurrency = Number.POSITIVE_INFINITY,
  ) {
    this.limit = pLimit(concurrency);
  }

  /** Hashes waiting for their turn; exposed so load and metrics can see the queue. */
  get pending(): number {
    return this.limit.pendingCount;
  }

  /** A PHC string for `password` at the configured parameters, with a fresh 16-byte salt. */
  hash(password: string): Promise<string> {
    const input = normalize(password);
    return this.limit(() => hash(input, { algorithm: Algorithm.Argon2id, ...this.params, outputLen: 32 }));
  }

  /** Whether `password` matches `phc`. A malformed or foreign hash is a mismatch, not an error. */
  async verify(phc: string, password: string): Promise<boolean> {
    if (!PHC.test(phc)) return false;
    try {
      const input = normalize(password);
      return await this.limit(() => verify(phc, input));
    } catch {
      return false;
    }
  }

  /**
   * Spends the same time as verifying a real hash, for an account that does not exist (or has no
   * password), so response time does not reveal which emails are registered. Always false.
   */
  async verifyDummy(password: string): Promise<false> {
    this.dummy ??= this.hash(randomBytes(32).toString('base64url'));
    await this.verify(await this.dummy, password);
    return false;
  }

  /** True when `phc` was made with other or weaker parameters than the configured ones. */
  needsRehash(phc: string): boolean {
    const match = PHC.exec(phc);
    if (!match) return true;
    const [, m, t, p] = match.map(Number);
    return m !== this.params.memoryCost || t !== this.params.timeCost || p !== this.params.parallelism;
  }
}
