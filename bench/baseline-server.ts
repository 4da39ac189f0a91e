/**
 * The baseline the service is measured against: node:http and a pg pool, nothing else on the
 * request path. It runs the SQL UsersRepository produces (captured once at startup, see
 * queries.ts) with the same pool settings as DatabaseService, and answers with the same JSON the
 * service returns, so the difference between the two is what the framework stack costs.
 *
 *   DATABASE_URL=... PORT=3100 node dist/bench/baseline-server.js
 *
 * Deliberately absent: validation beyond what the SQL needs, logging, metrics, request ids. Only
 * the routes the bench drives exist.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
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

  async function findById(res: ServerResponse, id: string): Promise<void> {
    const result = await pool.query<UserRow>(queries.findById.sql, bindParameters(queries.findById, { id }));
    const row = result.rows[0];
    if (row === undefined) sendError(res, 404, 'USER_NOT_FOUND', 'User not found');
    else send(res, 200, toUserJson(row));
  }

  async function list(res: ServerResponse, params: URLSearchParams): Promise<void> {
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
      const id = pathname.slice('/users/'.length);
      if (!UUID.test(id)) return sendError(res, 400, 'VALIDATION_FAILED', 'id must be a UUID');
      return findById(res, id);
    }
    if (pathname === '/users') return list(res, new URLSearchParams(queryStart === -1 ? '' : url.slice(queryStart + 1)));
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
