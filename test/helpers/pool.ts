import type pg from 'pg';

/**
 * Ends a pg pool and waits until its connections are really closed.
 *
 * pool.end() resolves as soon as its clients are told to end, before their sockets close. Dropping
 * the database WITH (FORCE) or stopping the server in that gap terminates those connections, and the
 * pool re-emits the error; with no listener that is an uncaught exception in the test run.
 */
export async function endPool(pool: pg.Pool): Promise<void> {
  pool.on('error', () => undefined);
  let open = pool.totalCount;
  const closed =
    open === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          pool.on('remove', () => {
            open -= 1;
            if (open === 0) resolve();
          });
        });
  await pool.end();
  await closed;
}

/**
 * For pools this file does not own (the harness's t.sql): a connection still closing when the
 * database is dropped must not become an uncaught exception.
 */
export function ignoreClosingErrors(pool: pg.Pool): void {
  pool.on('error', () => undefined);
}
