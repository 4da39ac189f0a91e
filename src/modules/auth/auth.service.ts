import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config.schema.js';
import { DatabaseService, type DbExecutor } from '../../platform/database/database.service.js';
import type { AuditEvent, RefreshTokenRow } from '../../platform/database/database.types.js';
import { AppError } from '../../platform/errors/app-error.js';
import { PROCESS_LOGGER } from '../../platform/observability/logger.tokens.js';
import { AccessTokens, type Principal } from '../../platform/security/access-tokens.js';
import { KeyStore, type PublicJwk } from '../../platform/security/key-store.js';
import { LoginThrottle } from '../../platform/security/login-throttle.js';
import { PasswordHasher } from '../../platform/security/password-hasher.js';
import { PasswordPolicy } from '../../platform/security/password-policy.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import type { UserDto } from '../users/users.dto.js';
import { UsersService, type UserCredentials } from '../users/users.service.js';
import { EmailVerificationService } from '../users/users.verification.service.js';
import type { AuthSessionDto, ClientInfo, TokenPairDto } from './auth.dto.js';
import { AuthRepository, type AuditEntry } from './auth.repository.js';

/** Labels the HMAC that derives a rotated refresh token from its parent (ADR 0006). */
const CHILD_TOKEN_LABEL = 'groundwork refresh-token child v1';
const USER_AGENT_MAX = 512;

function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** What a refresh transaction decided; decided inside, acted on after commit. */
type RefreshOutcome =
  | { kind: 'invalid' }
  | { kind: 'reused'; userId: string; familyId: string }
  | { kind: 'issued'; user: UserCredentials; familyId: string; refreshToken: string; expiresAt: Date };

const invalidRefreshToken = (): AppError => new AppError('TOKEN_INVALID');
const invalidAccessToken = (): AppError => new AppError('TOKEN_INVALID', { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } });

/**
 * Sign-up, login, refresh-token rotation, logout and password change, and the audit trail of each.
 * Users are read and written through UsersService; refresh tokens and audit rows through
 * AuthRepository. Nothing here logs or stores a password, a token or a hash of one in the log.
 */
@Injectable()
export class AuthService implements OnApplicationBootstrap {
  private defaultOrganization: Promise<string> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROCESS_LOGGER) private readonly logger: Logger,
    private readonly database: DatabaseService,
    private readonly repository: AuthRepository,
    private readonly users: UsersService,
    private readonly organizations: OrganizationsService,
    private readonly hasher: PasswordHasher,
    private readonly policy: PasswordPolicy,
    private readonly accessTokens: AccessTokens,
    private readonly keys: KeyStore,
    private readonly throttle: LoginThrottle,
    private readonly emailVerification: EmailVerificationService,
  ) {}

  /** Confirms an email address with the token from its verification link. */
  verifyEmail(token: string): Promise<{ userId: string; emailVerifiedAt: string }> {
    return this.emailVerification.confirm(token);
  }

  /** Outside production, ADMIN_EMAIL and ADMIN_PASSWORD create that admin at start if it does not exist. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.config.NODE_ENV === 'production' || this.config.ADMIN_EMAIL === undefined || this.config.ADMIN_PASSWORD === undefined) return;
    if (await this.users.findCredentialsByEmail(this.config.ADMIN_EMAIL)) return;
    await this.ensureAdmin(this.config.ADMIN_EMAIL, this.config.ADMIN_PASSWORD, { source: 'ADMIN_EMAIL' });
  }

  /**
   * Creates an active admin of the default organization, or promotes the existing user with that
   * email (and sets the password). Used by `npm run admin:create` and the development bootstrap.
   */
  async ensureAdmin(email: string, password: string, options: { source: string }): Promise<{ user: UserDto; created: boolean }> {
    this.assertPasswordPolicy(password, { email }, 'password');
    const passwordHash = await this.hasher.hash(password);
    const organizationId = await this.organizations.defaultOrganizationId();
    const existing = await this.users.findCredentialsByEmail(email);
    return this.database.transaction(async (trx) => {
      if (existing) await this.repository.revokeAllOfUser(trx, existing.id, 'password_changed', new Date());
      const user = existing
        ? await this.users.promoteToAdmin(existing.id, organizationId, passwordHash, trx)
        : await this.users.createWithPassword({ email, name: email.split('@', 1)[0] ?? email, passwordHash, organizationId, role: 'admin' }, trx);
      await this.audit(trx, 'admin_created', user.id, null, { source: options.source, promoted: existing !== undefined });
      return { user, created: existing === undefined };
    });
  }

  /** Sign-up: an active user in the default organization, logged in. */
  async register(input: { email: string; name: string; password: string }, client: ClientInfo): Promise<AuthSessionDto> {
    // Before the policy check and the hash, so a flood of sign-ups costs neither.
    await this.throttle.consumeRegistration(client.ip);
    this.assertPasswordPolicy(input.password, input, 'password');
    const passwordHash = await this.hasher.hash(input.password);
    const organizationId = await this.organizations.defaultOrganizationId();
    return this.database.transaction(async (trx) => {
      const user = await this.users.createWithPassword({ email: input.email, name: input.name, passwordHash, organizationId, role: 'user' }, trx);
      await this.audit(trx, 'registered', user.id, client, {});
      const credentials = await this.users.findCredentialsById(user.id, trx);
      if (!credentials) throw new AppError('USER_NOT_FOUND');
      const session = await this.startSession(trx, credentials, client);
      return { ...session.tokens, user };
    });
  }

  /**
   * Login. An unknown email costs one argon2 verification against a dummy hash and fails exactly
   * like a wrong password (same code, message and status), so neither the answer nor its timing
   * tells whether the email is registered. Account status is revealed only to someone who knows
   * the password. Failures count against the IP and the account (LoginThrottle).
   */
  async login(input: { email: string; password: string }, client: ClientInfo): Promise<AuthSessionDto> {
    await this.throttle.assertAllowed(client.ip, input.email);
    const user = await this.users.findCredentialsByEmail(input.email);
    const matches = user?.passwordHash ? await this.hasher.verify(user.passwordHash, input.password) : await this.hasher.verifyDummy(input.password);

    if (!user || !matches) {
      const outcome = await this.throttle.recordFailure(client.ip, input.email);
      const reason = user ? 'wrong_password' : 'unknown_account';
      await this.audit(this.database.db, 'login_failed', user?.id ?? null, client, { reason });
      if (outcome.lockedOut.length > 0) {
        await this.audit(this.database.db, 'locked_out', user?.id ?? null, client, { scope: outcome.lockedOut });
      }
      throw new AppError('INVALID_CREDENTIALS');
    }
    if (user.status !== 'active') {
      await this.audit(this.database.db, 'login_failed', user.id, client, { reason: 'account_inactive', status: user.status });
      throw new AppError('ACCOUNT_INACTIVE');
    }
    await this.throttle.recordSuccess(input.email);

    return this.database.transaction(async (trx) => {
      // Parameters were raised since this hash was made: upgrade it now, while the password is known.
      if (this.hasher.needsRehash(user.passwordHash ?? '')) {
        await this.users.setPasswordHash(user.id, await this.hasher.hash(input.password), false, trx);
        await this.audit(trx, 'password_rehashed', user.id, client, {});
      }
      // Two statements inside the transaction: the login stamp (returning the user for the answer)
      // and the refresh token with its audit row.
      const current = await this.users.recordLogin(user.id, trx);
      const session = await this.startSession(trx, user, client, { event: 'login_succeeded' });
      return { ...session.tokens, user: current };
    });
  }

  /**
   * Rotates a refresh token: the presented one is retired and its child returned. A retired token
   * presented again revokes its whole family (a stolen token and its legitimate holder are now
   * both locked out, which is the point), except within AUTH_REFRESH_GRACE_SECONDS of the rotation
   * while the child is still unused: then the same child is returned again, so a client retrying
   * after a lost response, or several tabs refreshing at once, keep the session (ADR 0006).
   */
  async refresh(refreshToken: string, client: ClientInfo): Promise<TokenPairDto> {
    // Decided inside the transaction and thrown after it commits: the revocation of a reused
    // family must persist even though the request fails.
    const outcome = await this.database.transaction((trx) => this.rotate(trx, refreshToken, client));
    if (outcome.kind === 'invalid') throw invalidRefreshToken();
    if (outcome.kind === 'reused') {
      this.logger.warn({ audit: 'token_reused', userId: outcome.userId, sessionId: outcome.familyId, ip: client.ip }, 'refresh token reuse; session revoked');
      throw new AppError('TOKEN_REUSED');
    }
    const accessToken = await this.signAccessToken(outcome.user, outcome.familyId);
    return this.tokenPair(accessToken, outcome.refreshToken, outcome.expiresAt);
  }

  private async rotate(trx: DbExecutor, refreshToken: string, client: ClientInfo): Promise<RefreshOutcome> {
    const token = await this.repository.lockByHash(trx, sha256(refreshToken));
    const now = new Date();
    if (!token || token.revoked_at !== null) return { kind: 'invalid' };
    if (token.expires_at <= now || token.idle_expires_at <= now) return { kind: 'invalid' };

    if (token.rotated_at !== null) {
      const child = token.replaced_by ? await this.repository.findById(trx, token.replaced_by) : undefined;
      const graceEnds = token.rotated_at.getTime() + this.config.AUTH_REFRESH_GRACE_SECONDS * 1000;
      const childToken = this.childOf(refreshToken);
      const sameChild =
        child !== undefined && child.revoked_at === null && child.rotated_at === null && child.token_hash.equals(sha256(childToken));
      if (now.getTime() <= graceEnds && sameChild) {
        const user = await this.activeUser(trx, token);
        if (!user) return { kind: 'invalid' };
        this.logger.info({ audit: 'token_refreshed', userId: user.id, sessionId: token.family_id, grace: true }, 'refresh retried within grace window');
        return { kind: 'issued', user, familyId: token.family_id, refreshToken: childToken, expiresAt: child.expires_at };
      }
      const revoked = await this.repository.revokeFamily(trx, token.family_id, 'reuse_detected', now);
      await this.audit(trx, 'token_reused', token.user_id, client, { sessionId: token.family_id, revokedTokens: revoked });
      return { kind: 'reused', userId: token.user_id, familyId: token.family_id };
    }

    const user = await this.activeUser(trx, token);
    if (!user) return { kind: 'invalid' };
    const childToken = this.childOf(refreshToken);
    const childId = uuidv7();
    await this.repository.insertRefreshToken(trx, {
      id: childId,
      user_id: token.user_id,
      family_id: token.family_id,
      parent_id: token.id,
      token_hash: sha256(childToken),
      expires_at: token.expires_at,
      idle_expires_at: this.idleExpiry(now, token.expires_at),
      ...this.clientColumns(client),
    });
    await this.repository.markRotated(trx, token.id, now, childId);
    await this.audit(trx, 'token_refreshed', token.user_id, client, { sessionId: token.family_id });
    return { kind: 'issued', user, familyId: token.family_id, refreshToken: childToken, expiresAt: token.expires_at };
  }

  /** The token's user when still active; otherwise the family is revoked (committed) and undefined. */
  private async activeUser(trx: DbExecutor, token: RefreshTokenRow): Promise<UserCredentials | undefined> {
    const user = await this.users.findCredentialsById(token.user_id, trx);
    if (user?.status === 'active') return user;
    await this.repository.revokeFamily(trx, token.family_id, 'account_inactive', new Date());
    return undefined;
  }

  /** Ends the session (token family) the refresh token belongs to. Unknown tokens end nothing, silently. */
  async logout(refreshToken: string, client: ClientInfo): Promise<void> {
    await this.database.transaction(async (trx) => {
      const token = await this.repository.lockByHash(trx, sha256(refreshToken));
      if (!token) return;
      const revoked = await this.repository.revokeFamily(trx, token.family_id, 'logout', new Date());
      if (revoked > 0) await this.audit(trx, 'logout', token.user_id, client, { sessionId: token.family_id });
    });
  }

  /** Ends every session of the caller and invalidates every access token it holds, this one included. */
  async logoutAll(principal: Principal, client: ClientInfo): Promise<void> {
    await this.database.transaction(async (trx) => {
      const revoked = await this.repository.revokeAllOfUser(trx, principal.userId, 'logout_all', new Date());
      await this.users.revokeAccessTokens(principal.userId, trx);
      await this.audit(trx, 'logout_all', principal.userId, client, { revokedTokens: revoked });
    });
  }

  /**
   * Changes the password after checking the current one (wrong attempts count against the account
   * like failed logins). Every refresh token and access token of the user is revoked; the caller
   * gets a fresh session so this device stays signed in.
   */
  async changePassword(principal: Principal, input: { currentPassword: string; newPassword: string }, client: ClientInfo): Promise<AuthSessionDto> {
    const user = await this.users.findCredentialsById(principal.userId);
    if (!user) throw invalidAccessToken();
    await this.throttle.assertAllowed(client.ip, user.email);
    const matches = user.passwordHash ? await this.hasher.verify(user.passwordHash, input.currentPassword) : await this.hasher.verifyDummy(input.currentPassword);
    if (!matches) {
      await this.throttle.recordFailure(client.ip, user.email);
      await this.audit(this.database.db, 'login_failed', user.id, client, { reason: 'wrong_current_password' });
      throw new AppError('INVALID_CREDENTIALS');
    }
    this.assertPasswordPolicy(input.newPassword, user, 'newPassword');
    const passwordHash = await this.hasher.hash(input.newPassword);
    const tokens = await this.database.transaction(async (trx) => {
      const revoked = await this.repository.revokeAllOfUser(trx, user.id, 'password_changed', new Date());
      await this.users.setPasswordHash(user.id, passwordHash, true, trx);
      await this.audit(trx, 'password_changed', user.id, client, { revokedTokens: revoked });
      const updated = await this.users.findCredentialsById(user.id, trx);
      if (!updated) throw invalidAccessToken();
      return (await this.startSession(trx, updated, client)).tokens;
    });
    return { ...tokens, user: await this.users.findById(user.id) };
  }

  /**
   * The principal of a valid access token whose user is still active, whose token version is
   * current (no logout-all or password change since), whose session was not logged out, and whose
   * role and organization are still those the token claims. The last check makes a demotion or a
   * move to another organization take effect at once: the permissions in the token derive from
   * role and organization, so a token that no longer matches them is refused and the client
   * refreshes into one that does.
   */
  async authenticate(accessToken: string): Promise<Principal> {
    const principal = await this.accessTokens.verify(accessToken);
    const [user, live] = await Promise.all([
      this.users.findCredentialsById(principal.userId),
      this.repository.familyIsLive(this.database.db, principal.sessionId),
    ]);
    if (
      !user ||
      user.status !== 'active' ||
      user.tokenVersion !== principal.tokenVersion ||
      user.role !== principal.role ||
      user.organizationId !== principal.organizationId ||
      !live
    ) {
      throw invalidAccessToken();
    }
    return principal;
  }

  me(principal: Principal): Promise<UserDto> {
    return this.users.findOne(principal, principal.userId);
  }

  jwks(): { keys: PublicJwk[] } {
    return this.keys.jwks();
  }

  /**
   * Opens a session: a new token family with a random root token, and its first access token. With
   * `audited`, the session's audit row (details carry the session id) goes in the token's statement.
   */
  private async startSession(trx: DbExecutor, user: UserCredentials, client: ClientInfo, audited?: { event: AuditEvent }): Promise<{ tokens: TokenPairDto; sessionId: string }> {
    const refreshToken = randomBytes(32).toString('base64url');
    const familyId = uuidv7();
    const now = new Date();
    const expiresAt = new Date(now.getTime() + this.config.AUTH_REFRESH_TOKEN_TTL_SECONDS * 1000);
    const token = {
      id: familyId,
      user_id: user.id,
      family_id: familyId,
      parent_id: null,
      token_hash: sha256(refreshToken),
      expires_at: expiresAt,
      idle_expires_at: this.idleExpiry(now, expiresAt),
      ...this.clientColumns(client),
    };
    if (audited) {
      const entry = this.auditEntry(audited.event, user.id, client, { sessionId: familyId });
      await this.repository.insertRefreshTokenWithAudit(trx, token, entry);
      this.logAudit(entry);
    } else {
      await this.repository.insertRefreshToken(trx, token);
    }
    const accessToken = await this.signAccessToken(user, familyId);
    return { tokens: this.tokenPair(accessToken, refreshToken, expiresAt), sessionId: familyId };
  }

  /** An access token for `user` in session `sessionId`; admins of the default organization are platform admins. */
  private async signAccessToken(user: UserCredentials, sessionId: string): Promise<string> {
    const platformAdmin = user.role === 'admin' && user.organizationId !== null && user.organizationId === (await this.defaultOrganizationId());
    return this.accessTokens.sign({
      userId: user.id,
      organizationId: user.organizationId,
      role: user.role,
      sessionId,
      tokenVersion: user.tokenVersion,
      platformAdmin,
    });
  }

  /** The default organization's id never changes once migrated, so one lookup per process serves. */
  private defaultOrganizationId(): Promise<string> {
    this.defaultOrganization ??= this.organizations.defaultOrganizationId().catch((error: unknown) => {
      this.defaultOrganization = undefined;
      throw error;
    });
    return this.defaultOrganization;
  }

  private tokenPair(accessToken: string, refreshToken: string, expiresAt: Date): TokenPairDto {
    return {
      accessToken,
      tokenType: 'Bearer',
      expiresIn: this.accessTokens.ttlSeconds,
      refreshToken,
      refreshTokenExpiresAt: expiresAt.toISOString(),
    };
  }

  /** The child of a refresh token: HMAC under the server secret, so only this service can derive it (ADR 0006). */
  private childOf(refreshToken: string): string {
    return this.keys.hmac(CHILD_TOKEN_LABEL, refreshToken).toString('base64url');
  }

  private idleExpiry(now: Date, absolute: Date): Date {
    return new Date(Math.min(now.getTime() + this.config.AUTH_REFRESH_TOKEN_IDLE_SECONDS * 1000, absolute.getTime()));
  }

  private clientColumns(client: ClientInfo): { ip: string | null; user_agent: string | null } {
    return { ip: isIP(client.ip) ? client.ip : null, user_agent: client.userAgent?.slice(0, USER_AGENT_MAX) ?? null };
  }

  private assertPasswordPolicy(password: string, context: { email?: string; name?: string }, field: string): void {
    const problems = this.policy.check(password, context);
    if (problems.length > 0) {
      throw new AppError('WEAK_PASSWORD', { details: problems.map((message) => ({ field, message })) });
    }
  }

  /** One audit row and one log line; `details` must never hold a secret. */
  private async audit(db: DbExecutor, event: AuditEvent, actorId: string | null, client: ClientInfo | null, details: Record<string, unknown>): Promise<void> {
    const entry = this.auditEntry(event, actorId, client, details);
    await this.repository.insertAudit(db, entry);
    this.logAudit(entry);
  }

  private auditEntry(event: AuditEvent, actorId: string | null, client: ClientInfo | null, details: Record<string, unknown>): AuditEntry {
    const columns = client ? this.clientColumns(client) : { ip: null, user_agent: null };
    return { id: uuidv7(), event, actorId, ip: columns.ip, userAgent: columns.user_agent, details };
  }

  /** Every audit row also goes to the log, at warn for failures and abuse. */
  private logAudit(entry: AuditEntry): void {
    const level = entry.event === 'login_failed' || entry.event === 'locked_out' || entry.event === 'token_reused' ? 'warn' : 'info';
    this.logger[level]({ audit: entry.event, userId: entry.actorId, ip: entry.ip, ...entry.details }, `auth: ${entry.event}`);
  }
}
