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
      return await db.transaction().setIsolationLevel(isolation).execute(work);
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
