import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { expectErrorEnvelope, expectPublicUser, insertUsers, serverErrors } from '../helpers/api.js';
import {
  auditRows,
  login,
  me,
  refresh,
  registerUser,
  strongPassword,
  uniqueEmail,
  type SessionJson,
  type TokenPairJson,
} from '../helpers/auth.js';
import { PasswordHasher } from '../../src/platform/security/password-hasher.js';

// Every auth flow through real requests against the running app and its own database. The last
// test scans every log line the file produced for the secrets the flows handled.

/** Every password, access token and refresh token the flows below saw; none may reach a log line. */
const secrets = new Set<string>();
function remember<T extends Partial<SessionJson> & { password?: string }>(value: T): T {
  for (const secret of [value.password, value.accessToken, value.refreshToken]) if (secret) secrets.add(secret);
  return value;
}

describe('authentication flows', () => {
  let t: TestApp;

  beforeAll(async () => {
    // Grace long enough that the parallel test is inside it even on a slow machine.
    t = await startTestApp({ AUTH_REFRESH_GRACE_SECONDS: '5' });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function signUp(): Promise<SessionJson & { password: string; email: string }> {
    return remember(await registerUser(t));
  }

  async function refreshOk(refreshToken: string): Promise<TokenPairJson> {
    const res = await refresh(t, refreshToken);
    expect(res.statusCode, res.body).toBe(200);
    return remember(res.json<TokenPairJson>());
  }

  async function tokenRow(familyId: string): Promise<Array<{ revoked_at: Date | null; revoke_reason: string | null; rotated_at: Date | null }>> {
    const { rows } = await t.sql.query('SELECT revoked_at, revoke_reason, rotated_at FROM refresh_tokens WHERE family_id = $1 ORDER BY id', [familyId]);
    return rows as Array<{ revoked_at: Date | null; revoke_reason: string | null; rotated_at: Date | null }>;
  }

  describe('register', () => {
    it('creates an active user in the default organization, signed in, with an argon2id hash', async () => {
      const session = await signUp();
      expectPublicUser(session.user);
      expect(session.user).toMatchObject({ status: 'active', role: 'user', email: session.email });
      const { rows } = await t.sql.query<{ id: string; password_hash: string }>(
        `SELECT o.id, u.password_hash FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.id = $1 AND o.slug = 'default'`,
        [session.user.id],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      expect(session).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
      expect(session.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const { rows: tokens } = await t.sql.query<{ token_hash: Buffer }>('SELECT token_hash FROM refresh_tokens WHERE user_id = $1', [session.user.id]);
      // Stored only as a SHA-256 hash.
      expect(tokens).toHaveLength(1);
      expect(tokens[0]!.token_hash.length).toBe(32);
      expect(tokens[0]!.token_hash.toString('base64url')).not.toBe(session.refreshToken);
      expect((await auditRows(t, session.user.id)).map((row) => row.event)).toEqual(['registered']);
    });

    it.each([
      ['too short', 'Xk9#mQ2$vL'],
      ['a common password', 'password1234'],
      ['a keyboard walk', 'qwertyuiop123'],
      ['a repeated character', 'aaaaaaaaaaaaaaaa'],
      ['longer than 128 characters', `${strongPassword()}${'x9'.repeat(70)}`],
    ])('refuses a password that is %s with WEAK_PASSWORD', async (_label, password) => {
      const res = await t.app.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), name: 'Weak', password } });
      const error = expectErrorEnvelope(res, { status: 400, code: 'WEAK_PASSWORD', url: '/auth/register' });
      expect(JSON.stringify(error.details)).not.toContain(password);
    });

    it('refuses a password containing the email local part or the name', async () => {
      const email = uniqueEmail('marguerite');
      for (const password of [`${email.split('@')[0]}!Zq`, 'Marguerite-Yourcenar-Hadrian']) {
        const res = await t.app.inject({ method: 'POST', url: '/auth/register', payload: { email, name: 'Marguerite Yourcenar', password } });
        expectErrorEnvelope(res, { status: 400, code: 'WEAK_PASSWORD', url: '/auth/register' });
      }
    });

    it('accepts a long passphrase with any characters, no composition rules', async () => {
      const password = `lowercase only ${strongPassword().toLowerCase()} and ünïcödé ✓ and more words to pass sixty-four characters`;
      expect([...password].length).toBeGreaterThan(64);
      const session = remember({ ...(await registerUser(t, { password })), password });
      const res = await login(t, session.email, password);
      expect(res.statusCode, res.body).toBe(200);
      remember(res.json<SessionJson>());
    });

    it('refuses a taken email with DUPLICATE_EMAIL', async () => {
      const session = await signUp();
      const res = await t.app.inject({ method: 'POST', url: '/auth/register', payload: { email: session.email.toUpperCase(), name: 'Again', password: strongPassword() } });
      expectErrorEnvelope(res, { status: 409, code: 'DUPLICATE_EMAIL', url: '/auth/register' });
    });
  });

  describe('login', () => {
    it('signs in with the right password and records the login', async () => {
      const user = await signUp();
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email.toUpperCase(), password: user.password },
        headers: { 'user-agent': 'groundwork-tests/1.0' },
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const session = remember(res.json<SessionJson>());
      expect(session.user.id).toBe(user.user.id);
      expect(session.user.lastLoginAt).not.toBeNull();
      const rows = await auditRows(t, user.user.id);
      const success = rows.find((row) => row.event === 'login_succeeded');
      expect(success).toMatchObject({ ip: '127.0.0.1', user_agent: 'groundwork-tests/1.0' });
      expect(success?.occurred_at).toBeInstanceOf(Date);
      expect(Object.keys(success?.details ?? {})).toEqual(['sessionId']);
    });

    it('answers an unknown email and a wrong password with the same status and body', async () => {
      const user = await signUp();
      const wrong = await login(t, user.email, `${user.password}x`);
      const unknown = await login(t, uniqueEmail('nobody'), user.password);
      const strip = (body: string) => {
        const parsed = JSON.parse(body) as { error: Record<string, unknown> };
        delete parsed.error.timestamp;
        delete parsed.error.requestId;
        return parsed;
      };
      expectErrorEnvelope(wrong, { status: 401, code: 'INVALID_CREDENTIALS', url: '/auth/login' });
      expect(unknown.statusCode).toBe(wrong.statusCode);
      expect(strip(unknown.body)).toEqual(strip(wrong.body));
      expect(Object.keys(unknown.headers).sort()).toEqual(Object.keys(wrong.headers).sort());
      const failures = (await auditRows(t)).filter((row) => row.event === 'login_failed');
      expect(failures.some((row) => row.actor_id === user.user.id && row.details.reason === 'wrong_password')).toBe(true);
      expect(failures.some((row) => row.actor_id === null && row.details.reason === 'unknown_account')).toBe(true);
    });

    it('refuses an inactive account only after the password checks out', async () => {
      const user = await signUp();
      await t.sql.query(`UPDATE users SET status = 'suspended' WHERE id = $1`, [user.user.id]);
      expectErrorEnvelope(await login(t, user.email, 'not the password at all'), { status: 401, code: 'INVALID_CREDENTIALS', url: '/auth/login' });
      expectErrorEnvelope(await login(t, user.email, user.password), { status: 403, code: 'ACCOUNT_INACTIVE', url: '/auth/login' });
    });

    it('refuses a user without a password like an unknown one', async () => {
      const email = uniqueEmail('nopassword');
      await insertUsers(t.sql, [{ email, status: 'active' }]);
      expectErrorEnvelope(await login(t, email, strongPassword()), { status: 401, code: 'INVALID_CREDENTIALS', url: '/auth/login' });
    });

    it('rehashes a hash made with weaker-than-configured parameters at the next login', async () => {
      const password = strongPassword();
      secrets.add(password);
      const email = uniqueEmail('legacy');
      // m=19456,t=2 is the floor the config allows, so "weaker" here is a different parallelism.
      const legacy = await new PasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 2 }).hash(password);
      const [id] = await insertUsers(t.sql, [{ email, status: 'active', passwordHash: legacy }]);
      const res = await login(t, email, password);
      expect(res.statusCode, res.body).toBe(200);
      remember(res.json<SessionJson>());
      const { rows } = await t.sql.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [id]);
      expect(rows[0]!.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      expect((await auditRows(t, id)).map((row) => row.event)).toContain('password_rehashed');
    });
  });

  describe('refresh', () => {
    it('rotates: each refresh returns a new pair and retires the token sent', async () => {
      const session = await signUp();
      const first = await refreshOk(session.refreshToken);
      expect(first.refreshToken).not.toBe(session.refreshToken);
      expect(first.refreshTokenExpiresAt).toBe(session.refreshTokenExpiresAt);
      expect((await me(t, first.accessToken)).statusCode).toBe(200);
      const second = await refreshOk(first.refreshToken);
      expect(new Set([session.refreshToken, first.refreshToken, second.refreshToken]).size).toBe(3);
      expect((await auditRows(t, session.user.id)).filter((row) => row.event === 'token_refreshed')).toHaveLength(2);
    });

    it('revokes the whole family, newest token included, when a retired token is reused', async () => {
      const grace = await startTestApp({ AUTH_REFRESH_GRACE_SECONDS: '0' });
      try {
        const session = remember(await registerUser(grace));
        const rt1 = (await refresh(grace, session.refreshToken)).json<TokenPairJson>();
        remember(rt1);
        const replay = await refresh(grace, session.refreshToken);
        expectErrorEnvelope(replay, { status: 401, code: 'TOKEN_REUSED', url: '/auth/refresh' });
        // The revocation committed although the request failed: the newest token is dead too.
        expectErrorEnvelope(await refresh(grace, rt1.refreshToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
        expectErrorEnvelope(await me(grace, rt1.accessToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/me' });
        const { rows } = await grace.sql.query<{ revoke_reason: string }>('SELECT revoke_reason FROM refresh_tokens WHERE user_id = $1', [session.user.id]);
        expect(rows.map((row) => row.revoke_reason)).toEqual(['reuse_detected', 'reuse_detected']);
        const reuse = (await auditRows(grace, session.user.id)).filter((row) => row.event === 'token_reused');
        expect(reuse).toHaveLength(1);
        expect(reuse[0]!.details).toMatchObject({ revokedTokens: 2 });
      } finally {
        await grace.close();
      }
    });

    it('RT0 -> RT1 -> RT2 within one second, then RT0 replayed: RT2 is dead too (even inside the grace window)', async () => {
      const session = await signUp();
      const started = Date.now();
      const rt1 = await refreshOk(session.refreshToken);
      const rt2 = await refreshOk(rt1.refreshToken);
      expect(Date.now() - started).toBeLessThan(1000);
      expectErrorEnvelope(await refresh(t, session.refreshToken), { status: 401, code: 'TOKEN_REUSED', url: '/auth/refresh' });
      expectErrorEnvelope(await refresh(t, rt2.refreshToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
      const { rows } = await t.sql.query<{ family_id: string }>('SELECT family_id FROM refresh_tokens WHERE user_id = $1 LIMIT 1', [session.user.id]);
      const family = await tokenRow(rows[0]!.family_id);
      expect(family).toHaveLength(3);
      expect(family.every((row) => row.revoke_reason === 'reuse_detected')).toBe(true);
    });

    it('gives 20 parallel refreshes with one token the same child and rotates once', async () => {
      const session = await signUp();
      const responses = await Promise.all(Array.from({ length: 20 }, () => refresh(t, session.refreshToken)));
      for (const res of responses) expect(res.statusCode, res.body).toBe(200);
      const children = new Set(responses.map((res) => remember(res.json<TokenPairJson>()).refreshToken));
      expect(children.size).toBe(1);
      const { rows } = await t.sql.query<{ n: number; rotated: number }>(
        'SELECT count(*)::int AS n, count(rotated_at)::int AS rotated FROM refresh_tokens WHERE user_id = $1',
        [session.user.id],
      );
      expect(rows[0]).toEqual({ n: 2, rotated: 1 });
      // The one child works and rotates normally.
      await refreshOk([...children][0]!);
    });

    it('refuses an unknown, malformed or expired refresh token', async () => {
      for (const token of ['x'.repeat(43), 'not a token', session().accessToken]) {
        expectErrorEnvelope(await refresh(t, token), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
      }
      const user = await signUp();
      await t.sql.query(`UPDATE refresh_tokens SET idle_expires_at = now() - interval '1 second' WHERE user_id = $1`, [user.user.id]);
      expectErrorEnvelope(await refresh(t, user.refreshToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
      const absolute = await signUp();
      await t.sql.query(`UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1`, [absolute.user.id]);
      expectErrorEnvelope(await refresh(t, absolute.refreshToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
    });
  });

  let lastSession: SessionJson | undefined;
  function session(): SessionJson {
    if (!lastSession) throw new Error('no session yet');
    return lastSession;
  }
  beforeAll(async () => {
    lastSession = remember(await registerUser(t));
  });

  describe('ending sessions', () => {
    it('logout ends this device only: its refresh and access tokens stop, another device keeps working', async () => {
      const user = await signUp();
      const other = remember((await login(t, user.email, user.password)).json<SessionJson>());
      const res = await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refreshToken: user.refreshToken } });
      expect(res.statusCode).toBe(204);
      expectErrorEnvelope(await refresh(t, user.refreshToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
      expectErrorEnvelope(await me(t, user.accessToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/me' });
      expect((await me(t, other.accessToken)).statusCode).toBe(200);
      await refreshOk(other.refreshToken);
      expect((await auditRows(t, user.user.id)).map((row) => row.event)).toContain('logout');
      // Logging out an unknown or already ended session reveals nothing.
      expect((await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refreshToken: user.refreshToken } })).statusCode).toBe(204);
    });

    it('logout-all ends every session and every access token of the user, and no one else', async () => {
      const user = await signUp();
      const second = remember((await login(t, user.email, user.password)).json<SessionJson>());
      const bystander = await signUp();
      const res = await t.app.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${second.accessToken}` } });
      expect(res.statusCode, res.body).toBe(204);
      for (const token of [user, second]) {
        expectErrorEnvelope(await me(t, token.accessToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/me' });
        expectErrorEnvelope(await refresh(t, token.refreshToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
      }
      expect((await me(t, bystander.accessToken)).statusCode).toBe(200);
      const fresh = remember((await login(t, user.email, user.password)).json<SessionJson>());
      expect((await me(t, fresh.accessToken)).statusCode).toBe(200);
      expect((await auditRows(t, user.user.id)).find((row) => row.event === 'logout_all')?.details).toEqual({ revokedTokens: 2 });
    });

    it('password change needs the current password, revokes every token, and keeps this device signed in', async () => {
      const user = await signUp();
      const other = remember((await login(t, user.email, user.password)).json<SessionJson>());
      const newPassword = strongPassword();
      secrets.add(newPassword);
      const wrong = await t.app.inject({
        method: 'POST',
        url: '/auth/password',
        headers: { authorization: `Bearer ${user.accessToken}` },
        payload: { currentPassword: 'a wrong current password', newPassword },
      });
      expectErrorEnvelope(wrong, { status: 401, code: 'INVALID_CREDENTIALS', url: '/auth/password' });
      const weak = await t.app.inject({
        method: 'POST',
        url: '/auth/password',
        headers: { authorization: `Bearer ${user.accessToken}` },
        payload: { currentPassword: user.password, newPassword: 'password1234' },
      });
      expectErrorEnvelope(weak, { status: 400, code: 'WEAK_PASSWORD', url: '/auth/password' });

      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/password',
        headers: { authorization: `Bearer ${user.accessToken}` },
        payload: { currentPassword: user.password, newPassword },
      });
      expect(res.statusCode, res.body).toBe(200);
      const fresh = remember(res.json<SessionJson>());
      for (const old of [user, other]) {
        expectErrorEnvelope(await me(t, old.accessToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/me' });
        expectErrorEnvelope(await refresh(t, old.refreshToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
      }
      expect((await me(t, fresh.accessToken)).statusCode).toBe(200);
      expectErrorEnvelope(await login(t, user.email, user.password), { status: 401, code: 'INVALID_CREDENTIALS', url: '/auth/login' });
      expect((await login(t, user.email, newPassword)).statusCode).toBe(200);
      expect((await auditRows(t, user.user.id)).map((row) => row.event)).toContain('password_changed');
    });

    it('deactivation (PATCH /users/:id status inactive) stops access and refresh tokens at once', async () => {
      const user = await signUp();
      const patch = await t.app.inject({ method: 'PATCH', url: `/users/${user.user.id}`, payload: { status: 'inactive' } });
      expect(patch.statusCode, patch.body).toBe(200);
      expectErrorEnvelope(await me(t, user.accessToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/me' });
      expectErrorEnvelope(await refresh(t, user.refreshToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
      // Reactivation does not resurrect the session: refresh revoked its family.
      await t.app.inject({ method: 'PATCH', url: `/users/${user.user.id}`, payload: { status: 'active' } });
      expectErrorEnvelope(await refresh(t, user.refreshToken), { status: 401, code: 'TOKEN_INVALID', url: '/auth/refresh' });
    });
  });

  it('GET /auth/me returns the caller as a public user', async () => {
    const res = await me(t, session().accessToken);
    expect(res.statusCode).toBe(200);
    expectPublicUser(res.json());
    expect(res.json<{ id: string }>().id).toBe(session().user.id);
  });

  it('writes audit rows without secrets', async () => {
    const rows = await auditRows(t);
    expect(rows.length).toBeGreaterThan(20);
    const text = JSON.stringify(rows);
    for (const secret of secrets) expect(text.includes(secret), 'audit_log holds a secret').toBe(false);
    expect(text).not.toMatch(/\$argon2/);
  });

  it('logged no password, token or Authorization value, and no server error', () => {
    expect(secrets.size).toBeGreaterThan(30);
    const lines = t.logs.map((line) => JSON.stringify(line));
    for (const secret of secrets) {
      const leaking = lines.filter((line) => line.includes(secret));
      expect(leaking, 'log lines containing a secret').toEqual([]);
    }
    for (const line of lines) {
      expect(line).not.toMatch(/Bearer [A-Za-z0-9]/);
      expect(line).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
      expect(line).not.toMatch(/\$argon2/);
    }
    // The flows were logged, as audit events.
    expect(t.logs.some((line) => line.audit === 'login_succeeded')).toBe(true);
    expect(t.logs.some((line) => line.audit === 'token_reused')).toBe(true);
    expect(serverErrors(t.logs)).toEqual([]);
  });
});
