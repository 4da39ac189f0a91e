import { sql, type Kysely } from 'kysely';

/** The organization sign-up puts users in; the application finds it by this slug. */
const DEFAULT_ORGANIZATION_ID = '00000000-0000-7000-8000-000000000001';
const DEFAULT_ORGANIZATION_SLUG = 'default';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Bumped by logout-all, password change and admin revocation; access tokens carry the value they
  // were issued under, so raising it invalidates every outstanding access token of the user at once.
  await db.schema
    .alterTable('users')
    .addColumn('token_version', 'integer', (col) => col.notNull().defaultTo(0).check(sql`token_version >= 0`))
    .execute();

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    // One family per login; every rotation stays in it, so reuse of any member revokes them all.
    .addColumn('family_id', 'uuid', (col) => col.notNull())
    .addColumn('parent_id', 'uuid', (col) => col.references('refresh_tokens.id').onDelete('cascade'))
    // SHA-256 of the opaque token; the token itself is never stored.
    .addColumn('token_hash', 'bytea', (col) => col.notNull().unique().check(sql`octet_length(token_hash) = 32`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    // Absolute end of the family (the login session); children inherit it, rotation never extends it.
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    // Sliding end: this token expires when unused for AUTH_REFRESH_TOKEN_IDLE_SECONDS.
    .addColumn('idle_expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('rotated_at', 'timestamptz')
    .addColumn('replaced_by', 'uuid')
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoke_reason', 'text', (col) =>
      col.check(sql`revoke_reason in ('logout', 'logout_all', 'password_changed', 'reuse_detected', 'account_inactive')`),
    )
    .addColumn('user_agent', 'text', (col) => col.check(sql`length(user_agent) <= 512`))
    .addColumn('ip', sql`inet`)
    .addCheckConstraint('refresh_tokens_revocation_check', sql`(revoked_at IS NULL) = (revoke_reason IS NULL)`)
    .execute();
  // Revoking a family and finding its live member; revoking every token of a user.
  await sql`CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id)`.execute(db);
  await sql`CREATE INDEX refresh_tokens_user_id_live_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL`.execute(db);
  // parent_id is a foreign key; the cascade from a deleted parent needs an index to not scan the table.
  await sql`CREATE INDEX refresh_tokens_parent_id_idx ON refresh_tokens (parent_id)`.execute(db);

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('occurred_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    // No foreign key: the trail outlives the user it names.
    .addColumn('actor_id', 'uuid')
    .addColumn('event', 'text', (col) =>
      col.notNull().check(
        sql`event in ('registered', 'login_succeeded', 'login_failed', 'locked_out', 'token_refreshed', 'token_reused', 'logout', 'logout_all', 'password_changed', 'password_rehashed', 'admin_created')`,
      ),
    )
    .addColumn('ip', sql`inet`)
    .addColumn('user_agent', 'text', (col) => col.check(sql`length(user_agent) <= 512`))
    .addColumn('details', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await sql`CREATE INDEX audit_log_actor_occurred_at_idx ON audit_log (actor_id, occurred_at)`.execute(db);
  await sql`CREATE INDEX audit_log_event_occurred_at_idx ON audit_log (event, occurred_at)`.execute(db);

  await sql`INSERT INTO organizations (id, name, slug) VALUES (${DEFAULT_ORGANIZATION_ID}, 'Default', ${DEFAULT_ORGANIZATION_SLUG})
            ON CONFLICT (slug) DO NOTHING`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_log').execute();
  await db.schema.dropTable('refresh_tokens').execute();
  await db.schema.alterTable('users').dropColumn('token_version').execute();
  // Users signed up into the default organization keep existing; their organization_id becomes null.
  await sql`DELETE FROM organizations WHERE id = ${DEFAULT_ORGANIZATION_ID}`.execute(db);
}
