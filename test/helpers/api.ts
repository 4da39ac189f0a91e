import type { LightMyRequestResponse } from 'fastify';
import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { expect } from 'vitest';
import { errorCodes, type ErrorCode } from '../../src/platform/errors/error-codes.js';

/** The exact keys a client sees on a user; anything more is a leak (password_hash, first_login_at, ...). */
export const USER_KEYS = [
  'createdAt',
  'email',
  'emailVerifiedAt',
  'id',
  'lastLoginAt',
  'metadata',
  'name',
  'organizationId',
  'profile',
  'role',
  'status',
  'updatedAt',
].sort();
export const PROFILE_KEYS = ['avatarUrl', 'bio', 'displayName', 'locale', 'timezone'].sort();
export const ORGANIZATION_KEYS = ['createdAt', 'id', 'name', 'slug', 'updatedAt'].sort();

const ENVELOPE_KEYS = ['code', 'details', 'message', 'path', 'requestId', 'timestamp'].sort();

/** What must never reach a client: stack frames, source paths, SQL, driver messages, secrets. */
const LEAK_PATTERNS: RegExp[] = [
  /\n\s+at /,
  /\bat [\w.<>]+ \(/,
  /\.(ts|js):\d+/,
  /node_modules/,
  /\b(SELECT|INSERT INTO|UPDATE users|DELETE FROM)\b/,
  /syntax error|relation "|column "|violates|duplicate key|sqlstate|invalid input syntax/i,
  /password_hash|passwordHash/,
  /"stack"/,
];

export type UserJson = {
  id: string;
  email: string;
  name: string;
  status: string;
  role: string;
  organizationId: string | null;
  metadata: Record<string, unknown>;
  emailVerifiedAt: string | null;
  lastLoginAt: string | null;
  createdAt: string;
  updatedAt: string;
  profile: Record<string, string | null> | null;
};

export interface ErrorJson {
  error: { code: string; message: string; details: unknown; timestamp: string; path: string; requestId: string };
}

export function sortedKeys(value: unknown): string[] {
  return Object.keys(value as object).sort();
}

/** A user body shows exactly the public fields, and a profile (when present) exactly its own. */
export function expectPublicUser(user: unknown): void {
  expect(sortedKeys(user)).toEqual(USER_KEYS);
  const profile = (user as UserJson).profile;
  if (profile !== null) expect(sortedKeys(profile)).toEqual(PROFILE_KEYS);
}

export function expectNoLeaks(body: string): void {
  for (const pattern of LEAK_PATTERNS) expect(body, `response leaks ${pattern}`).not.toMatch(pattern);
}

/**
 * Asserts the REST error envelope: exact keys, the registered code and status, the request id of the
 * x-request-id header, the path without its query string, and nothing internal in the body.
 */
export function expectErrorEnvelope(
  res: LightMyRequestResponse,
  expected: { status: number; code?: ErrorCode; url: string; details?: unknown },
): ErrorJson['error'] {
  expect(res.statusCode, res.body.slice(0, 500)).toBe(expected.status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.json<ErrorJson>();
  expect(sortedKeys(body)).toEqual(['error']);
  expect(sortedKeys(body.error)).toEqual(ENVELOPE_KEYS);
  if (expected.code) {
    expect(body.error.code).toBe(expected.code);
    expect(errorCodes[expected.code].httpStatus).toBe(expected.status);
    expect(body.error.message).toBe(errorCodes[expected.code].message);
  } else {
    expect(Object.keys(errorCodes)).toContain(body.error.code);
  }
  if (expected.details !== undefined) expect(body.error.details).toEqual(expected.details);
  expect(body.error.requestId).toEqual(expect.any(String));
  expect(body.error.requestId.length).toBeGreaterThan(0);
  expect(body.error.requestId).toBe(res.headers['x-request-id']);
  expect(body.error.path).toBe(expected.url.split('?', 1)[0]);
  expect(new Date(body.error.timestamp).toISOString()).toBe(body.error.timestamp);
  // Details may name a field the client sent (`property password_hash should not exist`); that
  // echo is not a leak, so those names are blanked before the scan.
  let scanned = res.body;
  if (Array.isArray(body.error.details)) {
    for (const detail of body.error.details as Array<{ field?: unknown }>) {
      if (typeof detail.field === 'string' && detail.field !== '') scanned = scanned.replaceAll(detail.field, '<field>');
    }
  }
  expectNoLeaks(scanned);
  return body.error;
}

/** Field names of VALIDATION_FAILED details, in order. */
export function detailFields(error: ErrorJson['error']): string[] {
  expect(Array.isArray(error.details)).toBe(true);
  const details = error.details as Array<{ field: string; message: string }>;
  for (const detail of details) {
    expect(sortedKeys(detail)).toEqual(['field', 'message']);
    expect(detail.message).toEqual(expect.any(String));
  }
  return details.map((detail) => detail.field);
}

/**
 * A fingerprint of every row of the tables a request could touch. Equal fingerprints before and
 * after a request mean it changed nothing (no insert, update or delete).
 */
export async function snapshotTables(sql: pg.Pool): Promise<Record<string, { count: number; digest: string | null }>> {
  const tables = ['users', 'user_profiles', 'organizations'];
  const snapshot: Record<string, { count: number; digest: string | null }> = {};
  for (const table of tables) {
    const { rows } = await sql.query<{ count: number; digest: string | null }>(
      `SELECT count(*)::int AS count, md5(string_agg(t::text, '|' ORDER BY t::text)) AS digest FROM ${table} t`,
    );
    snapshot[table] = rows[0]!;
  }
  return snapshot;
}

export async function countUsers(sql: pg.Pool): Promise<number> {
  const { rows } = await sql.query<{ count: number }>('SELECT count(*)::int AS count FROM users');
  return rows[0]!.count;
}

export interface SeedUser {
  id?: string;
  email: string;
  name?: string;
  status?: 'pending' | 'active' | 'inactive' | 'suspended';
  role?: 'user' | 'moderator' | 'admin';
  organizationId?: string | null;
  passwordHash?: string | null;
  metadata?: Record<string, unknown>;
  createdAt?: string;
  updatedAt?: string;
  firstLoginAt?: string | null;
}

/**
 * Inserts users straight into the table, for states the API cannot produce (chosen timestamps,
 * password hashes, first logins). Returns the ids in input order.
 */
export async function insertUsers(sql: pg.Pool, users: SeedUser[]): Promise<string[]> {
  const ids: string[] = [];
  for (const user of users) {
    const id = user.id ?? uuidv7();
    ids.push(id);
    await sql.query(
      `INSERT INTO users (id, email, name, status, role, organization_id, password_hash, metadata, created_at, updated_at, first_login_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9::timestamptz, now()), coalesce($10::timestamptz, $9::timestamptz, now()), $11)`,
      [
        id,
        user.email,
        user.name ?? user.email.split('@', 1)[0],
        user.status ?? 'pending',
        user.role ?? 'user',
        user.organizationId ?? null,
        user.passwordHash ?? null,
        JSON.stringify(user.metadata ?? {}),
        user.createdAt ?? null,
        user.updatedAt ?? null,
        user.firstLoginAt ?? null,
      ],
    );
  }
  return ids;
}

export async function insertOrganization(sql: pg.Pool, slug: string, name = slug): Promise<string> {
  const id = uuidv7();
  await sql.query('INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)', [id, name, slug]);
  return id;
}

/** Log lines at error level or above: a 4xx must never produce one, and no test here expects a 5xx. */
export function serverErrors(logs: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return logs.filter((line) => line.level === 'error' || line.level === 'fatal');
}
