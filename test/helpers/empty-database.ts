import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { withDatabase } from './global-setup.js';

/**
 * Creates an empty database (no migrations applied) on the test server and returns its URL, for
 * tests of the migrations themselves. Its name carries the run's prefix, so the global teardown
 * drops it even when a test forgets to; dropTestDatabase() drops it explicitly.
 */
export async function createEmptyDatabase(): Promise<string> {
  const adminUrl = inject('adminUrl');
  const name = `${inject('databasePrefix')}empty_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    // template0: nothing the server's template1 may have gained (extensions, tables) leaks in.
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE template0`);
  } finally {
    await client.end();
  }
  return withDatabase(adminUrl, name);
}
