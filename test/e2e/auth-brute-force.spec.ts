import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { expectErrorEnvelope } from '../helpers/api.js';
import { auditRows, login, registerUser, strongPassword, uniqueEmail } from '../helpers/auth.js';

// Login throttling with small limits: per account 3 failures, per IP 5, in a 60 s window.

describe('login brute-force protection', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
      AUTH_LOGIN_MAX_FAILURES_PER_IP: '5',
      AUTH_LOGIN_WINDOW_SECONDS: '60',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  function expectLocked(res: Awaited<ReturnType<typeof login>>): void {
    expectErrorEnvelope(res, { status: 429, code: 'TOO_MANY_ATTEMPTS', url: '/auth/login' });
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
  }

  it('locks an account after 3 failures, even for the right password and from other IPs', async () => {
    const user = await registerUser(t);
    for (let attempt = 1; attempt <= 3; attempt++) {
      expectErrorEnvelope(await login(t, user.email, `wrong-${attempt}`, `10.0.1.${attempt}`), { status: 401, code: 'INVALID_CREDENTIALS', url: '/auth/login' });
    }
    expectLocked(await login(t, user.email, 'wrong-again', '10.0.1.9'));
    expectLocked(await login(t, user.email, user.password, '10.0.1.10'));
    const events = (await auditRows(t, user.user.id)).map((row) => row.event);
    expect(events.filter((event) => event === 'login_failed')).toHaveLength(3);
    expect(events.filter((event) => event === 'locked_out')).toHaveLength(1);
    // Another account is not affected.
    const other = await registerUser(t);
    expect((await login(t, other.email, other.password, '10.0.1.11')).statusCode).toBe(200);
  });

  it('locks an IP after 5 failures across different accounts, unknown ones included', async () => {
    const ip = '10.0.2.1';
    for (let attempt = 1; attempt <= 5; attempt++) {
      expectErrorEnvelope(await login(t, uniqueEmail('spray'), 'Spring2026!!', ip), { status: 401, code: 'INVALID_CREDENTIALS', url: '/auth/login' });
    }
    const user = await registerUser(t);
    expectLocked(await login(t, user.email, user.password, ip));
    // The same account from another IP still works: the lock is on the IP.
    expect((await login(t, user.email, user.password, '10.0.2.2')).statusCode).toBe(200);
    const lockouts = (await auditRows(t, null)).filter((row) => row.event === 'locked_out' && row.ip === ip);
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0]!.details).toEqual({ scope: ['ip'] });
  });

  it('a success clears the account count, so failures do not accumulate across successes', async () => {
    const user = await registerUser(t);
    for (let round = 0; round < 3; round++) {
      for (let attempt = 0; attempt < 2; attempt++) {
        expect((await login(t, user.email, 'wrong', `10.0.3.${round * 10 + attempt}`)).statusCode).toBe(401);
      }
      expect((await login(t, user.email, user.password, `10.0.3.${round * 10 + 5}`)).statusCode).toBe(200);
    }
  });

  it('counts unknown emails like known ones (no enumeration through the lock)', async () => {
    const email = uniqueEmail('ghost');
    for (let attempt = 1; attempt <= 3; attempt++) expect((await login(t, email, 'whatever', `10.0.4.${attempt}`)).statusCode).toBe(401);
    expectLocked(await login(t, email, 'whatever', '10.0.4.9'));
  });
});

describe('sign-up throttling per IP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ AUTH_REGISTER_MAX_PER_IP: '3', AUTH_REGISTER_WINDOW_SECONDS: '600' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const signUp = (remoteAddress: string, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/auth/register', remoteAddress, payload });

  it('counts every attempt from one IP, refuses the next with 429 and Retry-After, and creates nothing', async () => {
    const ip = '203.0.113.7';
    // A refused attempt (weak password) counts too: it is the hashing and the bulk creation that the limit caps.
    expect((await signUp(ip, { email: uniqueEmail('weak'), name: 'Weak', password: 'password' })).statusCode).toBe(400);
    for (let i = 0; i < 2; i++) {
      expect((await signUp(ip, { email: uniqueEmail('ok'), name: 'Okay', password: strongPassword() })).statusCode).toBe(201);
    }
    const email = uniqueEmail('refused');
    const refused = await signUp(ip, { email, name: 'Refused', password: strongPassword() });
    expectErrorEnvelope(refused, { status: 429, code: 'TOO_MANY_ATTEMPTS', url: '/auth/register' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(600);
    const { rows } = await t.sql.query('SELECT 1 FROM users WHERE lower(email) = lower($1)', [email]);
    expect(rows).toEqual([]);
  });

  it('keeps other IPs signing up', async () => {
    const res = await signUp('203.0.113.8', { email: uniqueEmail('other'), name: 'Other', password: strongPassword() });
    expect(res.statusCode).toBe(201);
  });
});

describe('client IP behind a load balancer (TRUST_PROXY)', () => {
  async function loginVia(t: TestApp, user: { email: string; password: string }, remoteAddress: string, forwardedFor: string) {
    return t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: user.password },
      remoteAddress,
      headers: { 'x-forwarded-for': forwardedFor },
    });
  }

  async function lastLoginIp(t: TestApp, userId: string): Promise<string | null> {
    const rows = (await auditRows(t, userId)).filter((row) => row.event === 'login_succeeded');
    return rows.at(-1)?.ip ?? null;
  }

  it('takes the client IP from X-Forwarded-For only when the peer is a trusted proxy', async () => {
    const t = await startTestApp({ TRUST_PROXY: '10.9.0.0/16' });
    try {
      const user = await registerUser(t);
      expect((await loginVia(t, user, '10.9.0.5', '203.0.113.7')).statusCode).toBe(200);
      expect(await lastLoginIp(t, user.user.id)).toBe('203.0.113.7');
      // A client outside the trusted range cannot choose its IP (and so dodge the per-IP limit).
      expect((await loginVia(t, user, '198.51.100.2', '203.0.113.8')).statusCode).toBe(200);
      expect(await lastLoginIp(t, user.user.id)).toBe('198.51.100.2');
    } finally {
      await t.close();
    }
  });

  it('ignores X-Forwarded-For entirely by default', async () => {
    const t = await startTestApp();
    try {
      const user = await registerUser(t);
      expect((await loginVia(t, user, '10.9.0.5', '203.0.113.7')).statusCode).toBe(200);
      expect(await lastLoginIp(t, user.user.id)).toBe('10.9.0.5');
    } finally {
      await t.close();
    }
  });

  it('applies the per-IP lock to the forwarded client, not to the proxy', async () => {
    const t = await startTestApp({ TRUST_PROXY: '1', AUTH_LOGIN_MAX_FAILURES_PER_IP: '2', AUTH_LOGIN_WINDOW_SECONDS: '60' });
    try {
      const user = await registerUser(t);
      const attacker = { email: uniqueEmail('spray'), password: 'Spring2026!!' };
      for (let attempt = 0; attempt < 2; attempt++) expect((await loginVia(t, attacker, '10.9.0.5', '203.0.113.66')).statusCode).toBe(401);
      expect((await loginVia(t, user, '10.9.0.5', '203.0.113.66')).statusCode).toBe(429);
      // Another client behind the same proxy is not locked out with the attacker.
      expect((await loginVia(t, user, '10.9.0.5', '203.0.113.67')).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});
