import type { CompiledQuery, Kysely, Transaction } from 'kysely';
import type pg from 'pg';
import type { Database } from './database.types.js';

/** The pool or a transaction; same as database.service.ts's DbExecutor, which imports this file. */
type DbExecutor = Kysely<Database> | Transaction<Database>;

/** The pool behind each pool-bound Kysely instance (not its transactions), see registerPool. */
const pools = new WeakMap<DbExecutor, pg.Pool>();

/** Lets executeCompiled run statements given `db` straight on `pool`. */
export function registerPool(db: Kysely<Database>, pool: pg.Pool): void {
  pools.set(db, pool);
}

/**
 * Runs a compiled statement and returns its rows. On a pool-bound Kysely instance registered with
 * registerPool, it is one pool.query call, which checks a client out, runs the statement and puts
 * the client back through callbacks. Kysely's executeQuery does the same through a chain of async
 * layers (connection provider, runtime driver, pool.connect() promise, connection wrapper, result
 * plugins); on the hottest read (GET /users/:id) that chain measured ~14 µs of CPU per request
 * under load. A transaction, or an unregistered instance (tests, the bench's SQL capture), goes
 * through Kysely as before, so statements in a transaction keep its connection.
 */
export async function executeCompiled<R>(db: DbExecutor, query: CompiledQuery<R>): Promise<R[]> {
  const pool = pools.get(db);
  if (pool === undefined) return (await db.executeQuery(query)).rows;
  // pg types rows as any; the statement's result type is the compiled query's.
  const result: pg.QueryResult = await pool.query(query.sql, [...query.parameters]);
  return result.rows as R[];
}
