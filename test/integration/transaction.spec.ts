import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseService } from '../../src/platform/database/database.service.js';
import type { Database } from '../../src/platform/database/database.types.js';
import { runInTransaction, type RetryObserver } from '../../src/platform/database/transaction.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, dropTestDatabase } from '../helpers/database.js';
import { ignoreClosingErrors } from '../helpers/pool.js';

/** Resolves once `parties` callers have arrived; lets concurrent transactions overlap deterministically. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return () => {
    arrived += 1;
    if (arrived === parties) release();
    return all;
  };
}

/** Records retries the way DatabaseService's metrics do. */
function recordingObserver(): RetryObserver & { retries: string[]; exhausted: string[] } {
  const retries: string[] = [];
  const exhausted: string[] = [];
  return {
    retries,
    exhausted,
    onRetry: (isolation, sqlstate) => retries.push(`${isolation}:${sqlstate}`),
    onExhausted: (isolation) => exhausted.push(isolation),
  };
}

class SqlStateError extends Error {
  constructor(readonly code: string) {
    super(`simulated ${code}`);
  }
}

async function counterValue(trx: Transaction<Database>, id: number): Promise<number> {
  const result = await sql<{ value: number }>`SELECT value FROM tx_counters WHERE id = ${id}`.execute(trx);
  return result.rows[0]?.value ?? Number.NaN;
}

describe('runInTransaction against real PostgreSQL', () => {
  let databaseUrl: string;
  let pool: pg.Pool;
  let db: Kysely<Database>;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
    ignoreClosingErrors(pool);
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    await sql`CREATE TABLE tx_counters (id int PRIMARY KEY, value int NOT NULL)`.execute(db);
    await sql`CREATE TABLE tx_on_call (doctor text PRIMARY KEY, on_call boolean NOT NULL)`.execute(db);
    await sql`CREATE TABLE tx_log (id serial PRIMARY KEY, attempt int NOT NULL)`.execute(db);
  });
  afterAll(async () => {
    await db?.destroy();
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  });
  beforeEach(async () => {
    await sql`TRUNCATE tx_counters, tx_on_call, tx_log`.execute(db);
  });

  it('re-runs the loser of a lost-update race (40001) so both increments land', async () => {
    await sql`INSERT INTO tx_counters (id, value) VALUES (1, 0)`.execute(db);
    const bothRead = barrier(2);
    const attempts = { a: 0, b: 0 };
    const observer = recordingObserver();
    const increment = (name: 'a' | 'b') =>
      runInTransaction(
        db,
        async (trx) => {
          attempts[name] += 1;
          const value = await counterValue(trx, 1);
          // First attempts read the same value before either writes: a classic lost update.
          if (attempts[name] === 1) await bothRead();
          await sql`UPDATE tx_counters SET value = ${value + 1} WHERE id = 1`.execute(trx);
          return value + 1;
        },
        { isolation: 'serializable' },
        observer,
      );

    const results = await Promise.all([increment('a'), increment('b')]);
    expect(results.sort()).toEqual([1, 2]);
    expect((await sql<{ value: number }>`SELECT value FROM tx_counters WHERE id = 1`.execute(db)).rows[0]?.value).toBe(2);
    // Exactly one of them lost the race and ran a second time.
    expect([attempts.a, attempts.b].sort()).toEqual([1, 2]);
    expect(observer.retries).toEqual(['serializable:40001']);
    expect(observer.exhausted).toEqual([]);
  });

  it('re-runs after SSI write skew (40001 from predicate locks), leaving the invariant intact', async () => {
    // Invariant: at least one doctor stays on call. Each transaction checks it, then takes a
    // different doctor off call; without SERIALIZABLE both would succeed and nobody is on call.
    await sql`INSERT INTO tx_on_call (doctor, on_call) VALUES ('alice', true), ('bob', true)`.execute(db);
    const bothChecked = barrier(2);
    const attempts: Record<string, number> = { alice: 0, bob: 0 };
    const observer = recordingObserver();
    const goOffCall = (doctor: string) =>
      runInTransaction(
        db,
        async (trx) => {
          attempts[doctor] = (attempts[doctor] ?? 0) + 1;
          const onCall = await sql<{ n: number }>`SELECT count(*)::int AS n FROM tx_on_call WHERE on_call`.execute(trx);
          if (attempts[doctor] === 1) await bothChecked();
          if ((onCall.rows[0]?.n ?? 0) < 2) return 'refused';
          await sql`UPDATE tx_on_call SET on_call = false WHERE doctor = ${doctor}`.execute(trx);
          return 'off call';
        },
        { isolation: 'serializable' },
        observer,
      );

    const outcomes = await Promise.all([goOffCall('alice'), goOffCall('bob')]);
    expect(outcomes.sort()).toEqual(['off call', 'refused']);
    const onCall = await sql<{ doctor: string }>`SELECT doctor FROM tx_on_call WHERE on_call`.execute(db);
    expect(onCall.rows).toHaveLength(1);
    expect(observer.retries).toEqual(['serializable:40001']);
  });

  it('re-runs the victim of a real deadlock (40P01)', async () => {
    await sql`INSERT INTO tx_counters (id, value) VALUES (1, 0), (2, 0)`.execute(db);
    const bothLockedFirst = barrier(2);
    const attempts = { forward: 0, backward: 0 };
    const observer = recordingObserver();
    const lockBoth = (name: 'forward' | 'backward', first: number, second: number) =>
      runInTransaction(
        db,
        async (trx) => {
          attempts[name] += 1;
          await sql`UPDATE tx_counters SET value = value + 1 WHERE id = ${first}`.execute(trx);
          if (attempts[name] === 1) await bothLockedFirst();
          await sql`UPDATE tx_counters SET value = value + 1 WHERE id = ${second}`.execute(trx);
        },
        { isolation: 'read committed' },
        observer,
      );

    await Promise.all([lockBoth('forward', 1, 2), lockBoth('backward', 2, 1)]);
    const rows = await sql<{ id: number; value: number }>`SELECT id, value FROM tx_counters ORDER BY id`.execute(db);
    // Both transactions committed once: each row was incremented by both.
    expect(rows.rows).toEqual([
      { id: 1, value: 2 },
      { id: 2, value: 2 },
    ]);
    expect([attempts.forward, attempts.backward].sort()).toEqual([1, 2]);
    expect(observer.retries).toEqual(['read committed:40P01']);
  });

  it('rolls back each failed attempt before re-running it', async () => {
    let attempt = 0;
    const result = await runInTransaction(db, async (trx) => {
      attempt += 1;
      await sql`INSERT INTO tx_log (attempt) VALUES (${attempt})`.execute(trx);
      if (attempt < 3) throw new SqlStateError('40001');
      return attempt;
    });
    expect(result).toBe(3);
    const rows = await sql<{ attempt: number }>`SELECT attempt FROM tx_log`.execute(db);
    expect(rows.rows).toEqual([{ attempt: 3 }]);
  });

  it('bounds the attempts: a function that always hits 40001 runs exactly maxAttempts times', async () => {
    const observer = recordingObserver();
    let attempts = 0;
    const failure = new SqlStateError('40001');
    const started = performance.now();
    await expect(
      runInTransaction(
        db,
        async (trx) => {
          attempts += 1;
          await sql`INSERT INTO tx_log (attempt) VALUES (${attempts})`.execute(trx);
          throw failure;
        },
        { isolation: 'serializable', maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
        observer,
      ),
    ).rejects.toBe(failure);
    expect(attempts).toBe(4);
    expect(observer.retries).toEqual(['serializable:40001', 'serializable:40001', 'serializable:40001']);
    expect(observer.exhausted).toEqual(['serializable']);
    // Backoff is capped by maxDelayMs per wait (3 waits of at most 20 ms, plus the queries).
    expect(performance.now() - started).toBeLessThan(2_000);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM tx_log`.execute(db)).rows[0]?.n).toBe(0);
  });

  it('defaults to 5 attempts', async () => {
    let attempts = 0;
    await expect(
      runInTransaction(
        db,
        () => {
          attempts += 1;
          return Promise.reject(new SqlStateError('40P01'));
        },
        { baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ code: '40P01' });
    expect(attempts).toBe(5);
  });

  it.each([
    ['a plain error', () => new Error('business rule broken')],
    ['a unique violation (23505)', () => new SqlStateError('23505')],
    ['a statement timeout (57014)', () => new SqlStateError('57014')],
    ['a non-string code', () => Object.assign(new Error('numeric code'), { code: 40001 })],
  ])('does not retry %s', async (_name, makeError) => {
    const observer = recordingObserver();
    let attempts = 0;
    const failure = makeError();
    await expect(
      runInTransaction(
        db,
        async (trx) => {
          attempts += 1;
          await sql`INSERT INTO tx_log (attempt) VALUES (${attempts})`.execute(trx);
          throw failure;
        },
        { isolation: 'serializable' },
        observer,
      ),
    ).rejects.toBe(failure);
    expect(attempts).toBe(1);
    expect(observer.retries).toEqual([]);
    expect(observer.exhausted).toEqual([]);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM tx_log`.execute(db)).rows[0]?.n).toBe(0);
  });

  it('does not retry a real constraint violation raised by PostgreSQL', async () => {
    await sql`INSERT INTO tx_counters (id, value) VALUES (1, 0)`.execute(db);
    let attempts = 0;
    await expect(
      runInTransaction(db, async (trx) => {
        attempts += 1;
        await sql`INSERT INTO tx_counters (id, value) VALUES (1, 1)`.execute(trx);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(attempts).toBe(1);
  });

  it('runs at the requested isolation level', async () => {
    const level = await runInTransaction(db, async (trx) => (await sql<{ level: string }>`SELECT current_setting('transaction_isolation') AS level`.execute(trx)).rows[0]?.level, {
      isolation: 'serializable',
    });
    expect(level).toBe('serializable');
    const defaultLevel = await runInTransaction(db, async (trx) => (await sql<{ level: string }>`SELECT current_setting('transaction_isolation') AS level`.execute(trx)).rows[0]?.level);
    expect(defaultLevel).toBe('read committed');
  });
});

/** The value of one labelled sample in a Prometheus text exposition (labels in any order). */
function sampleValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('DatabaseService.transaction metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    ignoreClosingErrors(t.sql);
    await t.sql.query('CREATE TABLE tx_counters (id int PRIMARY KEY, value int NOT NULL)');
    await t.sql.query('INSERT INTO tx_counters (id, value) VALUES (1, 0)');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function metricsText(): Promise<string> {
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    return res.body;
  }

  it('counts a real serialization retry in db_transaction_retries_total', async () => {
    const database = t.app.get(DatabaseService);
    const before = sampleValue(await metricsText(), 'db_transaction_retries_total', { isolation: 'serializable', sqlstate: '40001' }) ?? 0;
    const bothRead = barrier(2);
    let attempts = 0;
    const increment = () => {
      let mine = 0;
      return database.transaction(
        async (trx) => {
          mine += 1;
          attempts += 1;
          const value = await counterValue(trx, 1);
          if (mine === 1) await bothRead();
          await sql`UPDATE tx_counters SET value = ${value + 1} WHERE id = 1`.execute(trx);
        },
        { isolation: 'serializable' },
      );
    };
    await Promise.all([increment(), increment()]);
    expect(attempts).toBe(3);
    expect((await t.sql.query<{ value: number }>('SELECT value FROM tx_counters WHERE id = 1')).rows[0]?.value).toBe(2);

    const text = await metricsText();
    expect(sampleValue(text, 'db_transaction_retries_total', { isolation: 'serializable', sqlstate: '40001', service: 'groundwork' })).toBe(before + 1);
    expect(sampleValue(text, 'db_transaction_retry_exhausted_total', { isolation: 'serializable' }) ?? 0).toBe(0);
  });

  it('counts exhausted retries in db_transaction_retry_exhausted_total', async () => {
    const database = t.app.get(DatabaseService);
    await expect(
      database.transaction(
        () => Promise.reject(new SqlStateError('40001')),
        { isolation: 'repeatable read', maxAttempts: 3, baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ code: '40001' });
    const text = await metricsText();
    expect(sampleValue(text, 'db_transaction_retries_total', { isolation: 'repeatable read', sqlstate: '40001' })).toBe(2);
    expect(sampleValue(text, 'db_transaction_retry_exhausted_total', { isolation: 'repeatable read' })).toBe(1);
  });
});
