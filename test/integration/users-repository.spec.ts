import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/database/database.types.js';
import { UsersRepository } from '../../src/modules/users/users.repository.js';
import { createTestDatabase, dropTestDatabase } from '../helpers/database.js';

/**
 * The tricky queries of UsersRepository, checked twice: the SQL and parameters Kysely compiles
 * (what a reviewer reads), and the plan PostgreSQL picks for them (that an index serves them).
 */
describe('UsersRepository SQL', () => {
  let url: string;
  let db: Kysely<Database>;
  const repository = new UsersRepository();

  beforeAll(async () => {
    url = await createTestDatabase();
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
  });
  afterAll(async () => {
    await db?.destroy();
    if (url) await dropTestDatabase(url);
  });

  /**
   * The plan PostgreSQL picks with sequential scans discouraged, so it shows which index can serve
   * the query on a tiny table. The statement is prepared and explained with literal arguments.
   */
  async function planOf(query: { sql: string; parameters: readonly unknown[] }): Promise<string> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      await client.query(`PREPARE q AS ${query.sql}`);
      const args = query.parameters.map((p) => client.escapeLiteral(p instanceof Date ? p.toISOString() : String(p)));
      const result = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE q(${args.join(', ')})`);
      return result.rows.map((row) => row['QUERY PLAN']).join('\n');
    } finally {
      await client.end();
    }
  }

  it('keyset page compiles to a row comparison on (sort column, id) with bound values', () => {
    const after = { value: new Date('2026-01-01T00:00:00Z'), id: '01900000-0000-7000-8000-000000000000' };
    const compiled = repository
      .findAfterQuery(db, { status: 'active' }, { column: 'createdAt', direction: 'desc' }, after, 20)
      .compile();
    expect(compiled.sql).toContain('("users"."created_at", "users"."id") < ($');
    expect(compiled.sql).toMatch(/order by "users"\."created_at" desc, "users"\."id" desc limit \$\d+$/);
    expect(compiled.sql).not.toContain('2026-01-01');
    expect(compiled.parameters).toEqual(expect.arrayContaining(['active', after.value, after.id, 21]));
  });

  it('keyset page on createdAt is served by users_created_at_id_idx', async () => {
    const query = repository
      .findAfterQuery(db, {}, { column: 'createdAt', direction: 'asc' }, { value: new Date('2026-01-01T00:00:00Z'), id: '01900000-0000-7000-8000-000000000000' }, 20)
      .compile();
    expect(await planOf(query)).toContain('users_created_at_id_idx');
  });

  it('email substring search escapes LIKE wildcards and is served by the trigram index', async () => {
    const query = repository.findAfterQuery(db, { emailContains: 'a_b%' }, { column: 'createdAt', direction: 'asc' }, undefined, 20).compile();
    expect(query.parameters).toContain('%a\\_b\\%%');
    expect(await planOf(query)).toContain('users_email_trgm_idx');
  });

  it('filter by organization and role is served by users_organization_role_status_idx', async () => {
    const query = repository
      .findAfterQuery(
        db,
        { organizationId: '01900000-0000-7000-8000-000000000001', role: 'admin' },
        { column: 'createdAt', direction: 'asc' },
        undefined,
        20,
      )
      .compile();
    expect(await planOf(query)).toContain('users_organization_role_status_idx');
  });
});
