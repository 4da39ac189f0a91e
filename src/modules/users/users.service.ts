import { Injectable } from '@nestjs/common';
import type { Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { DatabaseService, type DbExecutor } from '../../platform/database/database.service.js';
import { sqlstateOf } from '../../platform/database/transaction.js';
import { decodeCursor, encodeCursor, PAGE_SIZE } from '../../platform/database/pagination.js';
import type { Database, NewUserRow, UserRole, UserStatus, UserUpdate } from '../../platform/database/database.types.js';
import { AppError } from '../../platform/errors/app-error.js';
import { errorCodes } from '../../platform/errors/error-codes.js';
import { EventWriter } from '../../platform/events/event-writer.js';
import { MailService } from '../../platform/mail/mail.service.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { ResourceAccessService } from '../access/access.service.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import { UsersCache } from './users.cache.js';
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
import { userCreated, userDeleted, userUpdated } from './users.events.js';
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

/** What a users export selects; `organizationId` undefined means every organization (platform admins). */
export interface UserExportFilter {
  organizationId?: string | null;
  status?: UserStatus;
  role?: UserRole;
  email?: string;
}

/** Position after the last exported row. */
export interface UserExportCursor {
  value: string;
  id: string;
}

function toUserFilter(filter: UserExportFilter): UserFilter {
  return {
    // A caller without an organization exports nobody: an id no row has.
    ...(filter.organizationId !== undefined && { organizationId: filter.organizationId ?? '00000000-0000-0000-0000-000000000000' }),
    ...(filter.status && { status: filter.status }),
    ...(filter.role && { role: filter.role }),
    ...(filter.email && { emailContains: filter.email }),
  };
}

const userNotFound = (): AppError => new AppError('USER_NOT_FOUND');
const forbidden = (): AppError => new AppError('FORBIDDEN');

/** Fields only an administrator of the user's organization may write: they change what the user may do. */
const PRIVILEGED_FIELDS = ['role', 'status', 'organizationId'] as const;

const duplicateEmail = (): AppError =>
  new AppError('DUPLICATE_EMAIL', { details: [{ field: 'email', message: 'email is already registered' }] });
const unknownOrganization = (): AppError =>
  new AppError('ORGANIZATION_NOT_FOUND', { details: [{ field: 'organizationId', message: 'organization does not exist' }] });

/**
 * The users API. Every public method takes the caller first and decides access before it reads or
 * writes on the caller's behalf (docs/guidelines/authorization.md): users live in one organization
 * (tenant) and see only it, users of other organizations do not exist for them (USER_NOT_FOUND),
 * a user may read and update itself, and `role`, `status` and `organizationId` are written only by
 * holders of `users:manage-roles`, within their organization unless they are platform admins.
 */
@Injectable()
export class UsersService {
  constructor(
    private readonly database: DatabaseService,
    private readonly users: UsersRepository,
    private readonly organizations: OrganizationsService,
    private readonly access: ResourceAccessService,
    private readonly usersCache: UsersCache,
    private readonly events: EventWriter,
    private readonly mail: MailService,
  ) {}

  /** The welcome email, queued in the transaction that creates the user: no user, no email. */
  private async enqueueWelcome(db: DbExecutor, user: { id: string; email: string; name: string }): Promise<void> {
    await this.mail.enqueue({ key: `welcome:${user.id}`, to: user.email, template: 'welcome', data: { name: user.name } }, db);
  }

  /** Users of the caller's organization (every organization for platform admins), filtered and paginated. */
  async list(caller: Principal, query: ListUsersQueryDto): Promise<UserPageDto> {
    if (!this.access.holds(caller, 'users:read')) throw forbidden();
    // Another tenant's filter is not an error (that would confirm the organization exists); it
    // simply matches nothing, like an unknown organization id does.
    const scope = this.access.tenantScope(caller);
    const outsideScope = scope !== undefined && (scope === null || (query.organizationId !== undefined && query.organizationId !== scope));
    const organizationId = scope ?? query.organizationId;
    const keysetMode = query.cursor !== undefined;
    if (keysetMode && query.page !== undefined) {
      throw AppError.validation([{ field: 'page', message: 'page cannot be combined with cursor' }]);
    }
    const limit = query.limit ?? PAGE_SIZE.default;
    const sort = parseSort(query.sort);
    const filter: UserFilter = {
      ...(query.status && { status: query.status }),
      ...(query.role && { role: query.role }),
      ...(organizationId && { organizationId }),
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
      rows = outsideScope ? [] : await this.users.findAfter(this.database.db, filter, sortSpec, after, limit);
    } else {
      const page = query.page ?? 1;
      const result = outsideScope
        ? { rows: [], total: 0 }
        : await this.users.findPage(this.database.db, filter, sortSpec, { offset: (page - 1) * limit, limit });
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

  /** One user: itself, or one of its organization with `users:read`; another tenant's is USER_NOT_FOUND. */
  async findOne(caller: Principal, id: string): Promise<UserDto> {
    // The tenant of the target decides, so it is read first; nothing is returned before the decision.
    const user = await this.cachedUser(id);
    if (!user) throw userNotFound();
    await this.access.assert(caller, { type: 'user', organizationId: user.organizationId, ownerId: user.id }, 'read', userNotFound);
    return user;
  }

  /** The user with this email (case-insensitive), under findOne's rules; needs `users:read`. */
  async findByEmail(caller: Principal, email: string): Promise<UserDto> {
    if (!this.access.holds(caller, 'users:read')) throw forbidden();
    const wanted = email.trim().toLowerCase();
    const id = await this.usersCache.idByEmail(wanted, () => this.users.findIdByEmail(this.database.db, wanted));
    let user = id === undefined ? undefined : await this.cachedUser(id);
    if (user && user.email.toLowerCase() !== wanted) {
      // The index trails an email change only if an invalidation was lost; the user's own entry is
      // authoritative, so the index entry goes and the database answers.
      await this.usersCache.invalidateAfterCommit(this.database.db, { ids: [], emails: [wanted] });
      const freshId = await this.users.findIdByEmail(this.database.db, wanted);
      user = freshId === undefined ? undefined : await this.cachedUser(freshId);
    }
    if (!user) throw userNotFound();
    await this.access.assert(caller, { type: 'user', organizationId: user.organizationId, ownerId: user.id }, 'read', userNotFound);
    return user;
  }

  /** Creates a user in the caller's organization (platform admins: any, or none when omitted). */
  async create(caller: Principal, input: CreateUserDto): Promise<UserDto> {
    if (!this.access.holds(caller, 'users:create')) throw forbidden();
    const decided = this.placeNewUser(caller, input);
    if (decided instanceof AppError) throw decided;
    if (decided.organizationId) await this.assertOrganizationExists(decided.organizationId);
    const id = uuidv7();
    return this.withReferenceErrors(() =>
      this.database.transaction(async (trx) => {
        const inserted = await this.users.insert(trx, this.newUserRow(id, decided));
        if (!inserted) throw duplicateEmail();
        // The email may be cached as "not found".
        await this.usersCache.invalidateAfterCommit(trx, { ids: [id], emails: [decided.email] });
        const profile = profileFields(input.profile);
        if (profile) await this.users.upsertProfile(trx, id, profile);
        const user = await this.readBack(trx, id);
        await this.events.append(trx, userCreated(user));
        await this.enqueueWelcome(trx, user);
        return user;
      }),
    );
  }

  /**
   * Updates a user: itself (`users:update:own`) or one of its organization (`users:update`).
   * Privileged fields are refused before anything is read, so a 403 says nothing about the target.
   */
  async update(caller: Principal, id: string, input: UpdateUserDto): Promise<UserDto> {
    this.assertMayWritePrivileged(caller, input);
    if (input.organizationId) await this.assertOrganizationExists(input.organizationId);
    return this.withReferenceErrors(() =>
      this.database.transaction(async (trx) => {
        const target = await this.users.lockById(trx, id);
        if (!target) throw userNotFound();
        await this.access.assert(caller, { type: 'user', organizationId: target.organization_id, ownerId: target.id }, 'update', userNotFound);
        if (input.email !== undefined && (await this.users.emailTakenByOther(trx, input.email, id))) throw duplicateEmail();
        const changes: UserUpdate = {};
        if (input.email !== undefined) changes.email = input.email.trim();
        if (input.name !== undefined) changes.name = input.name;
        if (input.organizationId !== undefined) changes.organization_id = input.organizationId;
        if (input.role !== undefined) changes.role = input.role;
        if (input.status !== undefined) changes.status = input.status;
        if (input.metadata !== undefined) changes.metadata = JSON.stringify(input.metadata);
        await this.users.update(trx, id, changes);
        await this.usersCache.invalidateAfterCommit(trx, { ids: [id], emails: input.email === undefined ? [] : [target.email, input.email] });
        const profile = profileFields(input.profile);
        if (profile && Object.keys(profile).length > 0) await this.users.upsertProfile(trx, id, profile);
        const user = await this.readBack(trx, id);
        await this.events.append(trx, userUpdated(user, Object.keys(input).filter((key) => input[key as keyof UpdateUserDto] !== undefined)));
        return user;
      }),
    );
  }

  /** Deletes a user of the caller's organization (`users:delete`). */
  async delete(caller: Principal, id: string): Promise<void> {
    if (!this.access.holds(caller, 'users:delete')) throw forbidden();
    await this.database.transaction(async (trx) => {
      const target = await this.users.lockById(trx, id);
      if (!target) throw userNotFound();
      await this.access.assert(caller, { type: 'user', organizationId: target.organization_id, ownerId: target.id }, 'delete', userNotFound);
      if (!(await this.users.delete(trx, id))) throw userNotFound();
      await this.usersCache.invalidateAfterCommit(trx, { ids: [id], emails: [target.email] });
      await this.events.append(trx, userDeleted(id, target.organization_id));
    });
  }

  /**
   * Creates every valid item of a batch in one transaction and one INSERT; items whose email is
   * taken (before or earlier in the same batch) or whose organization does not exist fail alone.
   * `items` holds, per request index, either the validated input or the validation error.
   */
  async batchCreate(caller: Principal, items: Array<{ input: CreateUserDto } | { error: AppError }>): Promise<BatchCreateResultDto> {
    if (!this.access.holds(caller, 'users:create')) throw forbidden();
    // Each item is placed like a single create; an item the caller may not create fails alone.
    const placed = items.map((item) => {
      if ('error' in item) return item;
      const decided = this.placeNewUser(caller, item.input);
      return decided instanceof AppError ? { error: decided } : { input: decided };
    });
    const candidates = placed.flatMap((item, index) => ('input' in item ? [{ index, input: item.input, id: uuidv7() }] : []));
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
        const created = (await this.users.findByIds(trx, [...insertedIds])).map(toUserDto);
        await this.usersCache.invalidateAfterCommit(trx, { ids: created.map((user) => user.id), emails: created.map((user) => user.email) });
        await this.events.appendMany(trx, created.map(userCreated));
        for (const user of created) await this.enqueueWelcome(trx, user);
        return { inserted: insertedIds, rows: new Map(created.map((user) => [user.id, user])) };
      }),
    );

    const byIndex = new Map(candidates.map((c) => [c.index, c]));
    const results: BatchItemResultDto[] = placed.map((item, index) => {
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

  // --- For authentication (modules/auth), which has already established who the user is. ---
  // --- Methods that take `db` join the caller's transaction. ---

  /** The user as a client sees it, for the user's own session (login, password change). */
  async findById(id: string): Promise<UserDto> {
    const user = await this.cachedUser(id);
    if (!user) throw userNotFound();
    return user;
  }

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
    return this.withinTransaction(db, async (trx) => {
      const inserted = await this.withReferenceErrors(() =>
        this.users.insert(trx, {
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
      await this.usersCache.invalidateAfterCommit(trx, { ids: [id], emails: [input.email] });
      const user = await this.readBack(trx, id);
      await this.events.append(trx, userCreated(user));
      await this.enqueueWelcome(trx, user);
      return user;
    });
  }

  /** Makes an existing user an active admin of `organizationId`, optionally with a new password. */
  async promoteToAdmin(id: string, organizationId: string, passwordHash: string | undefined, db: DbExecutor = this.database.db): Promise<UserDto> {
    return this.withinTransaction(db, async (trx) => {
      await this.users.update(trx, id, { role: 'admin', status: 'active', organization_id: organizationId });
      // A new password also ends every session that used the old one.
      if (passwordHash !== undefined) await this.users.setPasswordHash(trx, id, passwordHash, true);
      await this.usersCache.invalidateAfterCommit(trx, { ids: [id] });
      const user = await this.readBack(trx, id);
      await this.events.append(trx, userUpdated(user, ['role', 'status', 'organizationId']));
      return user;
    });
  }

  /**
   * Stores a new password hash. `revokeTokens` (a password change) also bumps the token version so
   * every access token issued before stops working; a rehash at login does not.
   */
  async setPasswordHash(id: string, passwordHash: string, revokeTokens: boolean, db: DbExecutor = this.database.db): Promise<void> {
    await this.users.setPasswordHash(db, id, passwordHash, revokeTokens);
    await this.usersCache.invalidateAfterCommit(db, { ids: [id] });
  }

  /** Invalidates every access token of the user (logout everywhere). */
  async revokeAccessTokens(id: string, db: DbExecutor = this.database.db): Promise<void> {
    await this.users.bumpTokenVersion(db, id);
    await this.usersCache.invalidateAfterCommit(db, { ids: [id] });
  }

  /** Stamps a successful login; returns the user as it is now, so login needs no read after it. */
  async recordLogin(id: string, db: DbExecutor = this.database.db): Promise<UserDto> {
    const row = await this.users.recordLogin(db, id);
    await this.usersCache.invalidateAfterCommit(db, { ids: [id] });
    if (!row) throw userNotFound();
    return toUserDto(row);
  }

  // --- For data exports (modules/exports), which has already decided what the caller may export. ---

  /** How many users match an export's filter. */
  async countForExport(filter: UserExportFilter): Promise<number> {
    const { total } = await this.users.findPage(this.database.db, toUserFilter(filter), { column: 'createdAt', direction: 'asc' }, { offset: 0, limit: 0 });
    return total;
  }

  /**
   * One page of an export, in (createdAt, id) keyset order after `after`: each page is one indexed
   * range read, whatever its depth, so an export of any size holds one page at a time.
   */
  async exportPage(filter: UserExportFilter, after: UserExportCursor | undefined, limit: number): Promise<{ users: UserDto[]; next: UserExportCursor | undefined }> {
    const rows = await this.users.findAfter(this.database.db, toUserFilter(filter), { column: 'createdAt', direction: 'asc' }, after, limit);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { users: page.map(toUserDto), next: rows.length > limit && last ? { value: last.sort_key, id: last.id } : undefined };
  }

  /** FORBIDDEN unless the caller may write every privileged field the input names. */
  private assertMayWritePrivileged(caller: Principal, input: Pick<UpdateUserDto, (typeof PRIVILEGED_FIELDS)[number]>): void {
    const problem = this.privilegedWriteProblem(caller, input);
    if (problem) throw problem;
  }

  private privilegedWriteProblem(caller: Principal, input: Pick<UpdateUserDto, (typeof PRIVILEGED_FIELDS)[number]>): AppError | undefined {
    if (!PRIVILEGED_FIELDS.some((field) => input[field] !== undefined)) return undefined;
    if (!this.access.holds(caller, 'users:manage-roles')) return forbidden();
    // Moving a user to another organization, or out of every organization, crosses tenants.
    if (input.organizationId !== undefined && !this.access.canSeeTenant(caller, input.organizationId)) return forbidden();
    return undefined;
  }

  /**
   * The input with its organization decided: omitted means the caller's organization, except for
   * platform admins, for whom omitted means none (the API's behaviour before tenants). FORBIDDEN
   * when the caller may not create it there or set its role or status.
   */
  private placeNewUser(caller: Principal, input: CreateUserDto): CreateUserDto | AppError {
    const problem = this.privilegedWriteProblem(caller, { role: input.role, status: input.status });
    if (problem) return problem;
    const organizationId = input.organizationId ?? (this.access.isPlatformAdmin(caller) ? undefined : (caller.organizationId ?? undefined));
    if (!this.access.canSeeTenant(caller, organizationId ?? null)) return forbidden();
    return { ...input, ...(organizationId !== undefined && { organizationId }) };
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

  /** The user as a client sees it, through the cache (see UsersCache); undefined when there is none. */
  private cachedUser(id: string): Promise<UserDto | undefined> {
    return this.usersCache.byId(id, async () => {
      const row = await this.users.findById(this.database.db, id);
      return row && toUserDto(row);
    });
  }

  /** Joins the caller's transaction, or opens one: events are written only together with the change. */
  private withinTransaction<T>(db: DbExecutor, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return db.isTransaction ? work(db as Transaction<Database>) : this.database.transaction(work);
  }

  private async readBack(db: DbExecutor, id: string): Promise<UserDto> {
    const row = await this.users.findById(db, id);
    if (!row) throw userNotFound();
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
