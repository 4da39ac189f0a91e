import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { AccessTokens } from '../../src/platform/security/access-tokens.js';

export type TestRole = 'user' | 'moderator' | 'admin';

/** A signed-in user a test acts as. */
export interface TestPrincipal {
  id: string;
  email: string;
  role: TestRole;
  organizationId: string | null;
  accessToken: string;
  /** `{ authorization: 'Bearer …' }`, to spread into inject() headers. */
  headers: { authorization: string };
}

export async function defaultOrganizationId(sql: pg.Pool): Promise<string> {
  const { rows } = await sql.query<{ id: string }>("SELECT id FROM organizations WHERE slug = 'default'");
  return rows[0]!.id;
}

let counter = 0;

/**
 * Creates an active user with a live session and signs an access token for it, straight through
 * the database and the app's own signer: no audit rows, no login throttle, no last-login update,
 * so a fixture principal leaves nothing the tests under it might count. The token passes every
 * check the global guard makes (signature, user active, token version, role and organization,
 * live session). `organizationId` defaults to the default organization.
 */
export async function createPrincipal(
  app: NestFastifyApplication,
  sql: pg.Pool,
  options: { role?: TestRole; organizationId?: string | null; email?: string; name?: string } = {},
): Promise<TestPrincipal> {
  counter += 1;
  const role = options.role ?? 'user';
  const defaultOrganization = await defaultOrganizationId(sql);
  const organizationId = options.organizationId === undefined ? defaultOrganization : options.organizationId;
  const id = uuidv7();
  const email = options.email ?? `principal-${counter}-${randomBytes(3).toString('hex')}@principals.test`;
  await sql.query(`INSERT INTO users (id, email, name, status, role, organization_id) VALUES ($1, $2, $3, 'active', $4, $5)`, [
    id,
    email,
    options.name ?? `${role} ${counter}`,
    role,
    organizationId,
  ]);
  const sessionId = uuidv7();
  await sql.query(
    `INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, idle_expires_at)
     VALUES ($1, $2, $1, $3, now() + interval '1 day', now() + interval '1 day')`,
    [sessionId, id, createHash('sha256').update(randomBytes(32)).digest()],
  );
  const accessToken = await app.get(AccessTokens).sign({
    userId: id,
    organizationId,
    role,
    sessionId,
    tokenVersion: 0,
    // The rule AuthService applies when it signs: admins of the default organization are platform admins.
    platformAdmin: role === 'admin' && organizationId === defaultOrganization,
  });
  return { id, email, role, organizationId, accessToken, headers: { authorization: `Bearer ${accessToken}` } };
}
