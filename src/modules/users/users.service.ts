import { Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { DatabaseService, type DbExecutor } from '../../platform/database/database.service.js';
import { sqlstateOf } from '../../platform/database/transaction.js';
import { decodeCursor, encodeCursor, PAGE_SIZE } from '../../platform/database/pagination.js';
import type { NewUserRow, UserRole, UserStatus, UserUpdate } from '../../platform/database/database.types.js';
import { AppError } from '../../platform/errors/app-error.js';
import { errorCodes } from '../../platform/errors/error-codes.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import type {
  BatchCreateResultDto,
  BatchItemResultDto,
  CreateUserDto,
  ListUsersQueryDto,
  UpdateUserDto,
  UserDto,
  UserPageDto,
  UserProfileInput,
} from './users.dto.js';
import {
  UsersRepository,
  type ProfileFields,
  type SortColumn,
  type SortedUserRecord,
  type UserCredentialsRecord,
  type UserFilter,
  type UserRecord,
} from './users.repository.js';

/** A user as authentication sees it, password hash included; never returned to a client. */
export interface UserCredentials {
  id: string;
  email: string;
  name: string;
  status: UserStatus;
  role: UserRole;
  organizationId: string | null;
  passwordHash: string | null;
  tokenVersion: number;
}

function toCredentials(row: UserCredentialsRecord): UserCredentials {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    status: row.status,
    role: row.role,
    organizationId: row.organization_id,
    passwordHash: row.password_hash,
    tokenVersion: row.token_version,
  };
}

/** A new user with a password, as sign-up and the admin bootstrap create it. */
export interface NewUserWithPassword {
  email: string;
  name: string;
  passwordHash: string;
  organizationId: string;
  role: UserRole;
}

function toUserDto(row: UserRecord): UserDto {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    status: row.status,
    role: row.role,
    organizationId: row.organization_id,
    metadata: row.metadata,
    emailVerifiedAt: row.email_verified_at?.toISOString() ?? null,
    lastLoginAt: row.last_login_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    profile: row.has_profile
      ? {
          displayName: row.display_name,
          bio: row.bio,
          avatarUrl: row.avatar_url,
          locale: row.locale,
          timezone: row.timezone,
        }
      : null,
  };
}

function profileFields(profile: UserProfileInput | undefined): ProfileFields | undefined {
  if (!profile) return undefined;
  const fields: ProfileFields = {};
  if (profile.displayName !== undefined) fields.display_name = profile.displayName;
  if (profile.bio !== undefined) fields.bio = profile.bio;
  if (profile.avatarUrl !== undefined) fields.avatar_url = profile.avatarUrl;
  if (profile.locale !== undefined) fields.locale = profile.locale;
  if (profile.timezone !== undefined) fields.timezone = profile.timezone;
  return fields;
}

function parseSort(sort: string | undefined): { field: SortColumn; direction: 'asc' | 'desc' } {
  const value = sort ?? '-createdAt';
  const descending = value.startsWith('-');
  return { field: (descending ? value.slice(1) : value) as SortColumn, direction: descending ? 'desc' : 'asc' };
}

// A cursor's timestamp as the repository's sort_key writes it; three digits from older cursors.
const CURSOR_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(\d{3})?Z$/;

/**
 * The sort value a cursor names, checked so a tampered cursor is a 400 rather than a PostgreSQL
 * error: text cannot hold NUL, and Date accepts days PostgreSQL refuses (it rolls 2021-02-30
 * over to March, and knows a year 0). The value goes to SQL as text, keeping its microseconds.
 */
function cursorValue(field: SortColumn, value: string): string {
  if (value.includes('\u0000')) throw new AppError('INVALID_CURSOR');
  if (field !== 'createdAt' && field !== 'updatedAt') return value;
  const date = new Date(value);
  const real =
    CURSOR_TIMESTAMP.test(value) &&
    !Number.isNaN(date.getTime()) &&
    date.getUTCFullYear() >= 1 &&
    date.toISOString().slice(0, 19) === value.slice(0, 19);
  if (!real) throw new AppError('INVALID_CURSOR');
  return value;
}

/**
 * A createdFrom/createdTo bound. IsISO8601 also admits forms Date cannot read (week dates such as
 * 2026-W05-1, ordinal dates); an Invalid Date must not reach the query.
 */
function instant(field: 'createdFrom' | 'createdTo', value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw AppError.validation([{ field, message: `${field} must be a valid ISO 8601 date string` }]);
  }
  return date;
}

const duplicateEmail = (): AppError =>
  new AppError('DUPLICATE_EMAIL', { details: [{ field: 'email', message: 'email is already registered' }] });
const unknownOrganization = (): AppError =>
  new AppError('ORGANIZATION_NOT_FOUND', { details: [{ field: 'organizationId', message: 'organization does not exist' }] });

@Injectable()
export class UsersService {
  constructor(
    private readonly database: DatabaseService,
    private readonly users: UsersRepository,
    private readonly organizations: OrganizationsService,
  ) {}

  async list(query: ListUsersQueryDto): Promise<UserPageDto> {
    const keysetMode = query.cursor !== undefined;
    if (keysetMode && query.page !== undefined) {
      throw AppError.validation([{ field: 'page', message: 'page cannot be combined with cursor' }]);
    }
    const limit = query.limit ?? PAGE_SIZE.default;
    const sort = parseSort(query.sort);
    const filter: UserFilter = {
      ...(query.status && { status: query.status }),
      ...(query.role && { role: query.role }),
      ...(query.organizationId && { organizationId: query.organizationId }),
      ...(query.email && { emailContains: query.email }),
      ...(query.createdFrom && { createdFrom: instant('createdFrom', query.createdFrom) }),
      ...(query.createdTo && { createdTo: instant('createdTo', query.createdTo) }),
    };
    const sortSpec = { column: sort.field, direction: sort.direction };

    let rows: SortedUserRecord[];
    let offsetMeta: { total: number; page: number } | undefined;
    if (keysetMode) {
      const position = query.cursor ? decodeCursor(query.cursor, sort.field, sort.direction) : undefined;
      const after = position ? { value: cursorValue(sort.field, position.value), id: position.id } : undefined;
      rows = await this.users.findAfter(this.database.db, filter, sortSpec, after, limit);
    } else {
      const page = query.page ?? 1;
      const result = await this.users.findPage(this.database.db, filter, sortSpec, { offset: (page - 1) * limit, limit });
      rows = result.rows;
      offsetMeta = { total: result.total, page };
    }

    const hasNext = rows.length > limit;
    const pageRows = hasNext ? rows.slice(0, limit) : rows;
    const last = pageRows.at(-1);
    const nextCursor =
      hasNext && last
        ? encodeCursor({ sort: sort.field, direction: sort.direction, value: last.sort_key, id: last.id })
        : null;
    return {
      data: pageRows.map(toUserDto),
      meta: { limit, hasNext, nextCursor, ...offsetMeta },
    };
  }

  async findById(id: string): Promise<UserDto> {
    const row = await this.users.findById(this.database.db, id);
    if (!row) throw new AppError('USER_NOT_FOUND');
    return toUserDto(row);
  }

  async create(input: CreateUserDto): Promise<UserDto> {
    if (input.organizationId) await this.assertOrganizationExists(input.organizationId);
    const id = uuidv7();
    return this.withReferenceErrors(() =>
      this.database.transaction(async (trx) => {
        const inserted = await this.users.insert(trx, this.newUserRow(id, input));
        if (!inserted) throw duplicateEmail();
        const profile = profileFields(input.profile);
        if (profile) await this.users.upsertProfile(trx, id, profile);
        return this.readBack(trx, id);
      }),
    );
  }

  async update(id: string, input: UpdateUserDto): Promise<UserDto> {
    if (input.organizationId) await this.assertOrganizationExists(input.organizationId);
    return this.withReferenceErrors(() =>
      this.database.transaction(async (trx) => {
        if (!(await this.users.lockById(trx, id))) throw new AppError('USER_NOT_FOUND');
        if (input.email !== undefined && (await this.users.emailTakenByOther(trx, input.email, id))) throw duplicateEmail();
        const changes: UserUpdate = {};
        if (input.email !== undefined) changes.email = input.email.trim();
        if (input.name !== undefined) changes.name = input.name;
        if (input.organizationId !== undefined) changes.organization_id = input.organizationId;
        if (input.role !== undefined) changes.role = input.role;
        if (input.status !== undefined) changes.status = input.status;
        if (input.metadata !== undefined) changes.metadata = JSON.stringify(input.metadata);
        await this.users.update(trx, id, changes);
        const profile = profileFields(input.profile);
        if (profile && Object.keys(profile).length > 0) await this.users.upsertProfile(trx, id, profile);
        return this.readBack(trx, id);
      }),
    );
  }

  async delete(id: string): Promise<void> {
    const deleted = await this.users.delete(this.database.db, id);
    if (!deleted) throw new AppError('USER_NOT_FOUND');
  }

  /**
   * Creates every valid item of a batch in one transaction and one INSERT; items whose email is
   * taken (before or earlier in the same batch) or whose organization does not exist fail alone.
   * `items` holds, per request index, either the validated input or the validation error.
   */
  async batchCreate(items: Array<{ input: CreateUserDto } | { error: AppError }>): Promise<BatchCreateResultDto> {
    const candidates = items.flatMap((item, index) => ('input' in item ? [{ index, input: item.input, id: uuidv7() }] : []));
    const knownOrganizations = await this.organizations.existingIds([
      ...new Set(candidates.flatMap((c) => (c.input.organizationId ? [c.input.organizationId] : []))),
    ]);
    const insertable = candidates.filter((c) => !c.input.organizationId || knownOrganizations.has(c.input.organizationId));

    const { inserted, rows } = await this.withReferenceErrors(() =>
      this.database.transaction(async (trx) => {
        const insertedIds = await this.users.insertMany(
          trx,
          insertable.map((c) => this.newUserRow(c.id, c.input)),
        );
        await this.users.insertProfiles(
          trx,
          insertable.flatMap((c) => {
            const profile = profileFields(c.input.profile);
            return profile && insertedIds.has(c.id) ? [{ user_id: c.id, ...profile }] : [];
          }),
        );
        const created = await this.users.findByIds(trx, [...insertedIds]);
        return { inserted: insertedIds, rows: new Map(created.map((row) => [row.id, toUserDto(row)])) };
      }),
    );

    const byIndex = new Map(candidates.map((c) => [c.index, c]));
    const results: BatchItemResultDto[] = items.map((item, index) => {
      if ('error' in item) return this.batchError(index, item.error);
      const candidate = byIndex.get(index);
      if (!candidate) return this.batchError(index, new AppError('INTERNAL'));
      if (candidate.input.organizationId && !knownOrganizations.has(candidate.input.organizationId)) {
        return this.batchError(index, unknownOrganization());
      }
      const row = inserted.has(candidate.id) ? rows.get(candidate.id) : undefined;
      return row ? { index, status: 201, data: row } : this.batchError(index, duplicateEmail());
    });
    const succeeded = results.filter((r) => r.status === 201).length;
    return { results, summary: { total: items.length, succeeded, failed: items.length - succeeded } };
  }

  // --- For authentication (modules/auth). Methods that take `db` join the caller's transaction. ---

  async findCredentialsByEmail(email: string): Promise<UserCredentials | undefined> {
    const row = await this.users.findCredentialsByEmail(this.database.db, email);
    return row && toCredentials(row);
  }

  async findCredentialsById(id: string, db: DbExecutor = this.database.db): Promise<UserCredentials | undefined> {
    const row = await this.users.findCredentialsById(db, id);
    return row && toCredentials(row);
  }

  /** Creates an active user with a password; DUPLICATE_EMAIL when the email is taken. */
  async createWithPassword(input: NewUserWithPassword, db: DbExecutor = this.database.db): Promise<UserDto> {
    const id = uuidv7();
    const inserted = await this.withReferenceErrors(() =>
      this.users.insert(db, {
        id,
        email: input.email.trim(),
        name: input.name,
        organization_id: input.organizationId,
        password_hash: input.passwordHash,
        role: input.role,
        status: 'active',
        metadata: JSON.stringify({}),
      }),
    );
    if (!inserted) throw duplicateEmail();
    return this.readBack(db, id);
  }

  /** Makes an existing user an active admin of `organizationId`, optionally with a new password. */
  async promoteToAdmin(id: string, organizationId: string, passwordHash: string | undefined, db: DbExecutor = this.database.db): Promise<UserDto> {
    await this.users.update(db, id, { role: 'admin', status: 'active', organization_id: organizationId });
    // A new password also ends every session that used the old one.
    if (passwordHash !== undefined) await this.users.setPasswordHash(db, id, passwordHash, true);
    return this.readBack(db, id);
  }

  /**
   * Stores a new password hash. `revokeTokens` (a password change) also bumps the token version so
   * every access token issued before stops working; a rehash at login does not.
   */
  async setPasswordHash(id: string, passwordHash: string, revokeTokens: boolean, db: DbExecutor = this.database.db): Promise<void> {
    await this.users.setPasswordHash(db, id, passwordHash, revokeTokens);
  }

  /** Invalidates every access token of the user (logout everywhere). */
  async revokeAccessTokens(id: string, db: DbExecutor = this.database.db): Promise<void> {
    await this.users.bumpTokenVersion(db, id);
  }

  async recordLogin(id: string, db: DbExecutor = this.database.db): Promise<void> {
    await this.users.recordLogin(db, id);
  }

  private batchError(index: number, error: AppError): BatchItemResultDto {
    return {
      index,
      status: errorCodes[error.code].httpStatus,
      error: { code: error.code, message: error.message, ...(error.details !== undefined && { details: error.details }) },
    };
  }

  private newUserRow(id: string, input: CreateUserDto): NewUserRow {
    return {
      id,
      email: input.email.trim(),
      name: input.name,
      organization_id: input.organizationId ?? null,
      ...(input.role && { role: input.role }),
      ...(input.status && { status: input.status }),
      metadata: JSON.stringify(input.metadata ?? {}),
    };
  }

  private async readBack(db: DbExecutor, id: string): Promise<UserDto> {
    const row = await this.users.findById(db, id);
    if (!row) throw new AppError('USER_NOT_FOUND');
    return toUserDto(row);
  }

  private async assertOrganizationExists(id: string): Promise<void> {
    const existing = await this.organizations.existingIds([id]);
    if (!existing.has(id)) throw unknownOrganization();
  }

  /** Constraint races the pre-checks cannot rule out become the same errors the checks give. */
  private async withReferenceErrors<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const sqlstate = sqlstateOf(error);
      if (sqlstate === '23505') throw duplicateEmail();
      if (sqlstate === '23503') throw unknownOrganization();
      throw error;
    }
  }
}
