import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/modules/auth/auth.service.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { auditRows, login, registerUser, strongPassword, type SessionJson } from '../helpers/auth.js';

// The admin bootstrap: ADMIN_EMAIL + ADMIN_PASSWORD at start, and AuthService.ensureAdmin, which
// `npm run admin:create` calls.

describe('admin bootstrap', () => {
  const email = 'bootstrap-admin@example.com';
  const password = strongPassword();
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ ADMIN_EMAIL: email, ADMIN_PASSWORD: password });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates an active admin of the default organization at start', async () => {
    const res = await login(t, email, password);
    expect(res.statusCode, res.body).toBe(200);
    const session = res.json<SessionJson>();
    expect(session.user).toMatchObject({ role: 'admin', status: 'active', organizationId: '00000000-0000-7000-8000-000000000001' });
    const rows = await auditRows(t, session.user.id);
    expect(rows.find((row) => row.event === 'admin_created')?.details).toEqual({ source: 'ADMIN_EMAIL', promoted: false });
    expect(t.logs.map((line) => JSON.stringify(line)).filter((line) => line.includes(password))).toEqual([]);
  });

  it('does it once: a later start does not touch an existing user', async () => {
    await t.app.get(AuthService).onApplicationBootstrap();
    const { rows } = await t.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE event = 'admin_created'`);
    expect(rows[0]!.n).toBe(1);
  });

  it('promotes an existing user, sets the password and ends its sessions (admin:create)', async () => {
    const user = await registerUser(t);
    const newPassword = strongPassword();
    const result = await t.app.get(AuthService).ensureAdmin(user.email, newPassword, { source: 'admin:create' });
    expect(result).toMatchObject({ created: false, user: { id: user.user.id, role: 'admin', status: 'active' } });
    expect((await t.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: user.refreshToken } })).statusCode).toBe(401);
    expect((await login(t, user.email, newPassword)).statusCode).toBe(200);
  });

  it('refuses a weak admin password', async () => {
    await expect(t.app.get(AuthService).ensureAdmin('weak-admin@example.com', 'password1234', { source: 'admin:create' })).rejects.toMatchObject({
      code: 'WEAK_PASSWORD',
    });
  });
});
