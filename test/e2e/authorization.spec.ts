import 'reflect-metadata';
import type { LightMyRequestResponse } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResourceAccessService } from '../../src/modules/access/access.service.js';
import { AccessTokens } from '../../src/platform/security/access-tokens.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { expectErrorEnvelope, insertOrganization, serverErrors, snapshotTables, type UserJson } from '../helpers/api.js';
import { refresh, registerUser, type TokenPairJson } from '../helpers/auth.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';

interface Page {
  data: UserJson[];
  meta: { total?: number };
}

/**
 * Authorization of the users and organizations APIs (OWASP API Security Top 10 2023): BOLA (API1),
 * broken property-level authorization (API3) and BFLA (API5), across two tenants.
 */
describe('authorization', () => {
  let t: TestApp;
  let orgA: string;
  let orgB: string;
  let aUser: TestPrincipal;
  let aPeer: TestPrincipal;
  let aModerator: TestPrincipal;
  let aAdmin: TestPrincipal;
  let bUser: TestPrincipal;
  let bAdmin: TestPrincipal;

  const as = (principal: TestPrincipal) => ({
    get: (url: string) => t.app.inject({ method: 'GET', url, headers: principal.headers }),
    post: (url: string, payload: object) => t.app.inject({ method: 'POST', url, payload, headers: principal.headers }),
    patch: (url: string, payload: object) => t.app.inject({ method: 'PATCH', url, payload, headers: principal.headers }),
    delete: (url: string) => t.app.inject({ method: 'DELETE', url, headers: principal.headers }),
  });

  async function userRow(id: string): Promise<Record<string, unknown> | undefined> {
    const { rows } = await t.sql.query('SELECT id, email, name, role, status, organization_id, metadata, updated_at FROM users WHERE id = $1', [id]);
    return rows[0] as Record<string, unknown> | undefined;
  }

  beforeAll(async () => {
    t = await startTestApp();
    orgA = await insertOrganization(t.sql, 'acme');
    orgB = await insertOrganization(t.sql, 'globex');
    aUser = await createPrincipal(t.app, t.sql, { role: 'user', organizationId: orgA });
    aPeer = await createPrincipal(t.app, t.sql, { role: 'user', organizationId: orgA });
    aModerator = await createPrincipal(t.app, t.sql, { role: 'moderator', organizationId: orgA });
    aAdmin = await createPrincipal(t.app, t.sql, { role: 'admin', organizationId: orgA });
    bUser = await createPrincipal(t.app, t.sql, { role: 'user', organizationId: orgB });
    bAdmin = await createPrincipal(t.app, t.sql, { role: 'admin', organizationId: orgB });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('BOLA: another organization does not exist for the caller', () => {
    it.each(['user', 'moderator', 'admin'] as const)('a %s of A cannot read, change or delete a user of B (404), and nothing changes', async (role) => {
      const caller = { user: aUser, moderator: aModerator, admin: aAdmin }[role];
      const url = `/users/${bUser.id}`;
      const before = await snapshotTables(t.sql);
      expectErrorEnvelope(await as(caller).get(url), { status: 404, code: 'USER_NOT_FOUND', url });
      expectErrorEnvelope(await as(caller).patch(url, { name: 'Hijacked' }), { status: 404, code: 'USER_NOT_FOUND', url });
      if (role === 'admin') expectErrorEnvelope(await as(caller).delete(url), { status: 404, code: 'USER_NOT_FOUND', url });
      expect(await snapshotTables(t.sql)).toEqual(before);
    });

    it("answers a foreign user exactly like a user that does not exist", async () => {
      const missing = `/users/01900000-0000-7000-8000-000000000000`;
      const foreign = await as(aAdmin).get(`/users/${bUser.id}`);
      const unknown = await as(aAdmin).get(missing);
      expect(foreign.statusCode).toBe(unknown.statusCode);
      expect(foreign.json<{ error: { code: string; message: string } }>().error.message).toBe(unknown.json<{ error: { message: string } }>().error.message);
    });

    it("lists only the caller's organization, and another organization's filter matches nothing", async () => {
      const mine = (await as(aAdmin).get('/users?limit=100')).json<Page>();
      expect(mine.data.length).toBe(4);
      for (const user of mine.data) expect(user.organizationId).toBe(orgA);
      const theirs = await as(aAdmin).get(`/users?organizationId=${orgB}`);
      expect(theirs.statusCode).toBe(200);
      expect(theirs.json<Page>()).toMatchObject({ data: [], meta: { total: 0 } });
      const keyset = await as(aModerator).get(`/users?organizationId=${orgB}&cursor=`);
      expect(keyset.json<Page>().data).toEqual([]);
    });

    it('hides other organizations and their stats (404), even from their admins', async () => {
      for (const url of [`/organizations/${orgB}`, `/organizations/${orgB}/stats`]) {
        expectErrorEnvelope(await as(aAdmin).get(url), { status: 404, code: 'ORGANIZATION_NOT_FOUND', url });
      }
      expect((await as(bAdmin).get(`/organizations/${orgB}/stats`)).statusCode).toBe(200);
    });
  });

  describe('a user and itself', () => {
    it('reads itself through /users/:id and /auth/me', async () => {
      const read = await as(aUser).get(`/users/${aUser.id}`);
      expect(read.statusCode).toBe(200);
      expect(read.json<UserJson>()).toMatchObject({ id: aUser.id, organizationId: orgA, role: 'user' });
      expect((await as(aUser).get('/auth/me')).json<UserJson>().id).toBe(aUser.id);
    });

    it('updates its own name, metadata and profile', async () => {
      const res = await as(aUser).patch(`/users/${aUser.id}`, { name: 'Self Made', metadata: { theme: 'dark' }, profile: { bio: 'me' } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json<UserJson>()).toMatchObject({ name: 'Self Made', metadata: { theme: 'dark' }, profile: { bio: 'me' } });
    });

    it.each([
      ['role', { role: 'admin' }],
      ['status', { status: 'suspended' }],
      ['organizationId', { organizationId: null }],
      ['organizationId of another tenant', { organizationId: 'B' }],
      ['role next to an allowed field', { name: 'Sneaky', role: 'moderator' }],
    ])('cannot write its own %s (403), and the row is unchanged', async (_field, body) => {
      const payload = 'organizationId' in body && body.organizationId === 'B' ? { organizationId: orgB } : body;
      const before = await userRow(aUser.id);
      const url = `/users/${aUser.id}`;
      expectErrorEnvelope(await as(aUser).patch(url, payload), { status: 403, code: 'FORBIDDEN', url });
      expect(await userRow(aUser.id)).toEqual(before);
    });

    it('a moderator cannot raise its own role either', async () => {
      const url = `/users/${aModerator.id}`;
      expectErrorEnvelope(await as(aModerator).patch(url, { role: 'admin' }), { status: 403, code: 'FORBIDDEN', url });
      expect((await userRow(aModerator.id))?.role).toBe('moderator');
    });
  });

  describe('BFLA: functions a role does not have', () => {
    it('a plain user cannot read, change or delete a colleague, or call admin routes (403)', async () => {
      const before = await snapshotTables(t.sql);
      const peer = `/users/${aPeer.id}`;
      const forbidden: Array<[string, Promise<LightMyRequestResponse>]> = [
        [peer, as(aUser).get(peer)],
        [peer, as(aUser).patch(peer, { name: 'Renamed' })],
        [peer, as(aUser).delete(peer)],
        ['/users', as(aUser).get('/users')],
        ['/users', as(aUser).post('/users', { email: 'new@acme.test', name: 'New' })],
        ['/users/batch', as(aUser).post('/users/batch', { users: [{ email: 'b@acme.test', name: 'B' }] })],
        [`/organizations/${orgA}/stats`, as(aUser).get(`/organizations/${orgA}/stats`)],
        ['/organizations', as(aUser).post('/organizations', { name: 'Mine', slug: 'mine' })],
      ];
      for (const [url, res] of forbidden) expectErrorEnvelope(await res, { status: 403, code: 'FORBIDDEN', url });
      expect(await snapshotTables(t.sql)).toEqual(before);
      // Reading its own organization is allowed.
      expect((await as(aUser).get(`/organizations/${orgA}`)).statusCode).toBe(200);
    });

    it('a moderator reads and updates colleagues, but cannot create, delete, change roles or see stats', async () => {
      const peer = `/users/${aPeer.id}`;
      expect((await as(aModerator).get(peer)).statusCode).toBe(200);
      expect((await as(aModerator).get('/users')).statusCode).toBe(200);
      const renamed = await as(aModerator).patch(peer, { name: 'Moderated' });
      expect(renamed.statusCode).toBe(200);
      const before = await userRow(aPeer.id);
      const forbidden: Array<[string, Promise<LightMyRequestResponse>]> = [
        [peer, as(aModerator).patch(peer, { role: 'moderator' })],
        [peer, as(aModerator).patch(peer, { status: 'suspended' })],
        [peer, as(aModerator).delete(peer)],
        ['/users', as(aModerator).post('/users', { email: 'mod@acme.test', name: 'Mod' })],
        [`/organizations/${orgA}/stats`, as(aModerator).get(`/organizations/${orgA}/stats`)],
      ];
      for (const [url, res] of forbidden) expectErrorEnvelope(await res, { status: 403, code: 'FORBIDDEN', url });
      expect(await userRow(aPeer.id)).toEqual(before);
    });
  });

  describe('organization admins', () => {
    it('create users in their own organization, by default and explicitly, with any role', async () => {
      const implicit = await as(aAdmin).post('/users', { email: 'implicit@acme.test', name: 'Implicit' });
      expect(implicit.statusCode, implicit.body).toBe(201);
      expect(implicit.json<UserJson>().organizationId).toBe(orgA);
      const explicit = await as(aAdmin).post('/users', { email: 'explicit@acme.test', name: 'Explicit', organizationId: orgA, role: 'moderator', status: 'active' });
      expect(explicit.statusCode, explicit.body).toBe(201);
      expect(explicit.json<UserJson>()).toMatchObject({ organizationId: orgA, role: 'moderator', status: 'active' });
    });

    it('cannot create users in, or move users to, another organization or none (403, nothing changes)', async () => {
      const before = await snapshotTables(t.sql);
      const created = await as(aAdmin).post('/users', { email: 'planted@globex.test', name: 'Planted', organizationId: orgB });
      expectErrorEnvelope(created, { status: 403, code: 'FORBIDDEN', url: '/users' });
      const url = `/users/${aPeer.id}`;
      expectErrorEnvelope(await as(aAdmin).patch(url, { organizationId: orgB }), { status: 403, code: 'FORBIDDEN', url });
      expectErrorEnvelope(await as(aAdmin).patch(url, { organizationId: null }), { status: 403, code: 'FORBIDDEN', url });
      // An organization that does not exist gets the same answer: no oracle for organization ids.
      expectErrorEnvelope(await as(aAdmin).patch(url, { organizationId: '01900000-0000-7000-8000-000000000000' }), { status: 403, code: 'FORBIDDEN', url });
      expect(await snapshotTables(t.sql)).toEqual(before);
    });

    it('fail only the batch items aimed at another organization', async () => {
      const res = await as(aAdmin).post('/users/batch', {
        users: [
          { email: 'batch-ok@acme.test', name: 'Ok' },
          { email: 'batch-foreign@globex.test', name: 'Foreign', organizationId: orgB },
        ],
      });
      expect(res.statusCode).toBe(207);
      const body = res.json<{ results: Array<{ status: number; data?: UserJson; error?: { code: string } }> }>();
      expect(body.results.map((result) => result.status)).toEqual([201, 403]);
      expect(body.results[0]!.data!.organizationId).toBe(orgA);
      expect(body.results[1]!.error!.code).toBe('FORBIDDEN');
      const { rows } = await t.sql.query('SELECT 1 FROM users WHERE email = $1', ['batch-foreign@globex.test']);
      expect(rows).toEqual([]);
    });

    it('change roles and status and delete users of their organization, and see its stats', async () => {
      const target = await createPrincipal(t.app, t.sql, { role: 'user', organizationId: orgA });
      const promoted = await as(aAdmin).patch(`/users/${target.id}`, { role: 'moderator', status: 'suspended' });
      expect(promoted.statusCode, promoted.body).toBe(200);
      expect(promoted.json<UserJson>()).toMatchObject({ role: 'moderator', status: 'suspended' });
      expect((await as(aAdmin).get(`/organizations/${orgA}/stats`)).statusCode).toBe(200);
      expect((await as(aAdmin).delete(`/users/${target.id}`)).statusCode).toBe(204);
      expect(await userRow(target.id)).toBeUndefined();
    });

    it('cannot create organizations: that is a platform function', async () => {
      expectErrorEnvelope(await as(aAdmin).post('/organizations', { name: 'Spinoff', slug: 'spinoff' }), { status: 403, code: 'FORBIDDEN', url: '/organizations' });
    });
  });

  describe('platform admins (admins of the default organization)', () => {
    it('act in every organization', async () => {
      expect((await t.app.inject({ method: 'GET', url: `/users/${bUser.id}` })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: `/organizations/${orgB}/stats` })).statusCode).toBe(200);
      const all = (await t.app.inject({ method: 'GET', url: '/users?limit=100' })).json<Page>();
      expect(new Set(all.data.map((user) => user.organizationId))).toEqual(new Set([orgA, orgB, t.admin.organizationId]));
      const moved = await t.app.inject({ method: 'PATCH', url: `/users/${bUser.id}`, payload: { organizationId: orgA } });
      expect(moved.statusCode).toBe(200);
      expect(moved.json<UserJson>().organizationId).toBe(orgA);
    });

    it('an admin of another organization is not one', async () => {
      const spec = await createPrincipal(t.app, t.sql, { role: 'admin', organizationId: orgB });
      expect((await as(spec).get(`/users/${aUser.id}`)).statusCode).toBe(404);
    });
  });

  describe('through the real sign-up and login flow', () => {
    it('a new sign-up is a plain user of the default organization, and its token says so', async () => {
      const session = await registerUser(t);
      const caller = { headers: { authorization: `Bearer ${session.accessToken}` } };
      const payload = JSON.parse(Buffer.from(session.accessToken.split('.')[1]!, 'base64url').toString('utf8')) as { permissions: string[] };
      expect(payload.permissions).not.toContain('platform:admin');
      expect((await t.app.inject({ method: 'GET', url: '/users', ...caller })).statusCode).toBe(403);
      expect((await t.app.inject({ method: 'GET', url: `/users/${session.user.id}`, ...caller })).statusCode).toBe(200);
      const url = `/users/${session.user.id}`;
      expectErrorEnvelope(await t.app.inject({ method: 'PATCH', url, payload: { role: 'admin' }, ...caller }), { status: 403, code: 'FORBIDDEN', url });
    });

    it('a change of role takes effect at once: the old token is refused, a refreshed one carries the new permissions', async () => {
      const session = await registerUser(t);
      const promoted = await t.app.inject({ method: 'PATCH', url: `/users/${session.user.id}`, payload: { role: 'moderator' } });
      expect(promoted.statusCode).toBe(200);
      const stale = await t.app.inject({ method: 'GET', url: '/users', headers: { authorization: `Bearer ${session.accessToken}` } });
      expectErrorEnvelope(stale, { status: 401, code: 'TOKEN_INVALID', url: '/users' });
      const renewed = await refresh(t, session.refreshToken);
      expect(renewed.statusCode).toBe(200);
      const token = renewed.json<TokenPairJson>().accessToken;
      expect((await t.app.inject({ method: 'GET', url: '/users', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
    });

    it('the bootstrap admin of the default organization is a platform admin', async () => {
      const session = await registerUser(t);
      await t.sql.query("UPDATE users SET role = 'admin' WHERE id = $1", [session.user.id]);
      const renewed = await refresh(t, session.refreshToken);
      const token = renewed.json<TokenPairJson>().accessToken;
      const res = await t.app.inject({ method: 'GET', url: `/organizations/${orgB}/stats`, headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode, res.body).toBe(200);
    });
  });

  describe('ResourceAccessService (ownership, team role, global permission)', () => {
    it('grants team members what their team role allows on the team\'s resources, inside the tenant only', async () => {
      const access = t.app.get(ResourceAccessService);
      const tokens = t.app.get(AccessTokens);
      const teamId = uuidv7();
      await t.sql.query('INSERT INTO teams (id, organization_id, name) VALUES ($1, $2, $3)', [teamId, orgA, 'core']);
      const member = await tokens.verify(aUser.accessToken);
      const owner = await tokens.verify(aPeer.accessToken);
      await t.sql.query("INSERT INTO team_memberships (team_id, user_id, role) VALUES ($1, $2, 'member'), ($1, $3, 'owner')", [teamId, member.userId, owner.userId]);
      const resource = { type: 'user' as const, organizationId: orgA, ownerId: aModerator.id, teamId };
      expect(await access.decide(member, resource, 'read')).toBe('allowed');
      expect(await access.decide(member, resource, 'update')).toBe('forbidden');
      expect(await access.decide(owner, resource, 'delete')).toBe('allowed');
      // Without the team, a plain user has no organization-wide right on someone else's resource.
      expect(await access.decide(member, { ...resource, teamId: null }, 'read')).toBe('forbidden');
      // Ownership needs no team; another tenant hides the resource even from a team member.
      expect(await access.decide(member, { type: 'user', organizationId: orgA, ownerId: member.userId }, 'update')).toBe('allowed');
      expect(await access.decide(member, { ...resource, organizationId: orgB }, 'read')).toBe('hidden');
      // The global permission path: an organization admin, and the platform admin anywhere.
      expect(await access.decide(await tokens.verify(aAdmin.accessToken), { ...resource, teamId: null }, 'delete')).toBe('allowed');
      expect(await access.decide(await tokens.verify(t.admin.accessToken), { ...resource, organizationId: orgB, teamId: null }, 'delete')).toBe('allowed');
    });
  });

  it('logged no server error', () => {
    expect(serverErrors(t.logs)).toEqual([]);
  });
});
