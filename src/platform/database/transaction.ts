import { setTimeout as sleep } from 'node:timers/promises';
import type { IsolationLevel, Kysely, Transaction } from 'kysely';
import type { Database } from './database.types.js';

/** SQLSTATEs after which re-running the whole transaction is safe and likely to succeed. */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

export interface TransactionOptions {
  isolation?: IsolationLevel;
  /** Total attempts including the first; bounded so a hot row cannot spin a request forever. */
  maxAttempts?: number;
  /** Base delay of the jittered exponential backoff between attempts. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface RetryObserver {
  onRetry(isolation: IsolationLevel, sqlstate: string): void;
  onExhausted(isolation: IsolationLevel): void;
}

/** Work to run once a transaction has committed, registered by afterCommit(), per attempt. */
const afterCommitHooks = new WeakMap<object, Array<() => Promise<void>>>();

/**
 * Runs `hook` once the transaction `db` belongs to has committed, or at once when `db` is not a
 * transaction (the statement already committed). A rolled-back attempt drops its hooks. For side
 * effects that must not be seen before the data is, such as cache invalidation: done before the
 * commit, a concurrent read could cache the old row again.
 */
export async function afterCommit(db: Kysely<Database> | Transaction<Database>, hook: () => Promise<void>): Promise<void> {
  const hooks = afterCommitHooks.get(db);
  if (hooks) {
    hooks.push(hook);
    return;
  }
  // A transaction not opened by runInTransaction has no commit we could wait for.
  if (db.isTransaction) throw new Error('afterCommit needs a transaction from runInTransaction (DatabaseService.transaction)');
  await hook();
}

export function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Runs `work` in a transaction at the given isolation level. On a serialization failure or a
 * deadlock the whole function is re-run (its earlier attempt was rolled back), with full-jitter
 * exponential backoff, up to `maxAttempts` times. `work` must therefore have no side effects outside
 * the transaction.
 */
export async function runInTransaction<T>(
  db: Kysely<Database>,
  work: (trx: Transaction<Database>) => Promise<T>,
  options: TransactionOptions = {},
  observer?: RetryObserver,
): Promise<T> {
  const isolation = options.isolation ?? 'read committed';
  const maxAttempts = options.maxAttempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 10;
  const maxDelayMs = options.maxDelayMs ?? 500;

  for (let attempt = 1; ; attempt++) {
    try {
      const hooks: Array<() => Promise<void>> = [];
      const result = await db
        .transaction()
        .setIsolationLevel(isolation)
        .execute((trx) => {
          afterCommitHooks.set(trx, hooks);
          return work(trx);
        });
      for (const hook of hooks) await hook();
      return result;
    } catch (error) {
      const sqlstate = sqlstateOf(error);
      if (sqlstate === undefined || !RETRYABLE_SQLSTATES.has(sqlstate)) throw error;
      if (attempt >= maxAttempts) {
        observer?.onExhausted(isolation);
        throw error;
      }
      observer?.onRetry(isolation, sqlstate);
      const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      await sleep(Math.random() * ceiling);
    }
  }
}
