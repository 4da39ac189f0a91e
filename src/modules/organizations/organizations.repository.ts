import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import type { DbExecutor } from '../../platform/database/database.service.js';
import type { OrganizationRow } from '../../platform/database/database.types.js';

export interface OrganizationStatsRow {
  total_users: number;
  active_users: number;
  inactive_users: number;
  pending_users: number;
  suspended_users: number;
  new_users_30d: number;
  avg_seconds_to_first_login: number | null;
}

@Injectable()
export class OrganizationsRepository {
  findById(db: DbExecutor, id: string): Promise<OrganizationRow | undefined> {
    return db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findIdBySlug(db: DbExecutor, slug: string): Promise<string | undefined> {
    const row = await db.selectFrom('organizations').select('id').where('slug', '=', slug).executeTakeFirst();
    return row?.id;
  }

  /** Returns undefined when the slug is taken. */
  insert(db: DbExecutor, row: { id: string; name: string; slug: string }): Promise<OrganizationRow | undefined> {
    return db
      .insertInto('organizations')
      .values(row)
      .onConflict((oc) => oc.column('slug').doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  async existingIds(db: DbExecutor, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await db.selectFrom('organizations').select('id').where('id', 'in', ids).execute();
    return new Set(rows.map((row) => row.id));
  }

  /**
   * The guideline's aggregation, as raw SQL: one pass over the organization's users using
   * COUNT ... FILTER, served by users_organization_role_status_idx.
   */
  async stats(db: DbExecutor, organizationId: string): Promise<OrganizationStatsRow> {
    const result = await sql<OrganizationStatsRow>`
      SELECT
        count(*)::int                                                        AS total_users,
        count(*) FILTER (WHERE status = 'active')::int                       AS active_users,
        count(*) FILTER (WHERE status = 'inactive')::int                     AS inactive_users,
        count(*) FILTER (WHERE status = 'pending')::int                      AS pending_users,
        count(*) FILTER (WHERE status = 'suspended')::int                    AS suspended_users,
        count(*) FILTER (WHERE created_at > now() - interval '30 days')::int AS new_users_30d,
        avg(extract(epoch FROM (first_login_at - created_at)))::float8      AS avg_seconds_to_first_login
      FROM users
      WHERE organization_id = ${organizationId}
    `.execute(db);
    const row = result.rows[0];
    if (!row) throw new Error('aggregate query returned no row');
    return row;
  }
}
