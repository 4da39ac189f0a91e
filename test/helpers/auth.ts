import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { TestApp } from './app.js';
import type { UserJson } from './api.js';

export interface SessionJson {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  refreshToken: string;
  refreshTokenExpiresAt: string;
  user: UserJson;
}

export type TokenPairJson = Omit<SessionJson, 'user'>;

/** A password zxcvbn scores as strong: random, not from any dictionary. */
export function strongPassword(): string {
  return `Pw-${randomBytes(12).toString('base64url')}`;
}

let counter = 0;
/** A unique email per call, so tests in one file never collide. */
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}-${counter}-${randomBytes(3).toString('hex')}@example.com`;
}

/** Registers a user through the API and returns its session and password. */
export async function registerUser(
  t: TestApp,
  options: { email?: string; name?: string; password?: string } = {},
): Promise<SessionJson & { password: string; email: string }> {
  const email = options.email ?? uniqueEmail();
  const password = options.password ?? strongPassword();
  const res = await t.app.inject({ method: 'POST', url: '/auth/register', payload: { email, name: options.name ?? 'Test User', password } });
  expect(res.statusCode, res.body).toBe(201);
  return { ...res.json<SessionJson>(), password, email };
}

export async function login(t: TestApp, email: string, password: string, remoteAddress?: string) {
  return t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, ...(remoteAddress && { remoteAddress }) });
}

export async function refresh(t: TestApp, refreshToken: string) {
  return t.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } });
}

export async function me(t: TestApp, accessToken: string) {
  return t.app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${accessToken}` } });
}

export interface AuditRow {
  event: string;
  actor_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
  occurred_at: Date;
}

export async function auditRows(t: TestApp, actorId?: string | null): Promise<AuditRow[]> {
  const { rows } = await t.sql.query<AuditRow>(
    actorId === undefined
      ? 'SELECT event, actor_id, host(ip) AS ip, user_agent, details, occurred_at FROM audit_log ORDER BY id'
      : actorId === null
        ? 'SELECT event, actor_id, host(ip) AS ip, user_agent, details, occurred_at FROM audit_log WHERE actor_id IS NULL ORDER BY id'
        : 'SELECT event, actor_id, host(ip) AS ip, user_agent, details, occurred_at FROM audit_log WHERE actor_id = $1 ORDER BY id',
    actorId ? [actorId] : [],
  );
  return rows;
}
