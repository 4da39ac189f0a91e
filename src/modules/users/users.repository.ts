import { Injectable } from '@nestjs/common';
import { sql, type CompiledQuery, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { DbExecutor } from '../../platform/database/database.service.js';
import { executeCompiled } from '../../platform/database/pool-query.js';
import type {
  Database,
  NewUserRow,
  UserProfileRow,
  UserRole,
  UserStatus,
  UserUpdate,
} from '../../platform/database/database.types.js';

type UsersExpressions = ExpressionBuilder<Database, 'users'>;

/** Stands for a value bound at execution time in queries compiled once. */
const BOUND_LATER = '00000000-0000-0000-0000-000000000000';

/** Columns a client may see. password_hash is never selected for reads. */
const PUBLIC_USER_COLUMNS = [
  'users.id',
  'users.organization_id',
  'users.email',
  'users.name',
  'users.status',
  'users.role',
  'users.metadata',
  'users.email_verified_at',
  'users.last_login_at',
  'users.created_at',
  'users.updated_at',
] as const;

type UnqualifiedUserColumn = (typeof PUBLIC_USER_COLUMNS)[number] extends `users.${infer Column}` ? Column : never;

/** PUBLIC_USER_COLUMNS without the table name, for an UPDATE's RETURNING. */
const RETURNED_USER_COLUMNS = PUBLIC_USER_COLUMNS.map((column) => column.slice('users.'.length) as UnqualifiedUserColumn);

const PROFILE_COLUMNS = [
  'user_profiles.display_name',
  'user_profiles.bio',
  'user_profiles.avatar_url',
  'user_profiles.locale',
  'user_profiles.timezone',
] as const;

/** Column behind each allow-listed sort field. */
export const SORT_COLUMNS = {
  createdAt: 'users.created_at',
  updatedAt: 'users.updated_at',
  email: 'users.email',
  name: 'users.name',
} as const;
export type SortColumn = keyof typeof SORT_COLUMNS;

/**
 * The sort value of a row as text, for the cursor after it. Timestamps are formatted by PostgreSQL
 * with all six fractional digits: a JavaScript Date keeps only milliseconds, and a cursor rounded
 * to them repeats or skips rows whose timestamps differ below the millisecond.
 */
function sortKey(column: SortColumn) {
  const ref = sql.ref(SORT_COLUMNS[column]);
  if (column === 'createdAt' || column === 'updatedAt') {
    return sql<string>`to_char(${ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('sort_key');
  }
  return sql<string>`${ref}`.as('sort_key');
}

export interface UserFilter {
  status?: UserStatus;
  role?: UserRole;
  organizationId?: string;
  emailContains?: string;
  createdFrom?: Date;
  createdTo?: Date;
}

export interface UserRecord {
  id: string;
  organization_id: string | null;
  email: string;
  name: string;
  status: UserStatus;
  role: UserRole;
  metadata: Record<string, unknown>;
  email_verified_at: Date | null;
  last_login_at: Date | null;
  created_at: Date;
  updated_at: Date;
  display_name: string | null;
  bio: string | null;
  avatar_url: string | null;
  locale: string | null;
  timezone: string | null;
  has_profile: boolean;
}

/** What authentication needs about a user; the only read that selects password_hash. */
export interface UserCredentialsRecord {
  id: string;
  email: string;
  name: string;
  status: UserStatus;
  role: UserRole;
  organization_id: string | null;
  password_hash: string | null;
  token_version: number;
}

/** A row of a sorted page, with its sort value as the cursor after it must carry it. */
export interface SortedUserRecord extends UserRecord {
  sort_key: string;
}

export type ProfileFields = Partial<Pick<UserProfileRow, 'display_name' | 'bio' | 'avatar_url' | 'locale' | 'timezone'>>;

/** `%` and `_` in a search term are literal characters, not wildcards. */
function likeContains(term: string): string {
  return `%${term.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

function filterExpression(eb: UsersExpressions, filter: UserFilter): Expression<SqlBool> {
  const conditions: Expression<SqlBool>[] = [];
  if (filter.status) conditions.push(eb('users.status', '=', filter.status));
  if (filter.role) conditions.push(eb('users.role', '=', filter.role));
  if (filter.organizationId) conditions.push(eb('users.organization_id', '=', filter.organizationId));
  // lower(email) LIKE matches the trigram index users_email_trgm_idx.
  if (filter.emailContains) conditions.push(eb(sql`lower(users.email)`, 'like', likeContains(filter.emailContains.toLowerCase())));
  if (filter.createdFrom) conditions.push(eb('users.created_at', '>=', filter.createdFrom));
  if (filter.createdTo) conditions.push(eb('users.created_at', '<', filter.createdTo));
  return eb.and(conditions);
}

/**
 * SQL for users and their profiles. Every method takes the executor (pool or transaction)
 * explicitly, so the service decides what runs in which transaction.
 */
@Injectable()
export class UsersRepository {
  private selectUsers(db: DbExecutor) {
    return db
      .selectFrom('users')
      .leftJoin('user_profiles', 'user_profiles.user_id', 'users.id')
      .select([...PUBLIC_USER_COLUMNS, ...PROFILE_COLUMNS])
      .select(sql<boolean>`user_profiles.user_id IS NOT NULL`.as('has_profile'));
  }

  /**
   * The by-id read is the hottest query, so it is built and compiled once and then executed with
   * only the id bound; Kysely would otherwise rebuild and recompile the same SQL on every call.
   * Outside a transaction it runs straight on the pool (see executeCompiled).
   */
  private findByIdCompiled: CompiledQuery<UserRecord> | undefined;

  async findById(db: DbExecutor, id: string): Promise<UserRecord | undefined> {
    if (!this.findByIdCompiled) {
      const compiled = this.selectUsers(db).where('users.id', '=', BOUND_LATER).compile();
      if (compiled.parameters.length !== 1) throw new Error('findById must bind exactly the id');
      this.findByIdCompiled = compiled;
    }
    const rows = await executeCompiled<UserRecord>(db, { ...this.findByIdCompiled, parameters: [id] });
    return rows[0];
  }

  async findByIds(db: DbExecutor, ids: readonly string[]): Promise<UserRecord[]> {
    if (ids.length === 0) return [];
    return this.selectUsers(db).where('users.id', 'in', ids).execute();
  }

  /** Offset page; `total` counts every row matching the filter. */
  async findPage(
    db: DbExecutor,
    filter: UserFilter,
    sort: { column: SortColumn; direction: 'asc' | 'desc' },
    page: { offset: number; limit: number },
  ): Promise<{ rows: SortedUserRecord[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.selectUsers(db)
        .select(sortKey(sort.column))
        .where((eb) => filterExpression(eb, filter))
        .orderBy(SORT_COLUMNS[sort.column], sort.direction)
        .orderBy('users.id', sort.direction)
        .offset(page.offset)
        .limit(page.limit + 1)
        .execute(),
      db
        .selectFrom('users')
        .select(sql<number>`count(*)::int`.as('total'))
        .where((eb) => filterExpression(eb, filter))
        .executeTakeFirstOrThrow(),
    ]);
    return { rows, total: count.total };
  }

  /**
   * Keyset page after `after` (exclusive), ordered by (sort column, id). Reads `limit + 1` rows so
   * the caller knows whether another page exists without counting. A timestamp `after.value` given
   * as text (a sort_key) keeps its microseconds; PostgreSQL reads it as the column's type.
   */
  findAfter(
    db: DbExecutor,
    filter: UserFilter,
    sort: { column: SortColumn; direction: 'asc' | 'desc' },
    after: { value: string | Date; id: string } | undefined,
    limit: number,
  ): Promise<SortedUserRecord[]> {
    return this.findAfterQuery(db, filter, sort, after, limit).execute();
  }

  /** The query behind findAfter, exposed so tests can assert its SQL and plan. */
  findAfterQuery(
    db: DbExecutor,
    filter: UserFilter,
    sort: { column: SortColumn; direction: 'asc' | 'desc' },
    after: { value: string | Date; id: string } | undefined,
    limit: number,
  ) {
    const column = SORT_COLUMNS[sort.column];
    let query = this.selectUsers(db)
      .select(sortKey(sort.column))
      .where((eb) => filterExpression(eb, filter));
    if (after) {
      const comparison = sort.direction === 'asc' ? '>' : '<';
      query = query.where((eb) => eb(eb.refTuple(column, 'users.id'), comparison, eb.tuple(after.value, after.id)));
    }
    return query.orderBy(column, sort.direction).orderBy('users.id', sort.direction).limit(limit + 1);
  }

  /** Inserts a user; returns undefined when the email is taken (case-insensitively). */
  async insert(db: DbExecutor, row: NewUserRow): Promise<{ id: string } | undefined> {
    return db
      .insertInto('users')
      .values(row)
      .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
      .returning('id')
      .executeTakeFirst();
  }

  /** Inserts many users in one statement; returns the ids that were inserted (taken emails are skipped). */
  async insertMany(db: DbExecutor, rows: NewUserRow[]): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    const inserted = await db
      .insertInto('users')
      .values(rows)
      .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
      .returning('id')
      .execute();
    return new Set(inserted.map((row) => row.id));
  }

  async upsertProfile(db: DbExecutor, userId: string, fields: ProfileFields): Promise<void> {
    await db
      .insertInto('user_profiles')
      .values({ user_id: userId, ...fields })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ ...fields, updated_at: sql`now()` }))
      .execute();
  }

  async insertProfiles(db: DbExecutor, profiles: Array<ProfileFields & { user_id: string }>): Promise<void> {
    if (profiles.length === 0) return;
    await db.insertInto('user_profiles').values(profiles).execute();
  }

  /**
   * Locks the row for the rest of the transaction and returns what an access decision needs;
   * undefined when it does not exist. Deciding on the locked row means a concurrent move to
   * another organization cannot slip between the check and the write.
   */
  async lockById(db: DbExecutor, id: string): Promise<{ id: string; organization_id: string | null; email: string } | undefined> {
    return db.selectFrom('users').select(['id', 'organization_id', 'email']).where('id', '=', id).forUpdate().executeTakeFirst();
  }

  /** The id behind an email, case-insensitively (users_email_lower_key); what the by-email cache stores. */
  async findIdByEmail(db: DbExecutor, email: string): Promise<string | undefined> {
    const row = await db.selectFrom('users').select('id').where(sql`lower(email)`, '=', email.trim().toLowerCase()).executeTakeFirst();
    return row?.id;
  }

  async emailTakenByOther(db: DbExecutor, email: string, id: string): Promise<boolean> {
    const row = await db
      .selectFrom('users')
      .select('id')
      .where(sql`lower(email)`, '=', email.toLowerCase())
      .where('id', '<>', id)
      .executeTakeFirst();
    return row !== undefined;
  }

  async update(db: DbExecutor, id: string, changes: UserUpdate): Promise<void> {
    await db
      .updateTable('users')
      .set({ ...changes, updated_at: sql`now()` })
      .where('id', '=', id)
      .execute();
  }

  /** Looks the email up case-insensitively (users_email_lower_key). */
  findCredentialsByEmail(db: DbExecutor, email: string): Promise<UserCredentialsRecord | undefined> {
    return this.selectCredentials(db).where(sql`lower(email)`, '=', email.trim().toLowerCase()).executeTakeFirst();
  }

  /**
   * Authentication reads the credentials by id on every authenticated request, so like findById
   * the statement is compiled once and run with only the id bound (on the pool, outside a
   * transaction).
   */
  private findCredentialsByIdCompiled: CompiledQuery<UserCredentialsRecord> | undefined;

  async findCredentialsById(db: DbExecutor, id: string): Promise<UserCredentialsRecord | undefined> {
    if (!this.findCredentialsByIdCompiled) {
      const compiled = this.selectCredentials(db).where('id', '=', BOUND_LATER).compile();
      if (compiled.parameters.length !== 1) throw new Error('findCredentialsById must bind exactly the id');
      this.findCredentialsByIdCompiled = compiled;
    }
    const rows = await executeCompiled<UserCredentialsRecord>(db, { ...this.findCredentialsByIdCompiled, parameters: [id] });
    return rows[0];
  }

  private selectCredentials(db: DbExecutor) {
    return db
      .selectFrom('users')
      .select(['id', 'email', 'name', 'status', 'role', 'organization_id', 'password_hash', 'token_version']);
  }

  /** Sets the hash; with `revokeTokens` also bumps token_version, which invalidates every access token. */
  async setPasswordHash(db: DbExecutor, id: string, passwordHash: string, revokeTokens: boolean): Promise<void> {
    await db
      .updateTable('users')
      .set({
        password_hash: passwordHash,
        ...(revokeTokens && { token_version: sql<number>`token_version + 1` }),
        updated_at: sql`now()`,
      })
      .where('id', '=', id)
      .execute();
  }

  async bumpTokenVersion(db: DbExecutor, id: string): Promise<void> {
    await db
      .updateTable('users')
      .set({ token_version: sql<number>`token_version + 1`, updated_at: sql`now()` })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Stamps a successful login and returns the user as findById reads it, in one statement: the
   * update's RETURNING carries the new values (a later read in the same statement would still see
   * the old row), joined to the unchanged profile. The CTE is named `users` so the outer query reads
   * it with the same qualified columns as findById; inside the CTE, `users` is still the table.
   */
  async recordLogin(db: DbExecutor, id: string): Promise<UserRecord | undefined> {
    return db
      .with('users', (qb) =>
        qb
          .updateTable('users')
          .set({ last_login_at: sql`now()`, first_login_at: sql`coalesce(first_login_at, now())` })
          .where('id', '=', id)
          .returning(RETURNED_USER_COLUMNS),
      )
      .selectFrom('users')
      .leftJoin('user_profiles', 'user_profiles.user_id', 'users.id')
      .select([...PUBLIC_USER_COLUMNS, ...PROFILE_COLUMNS])
      .select(sql<boolean>`user_profiles.user_id IS NOT NULL`.as('has_profile'))
      .executeTakeFirst();
  }

  /** Returns whether a row was deleted. Profiles and memberships go with it (ON DELETE CASCADE). */
  async delete(db: DbExecutor, id: string): Promise<boolean> {
    const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
