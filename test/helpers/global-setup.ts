import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgres } from '../../src/platform/database/embedded-postgres.js';
import { migrateToLatest } from '../../src/platform/database/migrator.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of a maintenance database on the test server. */
    adminUrl: string;
    /** A migrated database each test file clones with CREATE DATABASE ... TEMPLATE. */
    templateDatabase: string;
    /** Prefix of the databases this run creates, so teardown can drop them all. */
    databasePrefix: string;
  }
}

let embedded: EmbeddedPostgres | undefined;

/** Replaces the database name in a connection string. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function adminQuery(adminUrl: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * Migrates one template database per run. Each test file then clones it (test/helpers/database.ts),
 * which takes milliseconds and isolates files from each other. Uses DATABASE_URL's server when set,
 * otherwise an embedded PostgreSQL in a fresh folder.
 */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The runner's Node version, printed so CI logs show the pinned runtime is the one in use.
  console.log(`[test] Node ${process.version}; database: ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL'}`);
  let adminUrl: string;
  // Under the system temp folder: when tests run as root the server runs as the postgres user,
  // which must be able to reach the folder (a checkout under /root would not be reachable).
  const embeddedDir = path.join(tmpdir(), `groundwork-test-pg-${process.pid}`);
  if (process.env.DATABASE_URL) {
    adminUrl = process.env.DATABASE_URL;
  } else {
    embedded = new EmbeddedPostgres({ dataDir: embeddedDir });
    await embedded.start();
    adminUrl = embedded.connectionString('postgres');
  }

  const prefix = `gw_test_${process.pid}_`;
  const template = `${prefix}template`;
  await adminQuery(adminUrl, [`DROP DATABASE IF EXISTS ${template}`, `CREATE DATABASE ${template}`]);
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: withDatabase(adminUrl, template), max: 1 }) }),
  });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }

  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', template);
  project.provide('databasePrefix', prefix);

  return async () => {
    if (embedded) {
      await embedded.stop();
      await rm(embeddedDir, { recursive: true, force: true });
      return;
    }
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix}%`]);
      for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  };
}
