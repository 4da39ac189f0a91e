/**
 * Migration CLI: `npm run migrate` applies every pending migration, `npm run migrate:down` reverts
 * the most recent one. It connects the way the service does (src/platform/database/database.service.ts):
 * DATABASE_URL when set, otherwise the embedded PostgreSQL in DATA_DIR/pg and its `groundwork`
 * database. It prints what it did and exits non-zero on failure:
 * 1 when a migration or the connection fails, 64 on bad usage, 78 on bad configuration.
 */
import 'reflect-metadata';
import { Kysely, PostgresDialect } from 'kysely';
import path from 'node:path';
import pg from 'pg';
import type { AppConfig } from '../src/platform/config/config.schema.js';
import { EXIT_FAILURE, EXIT_USAGE, EXIT_CONFIG, fail, loadConfigOrReport } from './cli.js';
import { EmbeddedPostgres } from '../src/platform/database/embedded-postgres.js';
import { migrateDown, migrateToLatest } from '../src/platform/database/migrator.js';

const USAGE = 'usage: migrate <up|down>   (up: apply all pending migrations; down: revert the latest one)';

type Command = 'up' | 'down';

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}


async function run(command: Command, config: AppConfig): Promise<void> {
  let embedded: EmbeddedPostgres | undefined;
  try {
    let connectionString = config.DATABASE_URL;
    if (connectionString === undefined) {
      const dataDir = path.join(config.DATA_DIR, 'pg');
      embedded = new EmbeddedPostgres({ dataDir });
      await embedded.start();
      await embedded.ensureDatabase('groundwork');
      connectionString = embedded.connectionString('groundwork');
      print(`using embedded PostgreSQL in ${path.resolve(dataDir)}`);
    } else {
      // The URL may hold a password: name only the server and database.
      const url = new URL(connectionString);
      print(`using PostgreSQL at ${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}`);
    }

    const pool = new pg.Pool({ connectionString, max: 1, connectionTimeoutMillis: 10_000, application_name: 'groundwork-migrate' });
    // pool.end() resolves before its clients' sockets are closed, so stopping the embedded server
    // right after can deliver "terminating connection" to a client already being closed. Without a
    // listener that error would crash the process before the server is stopped; it is harmless.
    pool.on('error', () => undefined);
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    try {
      if (command === 'up') {
        const applied = await migrateToLatest(db);
        for (const name of applied) print(`applied ${name}`);
        print(applied.length === 0 ? 'no pending migrations; the database is up to date' : `${applied.length} migration(s) applied`);
      } else {
        const reverted = await migrateDown(db);
        for (const name of reverted) print(`reverted ${name}`);
        print(reverted.length === 0 ? 'no applied migrations; nothing to revert' : `${reverted.length} migration(s) reverted`);
      }
    } finally {
      await db.destroy();
    }
  } finally {
    await embedded?.stop();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if ((command !== 'up' && command !== 'down') || rest.length > 0) {
    fail(USAGE);
    return EXIT_USAGE;
  }

  const config = loadConfigOrReport();
  if (!config) return EXIT_CONFIG;

  try {
    await run(command, config);
    return 0;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    fail(`migrate ${command} failed: ${reason}`);
    return EXIT_FAILURE;
  }
}

// exitCode rather than exit(): stdout and stderr drain before the process ends, and every handle
// (pool, embedded server) has been closed above.
process.exitCode = await main(process.argv.slice(2));
