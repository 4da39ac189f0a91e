import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<unknown>: they describe the schema at their point in history and must not
// depend on today's Database type.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Substring search on email uses a trigram index; pg_trgm is a trusted extension (PostgreSQL 13+).
  await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);

  await db.schema
    .createTable('organizations')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull().check(sql`length(name) between 1 and 200`))
    .addColumn('slug', 'text', (col) => col.notNull().unique().check(sql`slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('teams')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('organization_id', 'uuid', (col) => col.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('teams_organization_id_name_key', ['organization_id', 'name'])
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('organization_id', 'uuid', (col) => col.references('organizations.id').onDelete('set null'))
    .addColumn('email', 'text', (col) => col.notNull().check(sql`length(email) <= 254`))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`length(name) between 1 and 200`))
    .addColumn('password_hash', 'text')
    .addColumn('status', 'text', (col) =>
      col.notNull().defaultTo('pending').check(sql`status in ('pending', 'active', 'inactive', 'suspended')`),
    )
    .addColumn('role', 'text', (col) => col.notNull().defaultTo('user').check(sql`role in ('user', 'moderator', 'admin')`))
    .addColumn('metadata', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('email_verified_at', 'timestamptz')
    .addColumn('first_login_at', 'timestamptz')
    .addColumn('last_login_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  // Emails are unique regardless of case; lookups use lower(email) to hit this index.
  await sql`CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))`.execute(db);
  // Keyset pagination orders by (created_at, id); the same index serves plain created_at ranges.
  await sql`CREATE INDEX users_created_at_id_idx ON users (created_at, id)`.execute(db);
  // The other allow-listed sorts get the same (column, id) shape, so every keyset page is an index
  // range scan instead of a sort of all matching rows.
  await sql`CREATE INDEX users_updated_at_id_idx ON users (updated_at, id)`.execute(db);
  await sql`CREATE INDEX users_email_id_idx ON users (email, id)`.execute(db);
  await sql`CREATE INDEX users_name_id_idx ON users (name, id)`.execute(db);
  await sql`CREATE INDEX users_status_created_at_idx ON users (status, created_at)`.execute(db);
  await sql`CREATE INDEX users_organization_role_status_idx ON users (organization_id, role, status)`.execute(db);
  await sql`CREATE INDEX users_active_created_at_idx ON users (created_at) WHERE status = 'active'`.execute(db);
  await sql`CREATE INDEX users_metadata_gin_idx ON users USING gin (metadata jsonb_path_ops)`.execute(db);
  await sql`CREATE INDEX users_email_trgm_idx ON users USING gin (lower(email) gin_trgm_ops)`.execute(db);

  await db.schema
    .createTable('user_profiles')
    .addColumn('user_id', 'uuid', (col) => col.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('display_name', 'text', (col) => col.check(sql`length(display_name) <= 200`))
    .addColumn('bio', 'text', (col) => col.check(sql`length(bio) <= 2000`))
    .addColumn('avatar_url', 'text', (col) => col.check(sql`length(avatar_url) <= 2048`))
    .addColumn('locale', 'text', (col) => col.check(sql`length(locale) <= 35`))
    .addColumn('timezone', 'text', (col) => col.check(sql`length(timezone) <= 64`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('team_memberships')
    .addColumn('team_id', 'uuid', (col) => col.notNull().references('teams.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (col) => col.notNull().defaultTo('member').check(sql`role in ('member', 'maintainer', 'owner')`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('team_memberships_pkey', ['team_id', 'user_id'])
    .execute();
  // The primary key serves "members of a team"; this serves "teams of a user".
  await sql`CREATE INDEX team_memberships_user_id_idx ON team_memberships (user_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('team_memberships').execute();
  await db.schema.dropTable('user_profiles').execute();
  await db.schema.dropTable('users').execute();
  await db.schema.dropTable('teams').execute();
  await db.schema.dropTable('organizations').execute();
  // pg_trgm is left installed: other schemas in the database may use it.
}
