import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateAllDown, migrateDown, migrateToLatest } from '../../src/platform/database/migrator.js';
import { migrations } from '../../migrations/index.js';
import { dropTestDatabase } from '../helpers/database.js';
import { createEmptyDatabase } from '../helpers/empty-database.js';
import { endPool, ignoreClosingErrors } from '../helpers/pool.js';

/** A Kysely instance on its own one-connection pool. */
function kyselyFor(url: string, options: pg.PoolConfig = {}): Kysely<unknown> {
  const pool = new pg.Pool({ connectionString: url, max: 1, ...options });
  ignoreClosingErrors(pool);
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
}

const APP_TABLES = ['organizations', 'team_memberships', 'teams', 'user_profiles', 'users'];
const ALL_MIGRATIONS = Object.keys(migrations);

interface IndexRow {
  name: string;
  table: string;
  method: string;
  unique: boolean;
  predicate: string | null;
  definition: string;
}

describe('migrations on a fresh, empty database', () => {
  let databaseUrl: string;
  let pool: pg.Pool;
  let db: Kysely<unknown>;

  beforeAll(async () => {
    databaseUrl = await createEmptyDatabase();
    pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
    db = kyselyFor(databaseUrl);
  });
  afterAll(async () => {
    await db?.destroy();
    if (pool) await endPool(pool);
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  });

  async function publicTables(): Promise<string[]> {
    const { rows } = await pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
    );
    return rows.map((row) => row.table_name);
  }

  async function indexes(): Promise<Map<string, IndexRow>> {
    const { rows } = await pool.query<IndexRow>(`
      SELECT i.relname AS name, t.relname AS "table", am.amname AS method, x.indisunique AS unique,
             pg_get_expr(x.indpred, x.indrelid) AS predicate, pg_get_indexdef(x.indexrelid) AS definition
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_am am ON am.oid = i.relam
        JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE n.nspname = 'public'`);
    return new Map(rows.map((row) => [row.name, row]));
  }

  /** Every relation, constraint and type in the public schema, for before/after comparisons. */
  async function schemaSnapshot(): Promise<string[]> {
    const { rows } = await pool.query<{ item: string }>(`
      SELECT 'rel:' || c.relname || ':' || c.relkind::text AS item FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relname NOT LIKE 'kysely_migration%'
      UNION ALL
      SELECT 'con:' || conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
       WHERE n.nspname = 'public' AND conrelid NOT IN (SELECT oid FROM pg_class WHERE relname LIKE 'kysely_migration%')
      UNION ALL
      SELECT 'type:' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE n.nspname = 'public' AND t.typname NOT LIKE '%kysely_migration%' AND t.typrelid = 0 AND t.typelem = 0
         -- Objects owned by an extension (pg_trgm's gtrgm type) belong to the extension, not to us.
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
      ORDER BY 1`);
    return rows.map((row) => row.item);
  }

  it('starts empty', async () => {
    expect(await publicTables()).toEqual([]);
  });

  it('up applies every migration in order and creates all tables', async () => {
    const before = await schemaSnapshot();
    expect(before).toEqual([]);
    expect(await migrateToLatest(db)).toEqual(ALL_MIGRATIONS);
    const tables = await publicTables();
    for (const table of APP_TABLES) expect(tables).toContain(table);
    expect(tables).toContain('kysely_migration');
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name');
    expect(rows.map((row) => row.name)).toEqual(ALL_MIGRATIONS);
  });

  it('creates the named users indexes with their kinds', async () => {
    const all = await indexes();
    const index = (name: string): IndexRow => {
      const row = all.get(name);
      expect(row, `index ${name}`).toBeDefined();
      expect(row?.table).toBe('users');
      return row as IndexRow;
    };

    const emailLower = index('users_email_lower_key');
    expect(emailLower.unique).toBe(true);
    expect(emailLower.method).toBe('btree');
    expect(emailLower.definition).toMatch(/\(lower\(email\)\)/);

    expect(index('users_created_at_id_idx').definition).toMatch(/btree \(created_at, id\)/);
    expect(index('users_status_created_at_idx').definition).toMatch(/btree \(status, created_at\)/);
    expect(index('users_organization_role_status_idx').definition).toMatch(/btree \(organization_id, role, status\)/);

    const active = index('users_active_created_at_idx');
    expect(active.predicate).toMatch(/status = 'active'/);
    expect(active.definition).toMatch(/btree \(created_at\) WHERE/);

    const metadata = index('users_metadata_gin_idx');
    expect(metadata.method).toBe('gin');
    expect(metadata.definition).toMatch(/\(metadata jsonb_path_ops\)/);

    const trigram = index('users_email_trgm_idx');
    expect(trigram.method).toBe('gin');
    expect(trigram.definition).toMatch(/lower\(email\) gin_trgm_ops/);

    for (const name of ['users_created_at_id_idx', 'users_status_created_at_idx', 'users_organization_role_status_idx', 'users_active_created_at_idx']) {
      expect(all.get(name)?.unique, name).toBe(false);
      expect(all.get(name)?.predicate === null, name).toBe(name !== 'users_active_created_at_idx');
    }
    expect(all.get('team_memberships_user_id_idx')?.table).toBe('team_memberships');
    expect(all.get('team_memberships_pkey')?.unique).toBe(true);
    expect(all.get('organizations_slug_key')?.unique).toBe(true);
  });

  it('the planner can use the trigram index for substring search on email', async () => {
    const client = await pool.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT id FROM users WHERE lower(email) LIKE '%ada%'`);
      expect(rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('users_email_trgm_idx');
    } finally {
      await client.query('RESET enable_seqscan');
      client.release();
    }
  });

  it('rejects emails that differ only in case', async () => {
    await pool.query(`INSERT INTO users (id, email, name) VALUES (gen_random_uuid(), 'Ada@Example.com', 'Ada')`);
    await expect(pool.query(`INSERT INTO users (id, email, name) VALUES (gen_random_uuid(), 'ada@example.COM', 'Ada again')`)).rejects.toMatchObject({
      code: '23505',
      constraint: 'users_email_lower_key',
    });
    await pool.query(`INSERT INTO users (id, email, name) VALUES (gen_random_uuid(), 'grace@example.com', 'Grace')`);
    const { rows } = await pool.query<{ email: string }>('SELECT email FROM users ORDER BY email');
    expect(rows).toEqual([{ email: 'Ada@Example.com' }, { email: 'grace@example.com' }]);
  });

  it('enforces the column checks', async () => {
    await expect(pool.query(`INSERT INTO users (id, email, name, status) VALUES (gen_random_uuid(), 'x@example.com', 'X', 'deleted')`)).rejects.toMatchObject({
      code: '23514',
    });
    await expect(pool.query(`INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), 'Acme', 'Not A Slug')`)).rejects.toMatchObject({
      code: '23514',
    });
  });

  it('up again is a no-op', async () => {
    expect(await migrateToLatest(db)).toEqual([]);
  });

  it('down all the way removes every table it created, leaving the schema as it found it', async () => {
    expect(await migrateAllDown(db)).toEqual([...ALL_MIGRATIONS].reverse());
    const tables = await publicTables();
    for (const table of APP_TABLES) expect(tables).not.toContain(table);
    expect(await schemaSnapshot()).toEqual([]);
    expect((await pool.query('SELECT name FROM kysely_migration')).rows).toEqual([]);
    // Deliberately kept (see the migration's down()): other schemas in the database may use it.
    expect((await pool.query(`SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'`)).rows).toEqual([{ extname: 'pg_trgm' }]);
  });

  it('down with nothing applied reverts nothing', async () => {
    expect(await migrateDown(db)).toEqual([]);
    expect(await migrateAllDown(db)).toEqual([]);
  });

  it('up works again after a full down, on the data-free schema', async () => {
    expect(await migrateToLatest(db)).toEqual(ALL_MIGRATIONS);
    const all = await indexes();
    expect(all.has('users_email_lower_key')).toBe(true);
    expect(all.has('users_email_trgm_idx')).toBe(true);
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    expect(rows[0]?.n).toBe(0);
  });

  it('down one step reverts only the latest migration', async () => {
    expect(await migrateDown(db)).toEqual([ALL_MIGRATIONS.at(-1)]);
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name');
    expect(rows.map((row) => row.name)).toEqual(ALL_MIGRATIONS.slice(0, -1));
  });
});

describe('migration failures', () => {
  let databaseUrl: string;
  let pool: pg.Pool;
  let db: Kysely<unknown>;

  beforeAll(async () => {
    databaseUrl = await createEmptyDatabase();
    pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    db = kyselyFor(databaseUrl);
  });
  afterAll(async () => {
    await db?.destroy();
    if (pool) await endPool(pool);
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  });

  it('names the failing migration and rolls all of its work back', async () => {
    // A table in the way makes the first migration fail half way through.
    await pool.query('CREATE TABLE users (id int)');
    await expect(migrateToLatest(db)).rejects.toThrow(/^Migration 20261128_0001_identity failed: relation "users" already exists$/);
    const { rows } = await pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_migration%' ORDER BY 1`,
    );
    // organizations and teams were created before the failure, and rolled back with it.
    expect(rows).toEqual([{ table_name: 'users' }]);
    expect((await pool.query(`SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'`)).rowCount).toBe(0);
    expect((await pool.query('SELECT name FROM kysely_migration')).rows).toEqual([]);
    await pool.query('DROP TABLE users');
    expect(await migrateToLatest(db)).toEqual(ALL_MIGRATIONS);
  });

  it('says the migrations could not run when the database is unreachable, without naming a migration', async () => {
    const unreachable = new URL(databaseUrl);
    unreachable.port = '1';
    const offline = kyselyFor(unreachable.toString(), { connectionTimeoutMillis: 2_000 });
    try {
      await expect(migrateToLatest(offline)).rejects.toThrow(/^Migrations could not run: .*ECONNREFUSED/);
    } finally {
      await offline.destroy();
    }
  });
});
