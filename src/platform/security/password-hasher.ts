import { Algorithm } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Argon2Task } from './argon2.worker.js';

/** The hashing threads' module: compiled JavaScript in the build, the TypeScript source under the tests (Node strips the types). */
const WORKER = new URL(`./argon2.worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;

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
 * Hashes run on `concurrency` dedicated threads (AUTH_HASH_CONCURRENCY, a piscina pool), never on the
 * event loop, never on libuv's pool (where they would hold up file I/O), and never on more cores
 * than allowed (where they would starve other requests). Each thread is handed its next task while
 * it still works on the current one, so it starts the next hash the moment it finishes, without
 * waiting for the busy event loop to hand it over: that hand-over cost a fifth of login throughput
 * (ADR 0016).
 */
export class PasswordHasher {
  private dummy: Promise<string> | undefined;
  private readonly pool: Piscina<Argon2Task, string | boolean>;

  constructor(
    readonly params: Argon2Params,
    readonly concurrency = availableParallelism(),
  ) {
    this.pool = new Piscina({ filename: WORKER, minThreads: concurrency, maxThreads: concurrency, concurrentTasksPerWorker: 2, idleTimeout: Number.POSITIVE_INFINITY });
  }

  /** The hashing threads. */
  get threads(): number {
    return this.pool.threads.length;
  }

  /** Hashes waiting for their turn; exposed so load and metrics can see the queue. */
  get pending(): number {
    return this.pool.queueSize;
  }

  /** Nest calls this at shutdown (the provider is this instance): the hashing threads end with the app. */
  async onApplicationShutdown(): Promise<void> {
    await this.pool.destroy();
  }

  /** A PHC string for `password` at the configured parameters, with a fresh 16-byte salt. */
  hash(password: string): Promise<string> {
    const input = normalize(password);
    return this.pool.run({ op: 'hash', password: input, options: { algorithm: Algorithm.Argon2id, ...this.params, outputLen: 32 } }) as Promise<string>;
  }

  /** Whether `password` matches `phc`. A malformed or foreign hash is a mismatch, not an error. */
  async verify(phc: string, password: string): Promise<boolean> {
    if (!PHC.test(phc)) return false;
    try {
      const input = normalize(password);
      return (await this.pool.run({ op: 'verify', phc, password: input })) === true;
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
