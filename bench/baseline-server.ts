/**
 * The baseline the service is measured against: node:http and a pg pool, nothing else on the
 * request path. It runs the SQL the repositories produce (captured once at startup, see
 * queries.ts) with the same pool settings as DatabaseService, and answers with the same JSON the
 * service returns, so the difference between the two is what the framework stack costs.
 *
 * Authentication is the same work as the service's, done by hand: the bearer token is verified
 * with jose under the same rules as AccessTokens.verify (EdDSA only, key by kid, iss, aud, typ,
 * required claims, clock tolerance, maximum age) and its claims checked like principalOf does;
 * then the same two reads AuthService.authenticate runs (credentials by id and family liveness, in
 * parallel) and the same comparisons (active, token version, role, organization, live session),
 * then the route's permission and the tenant/ownership decision of ResourceAccessService.
 *
 *   DATABASE_URL=... PORT=3100 AUTH_JWKS='{"keys":[...]}' node dist/bench/baseline-server.js
 *
 * Deliberately absent: validation beyond what the SQL needs, logging, metrics, request ids. Only
 * the routes the bench drives exist.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { importJWK, jwtVerify, type CryptoKey, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose';
import pg from 'pg';
import { PERMISSIONS, type Permission } from '../src/platform/security/permissions.js';
import { bindParameters, captureUserQueries, type UserQueries } from './queries.js';

/** One row of the users + user_profiles select, as pg returns it. */
interface UserRow {
  id: string;
  organization_id: string | null;
  email: string;
  name: string;
  status: string;
  role: string;
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
  /** Present in page queries: the row's sort value as the cursor after it carries it. */
  sort_key?: string;
}

/** One row of the credentials read (UsersRepository.findCredentialsById). */
interface CredentialsRow {
  id: string;
  status: string;
  role: string;
  organization_id: string | null;
  token_version: number;
}

/** What a verified access token proves, as AccessTokens.principalOf builds it. */
interface Principal {
  userId: string;
  organizationId: string | null;
  role: string;
  permissions: readonly string[];
  sessionId: string;
  tokenVersion: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Same rules as access-tokens.ts. */
const TOKEN_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ROLES: readonly string[] = ['user', 'moderator', 'admin'];
const KNOWN_PERMISSIONS: readonly string[] = PERMISSIONS;
const CLOCK_TOLERANCE_SECONDS = 5;
/** Same as bearerToken() in current-principal.ts. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const PAGE_SIZE = { default: 20, max: 100 } as const;
const JSON_TYPE = 'application/json; charset=utf-8';

/** The service's UserDto, field for field and in the same key order (the bench compares bodies). */
function toUserJson(row: UserRow): Record<string, unknown> {
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
      ? { displayName: row.display_name, bio: row.bio, avatarUrl: row.avatar_url, locale: row.locale, timezone: row.timezone }
      : null,
  };
}

/**
 * The service's keyset cursor for the default sort, so meta.nextCursor matches too. The page query
 * selects the sort value as text (sort_key, microsecond precision) when the repository does.
 */
function encodeCursor(row: UserRow): string {
  const value = row.sort_key ?? row.created_at.toISOString();
  return Buffer.from(JSON.stringify(['createdAt', 'desc', value, row.id])).toString('base64url');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

/** Parses an optional integer query parameter; undefined means "absent", null means "invalid". */
function intParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined | null {
  const raw = params.get(name);
  if (raw === null) return undefined;
  if (!/^\d{1,6}$/.test(raw)) return null;
  const value = Number(raw);
  return value >= min && value <= max ? value : null;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer`);
  return value;
}

async function main(): Promise<void> {
  const connectionString = process.env.DATABASE_URL;
  if (!connectionString) throw new Error('DATABASE_URL is required');
  const port = envInt('PORT', 3100);
  const host = process.env.HOST ?? '127.0.0.1';
  const queries: UserQueries = await captureUserQueries();

  // The service's public keys (its JWKS), by kid; the service's own key store does the same lookup.
  const jwks = JSON.parse(process.env.AUTH_JWKS ?? '{"keys":[]}') as { keys: JWK[] };
  const verificationKeys = new Map<string, CryptoKey>();
  for (const jwk of jwks.keys) {
    const key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'EdDSA');
    if (key instanceof Uint8Array || typeof jwk.kid !== 'string') throw new Error('AUTH_JWKS must hold Ed25519 public keys with a kid');
    verificationKeys.set(jwk.kid, key);
  }
  if (verificationKeys.size === 0) throw new Error('AUTH_JWKS is required (the service\'s public keys)');
  const ttlSeconds = envInt('AUTH_ACCESS_TOKEN_TTL_SECONDS', 900);
  const verifyOptions = {
    algorithms: ['EdDSA'],
    issuer: process.env.AUTH_ISSUER ?? 'groundwork',
    audience: process.env.AUTH_AUDIENCE ?? 'groundwork-api',
    typ: 'at+jwt',
    requiredClaims: ['exp', 'iat', 'sub', 'jti'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    maxTokenAge: ttlSeconds + CLOCK_TOLERANCE_SECONDS,
  };
  const keyFor = (header: JWTHeaderParameters): CryptoKey => {
    const key = typeof header.kid === 'string' ? verificationKeys.get(header.kid) : undefined;
    if (!key) throw new Error('unknown kid');
    return key;
  };

  // Same settings as DatabaseService's pool, so both sides wait on the database the same way.
  const pool = new pg.Pool({
    connectionString,
    max: envInt('DATABASE_POOL_SIZE', 10),
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    statement_timeout: envInt('DATABASE_STATEMENT_TIMEOUT_MS', 15_000),
    application_name: 'groundwork-baseline',
  });
  pool.on('error', () => undefined); // an idle client's lost connection is replaced by the pool

  /** The claims AccessTokens.principalOf accepts, or undefined. */
  function principalOf(payload: JWTPayload): Principal | undefined {
    const { sub, jti, exp, org, sid, ver, roles, permissions } = payload;
    const role = Array.isArray(roles) && roles.length === 1 ? (roles[0] as unknown) : undefined;
    if (
      typeof sub !== 'string' ||
      !TOKEN_UUID.test(sub) ||
      typeof jti !== 'string' ||
      typeof exp !== 'number' ||
      !(org === null || (typeof org === 'string' && TOKEN_UUID.test(org))) ||
      typeof sid !== 'string' ||
      !TOKEN_UUID.test(sid) ||
      typeof ver !== 'number' ||
      !Number.isSafeInteger(ver) ||
      typeof role !== 'string' ||
      !ROLES.includes(role) ||
      !Array.isArray(permissions) ||
      !permissions.every((p: unknown) => typeof p === 'string' && KNOWN_PERMISSIONS.includes(p))
    ) {
      return undefined;
    }
    return { userId: sub, organizationId: org, role, permissions: permissions as string[], sessionId: sid, tokenVersion: ver };
  }

  /**
   * AccessTokenGuard + AuthService.authenticate: the principal of a valid token whose user is
   * active with the token's version, role and organization, in a live session; otherwise the 401
   * is sent and the result is undefined.
   */
  async function authenticate(req: IncomingMessage, res: ServerResponse): Promise<Principal | undefined> {
    const header = req.headers.authorization;
    const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    if (token === undefined) {
      sendError(res, 401, 'AUTHENTICATION_REQUIRED', 'Authentication required');
      return undefined;
    }
    let principal: Principal | undefined;
    try {
      principal = principalOf((await jwtVerify(token, keyFor, verifyOptions)).payload);
    } catch {
      principal = undefined;
    }
    if (principal !== undefined) {
      const [credentials, family] = await Promise.all([
        pool.query<CredentialsRow>(queries.credentialsById.sql, bindParameters(queries.credentialsById, { subject: principal.userId })),
        pool.query<{ id: string }>(queries.familyIsLive.sql, bindParameters(queries.familyIsLive, { session: principal.sessionId })),
      ]);
      const user = credentials.rows[0];
      const live = family.rows[0] !== undefined;
      if (
        user !== undefined &&
        user.status === 'active' &&
        user.token_version === principal.tokenVersion &&
        user.role === principal.role &&
        user.organization_id === principal.organizationId &&
        live
      ) {
        return principal;
      }
    }
    sendError(res, 401, 'TOKEN_INVALID', 'Invalid token');
    return undefined;
  }

  const holds = (principal: Principal, permission: Permission): boolean => principal.permissions.includes(permission);
  const isPlatformAdmin = (principal: Principal): boolean => holds(principal, 'platform:admin');

  async function findById(res: ServerResponse, caller: Principal, id: string): Promise<void> {
    const result = await pool.query<UserRow>(queries.findById.sql, bindParameters(queries.findById, { id }));
    const row = result.rows[0];
    if (row === undefined) return sendError(res, 404, 'USER_NOT_FOUND', 'User not found');
    // ResourceAccessService.decide for (user, read): tenant wall, ownership, organization permission.
    const owner = row.id === caller.userId;
    const inTenant = isPlatformAdmin(caller) || (caller.organizationId !== null && caller.organizationId === row.organization_id);
    if (!inTenant && !owner) return sendError(res, 404, 'USER_NOT_FOUND', 'User not found');
    const allowed = (owner && holds(caller, 'users:read:own')) || (inTenant && holds(caller, 'users:read'));
    if (!allowed) return sendError(res, 403, 'FORBIDDEN', 'Forbidden');
    send(res, 200, toUserJson(row));
  }

  async function list(res: ServerResponse, caller: Principal, params: URLSearchParams): Promise<void> {
    // The route's @RequirePermissions('users:read'), then UsersService.list's tenant scope. Only the
    // unscoped list SQL is captured: callers other than platform admins (never the bench's) get 403.
    if (!holds(caller, 'users:read') || !isPlatformAdmin(caller)) return sendError(res, 403, 'FORBIDDEN', 'Forbidden');
    const limit = intParam(params, 'limit', 1, PAGE_SIZE.max);
    const page = intParam(params, 'page', 1, 10_000);
    if (limit === null || page === null) return sendError(res, 400, 'VALIDATION_FAILED', 'limit or page out of range');
    const pageSize = limit ?? PAGE_SIZE.default;
    const pageNumber = page ?? 1;
    const values = { limit: pageSize, offset: (pageNumber - 1) * pageSize };
    // Both statements in parallel on two pooled connections, as UsersRepository.findPage does.
    const [rows, count] = await Promise.all([
      pool.query<UserRow>(queries.page.sql, bindParameters(queries.page, values)),
      pool.query<{ total: number }>(queries.count.sql, bindParameters(queries.count, values)),
    ]);
    const hasNext = rows.rows.length > pageSize;
    const pageRows = hasNext ? rows.rows.slice(0, pageSize) : rows.rows;
    const last = pageRows.at(-1);
    send(res, 200, {
      data: pageRows.map(toUserJson),
      meta: {
        limit: pageSize,
        hasNext,
        nextCursor: hasNext && last ? encodeCursor(last) : null,
        total: count.rows[0]?.total ?? 0,
        page: pageNumber,
      },
    });
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const pathname = queryStart === -1 ? url : url.slice(0, queryStart);
    if (req.method !== 'GET') return sendError(res, 405, 'METHOD_NOT_ALLOWED', 'Only GET is served');
    if (pathname.startsWith('/users/')) {
      // The service's guard runs before the route's parameter pipe, so authentication comes first.
      const caller = await authenticate(req, res);
      if (caller === undefined) return;
      const id = pathname.slice('/users/'.length);
      if (!UUID.test(id)) return sendError(res, 400, 'VALIDATION_FAILED', 'id must be a UUID');
      return findById(res, caller, id);
    }
    if (pathname === '/users') {
      const caller = await authenticate(req, res);
      if (caller === undefined) return;
      return list(res, caller, new URLSearchParams(queryStart === -1 ? '' : url.slice(queryStart + 1)));
    }
    if (pathname === '/health/ready') {
      await pool.query('SELECT 1');
      return send(res, 200, { status: 'ok' });
    }
    sendError(res, 404, 'NOT_FOUND', 'Route not found');
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'INTERNAL', 'Internal server error');
      else res.destroy();
    });
  });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    void pool.end().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Started by the bench with an IPC channel: when the runner dies, the channel closes and we follow.
  process.once('disconnect', stop);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`baseline server failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
