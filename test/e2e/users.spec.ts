import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  countUsers,
  detailFields,
  expectErrorEnvelope,
  expectNoLeaks,
  expectPublicUser,
  insertOrganization,
  insertUsers,
  serverErrors,
  snapshotTables,
  type UserJson,
} from '../helpers/api.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface UserRow {
  id: string;
  email: string;
  name: string;
  status: string;
  role: string;
  organization_id: string | null;
  metadata: unknown;
  password_hash: string | null;
  created_at: Date;
  updated_at: Date;
}

describe('users CRUD', () => {
  let t: TestApp;
  let orgA: string;
  let orgB: string;

  beforeAll(async () => {
    t = await startTestApp();
    orgA = await insertOrganization(t.sql, 'crud-a');
    orgB = await insertOrganization(t.sql, 'crud-b');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function create(payload: Record<string, unknown>): Promise<UserJson> {
    const res = await t.app.inject({ method: 'POST', url: '/users', payload });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<UserJson>();
  }

  async function row(id: string): Promise<UserRow | undefined> {
    const { rows } = await t.sql.query<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
    return rows[0];
  }

  async function profileRow(id: string): Promise<Record<string, unknown> | undefined> {
    const { rows } = await t.sql.query(
      'SELECT display_name, bio, avatar_url, locale, timezone FROM user_profiles WHERE user_id = $1',
      [id],
    );
    return rows[0] as Record<string, unknown> | undefined;
  }

  describe('POST /users', () => {
    it('creates a user with defaults and returns exactly the public fields', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'grace@example.com', name: 'Grace Hopper' } });
      expect(res.statusCode).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const user = res.json<UserJson>();
      expectPublicUser(user);
      expect(user).toEqual({
        id: expect.stringMatching(UUID_V7),
        email: 'grace@example.com',
        name: 'Grace Hopper',
        status: 'pending',
        role: 'user',
        organizationId: null,
        metadata: {},
        emailVerifiedAt: null,
        lastLoginAt: null,
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        profile: null,
      });
      expect(user.createdAt).toBe(user.updatedAt);

      const stored = await row(user.id);
      expect(stored).toMatchObject({
        email: 'grace@example.com',
        name: 'Grace Hopper',
        status: 'pending',
        role: 'user',
        organization_id: null,
        metadata: {},
        password_hash: null,
      });
      expect(stored!.created_at.toISOString()).toBe(user.createdAt);
      expect(await profileRow(user.id)).toBeUndefined();
    });

    it('creates a user with every field: organization, role, status, metadata and profile', async () => {
      const metadata = { plan: 'pro', seats: 5, tags: ['a', 'b'], nested: { deep: { ok: true } }, nothing: null };
      const profile = {
        displayName: 'Ada',
        bio: 'First programmer',
        avatarUrl: 'https://example.com/ada.png',
        locale: 'en-GB',
        timezone: 'Europe/London',
      };
      const user = await create({
        email: 'Ada.Lovelace@Example.com',
        name: 'Ada Lovelace',
        organizationId: orgA,
        role: 'admin',
        status: 'active',
        metadata,
        profile,
      });
      expectPublicUser(user);
      expect(user).toMatchObject({
        // The address is stored as given; uniqueness is case-insensitive (below).
        email: 'Ada.Lovelace@Example.com',
        organizationId: orgA,
        role: 'admin',
        status: 'active',
        metadata,
        profile,
      });
      expect(await row(user.id)).toMatchObject({ organization_id: orgA, role: 'admin', status: 'active', metadata });
      expect(await profileRow(user.id)).toEqual({
        display_name: 'Ada',
        bio: 'First programmer',
        avatar_url: 'https://example.com/ada.png',
        locale: 'en-GB',
        timezone: 'Europe/London',
      });
    });

    it('creates a partial profile with the other fields null', async () => {
      const user = await create({ email: 'partial@example.com', name: 'Partial', profile: { bio: 'only a bio' } });
      expect(user.profile).toEqual({ displayName: null, bio: 'only a bio', avatarUrl: null, locale: null, timezone: null });
      expect(await profileRow(user.id)).toEqual({ display_name: null, bio: 'only a bio', avatar_url: null, locale: null, timezone: null });
    });

    it('stores SQL-looking and unicode text literally', async () => {
      const name = "Robert'); DROP TABLE users;-- 🚀 Ünïcødé";
      const user = await create({ email: "o'brien+tag@example.com", name, metadata: { q: "' OR 1=1--" } });
      expect(user.name).toBe(name);
      expect(user.email).toBe("o'brien+tag@example.com");
      expect((await row(user.id))!.name).toBe(name);
      const read = await t.app.inject({ method: 'GET', url: `/users/${user.id}` });
      expect(read.json<UserJson>().metadata).toEqual({ q: "' OR 1=1--" });
    });

    it('refuses a duplicate email, case-insensitively, and changes nothing', async () => {
      const first = await create({ email: 'dup@example.com', name: 'First' });
      const before = await snapshotTables(t.sql);
      for (const email of ['dup@example.com', 'DUP@EXAMPLE.COM', 'Dup@Example.Com']) {
        const res = await t.app.inject({ method: 'POST', url: '/users', payload: { email, name: 'Second' } });
        const error = expectErrorEnvelope(res, { status: 409, code: 'DUPLICATE_EMAIL', url: '/users' });
        expect(detailFields(error)).toEqual(['email']);
      }
      expect(await snapshotTables(t.sql)).toEqual(before);
      expect((await row(first.id))!.name).toBe('First');
    });

    it('refuses an unknown organization with 404 and creates nothing', async () => {
      const before = await snapshotTables(t.sql);
      const res = await t.app.inject({
        method: 'POST',
        url: '/users',
        payload: { email: 'orphan@example.com', name: 'Orphan', organizationId: '01900000-0000-7000-8000-000000000000', profile: { bio: 'x' } },
      });
      const error = expectErrorEnvelope(res, { status: 404, code: 'ORGANIZATION_NOT_FOUND', url: '/users' });
      expect(detailFields(error)).toEqual(['organizationId']);
      expect(await snapshotTables(t.sql)).toEqual(before);
    });
  });

  describe('GET /users/:id', () => {
    it('returns the same representation as the create response', async () => {
      const created = await create({ email: 'reader@example.com', name: 'Reader', profile: { displayName: 'R' }, metadata: { a: 1 } });
      const res = await t.app.inject({ method: 'GET', url: `/users/${created.id}` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(created);
    });

    it('never exposes the password hash or other internal columns, in one user or in lists', async () => {
      const hash = '$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0c2FsdA$SECRETHASHVALUE';
      const [id] = await insertUsers(t.sql, [
        { email: 'hashed@example.com', name: 'Hashed', passwordHash: hash, firstLoginAt: '2024-01-01T00:00:00Z' },
      ]);
      const one = await t.app.inject({ method: 'GET', url: `/users/${id}` });
      expect(one.statusCode).toBe(200);
      expectPublicUser(one.json());
      expect(one.body).not.toContain('SECRETHASHVALUE');
      expectNoLeaks(one.body);

      const list = await t.app.inject({ method: 'GET', url: '/users?email=hashed@' });
      expect(list.statusCode).toBe(200);
      const page = list.json<{ data: unknown[] }>();
      expect(page.data).toHaveLength(1);
      for (const user of page.data) expectPublicUser(user);
      expect(list.body).not.toContain('SECRETHASHVALUE');
      expect(list.body).not.toMatch(/first_?login/i);

      const patched = await t.app.inject({ method: 'PATCH', url: `/users/${id}`, payload: { name: 'Still hashed' } });
      expect(patched.statusCode).toBe(200);
      expectPublicUser(patched.json());
      expect(patched.body).not.toContain('SECRETHASHVALUE');
      // PATCH leaves the hash alone.
      expect((await row(id!))!.password_hash).toBe(hash);
    });

    it('answers 404 USER_NOT_FOUND for a well-formed id that does not exist', async () => {
      const url = '/users/01900000-0000-7000-8000-000000000001';
      expectErrorEnvelope(await t.app.inject({ method: 'GET', url }), { status: 404, code: 'USER_NOT_FOUND', url });
    });
  });

  describe('PATCH /users/:id', () => {
    it('changes only the fields given and moves updatedAt forward', async () => {
      const created = await create({
        email: 'patch@example.com',
        name: 'Before',
        organizationId: orgA,
        metadata: { keep: 'no', drop: true },
        profile: { displayName: 'Old', bio: 'Old bio', locale: 'de-DE' },
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const res = await t.app.inject({
        method: 'PATCH',
        url: `/users/${created.id}`,
        payload: { name: 'After', status: 'active', role: 'moderator', metadata: { replaced: [1, 2, 3] } },
      });
      expect(res.statusCode).toBe(200);
      const updated = res.json<UserJson>();
      expectPublicUser(updated);
      expect(updated).toEqual({
        ...created,
        name: 'After',
        status: 'active',
        role: 'moderator',
        // metadata is replaced as a whole, not merged.
        metadata: { replaced: [1, 2, 3] },
        updatedAt: expect.stringMatching(ISO),
      });
      expect(Date.parse(updated.updatedAt)).toBeGreaterThan(Date.parse(created.updatedAt));
      expect(await row(created.id)).toMatchObject({
        email: 'patch@example.com',
        name: 'After',
        status: 'active',
        role: 'moderator',
        organization_id: orgA,
        metadata: { replaced: [1, 2, 3] },
      });
      expect(await profileRow(created.id)).toEqual({ display_name: 'Old', bio: 'Old bio', avatar_url: null, locale: 'de-DE', timezone: null });
    });

    it('updates the profile field by field, and null clears one field', async () => {
      const created = await create({ email: 'profile@example.com', name: 'P', profile: { displayName: 'D', bio: 'B', locale: 'fr' } });
      const res = await t.app.inject({
        method: 'PATCH',
        url: `/users/${created.id}`,
        payload: { profile: { bio: 'New bio', timezone: 'America/New_York', locale: null } },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json<UserJson>().profile).toEqual({ displayName: 'D', bio: 'New bio', avatarUrl: null, locale: null, timezone: 'America/New_York' });
      expect(await profileRow(created.id)).toEqual({ display_name: 'D', bio: 'New bio', avatar_url: null, locale: null, timezone: 'America/New_York' });
    });

    it('creates the profile on PATCH when the user had none', async () => {
      const created = await create({ email: 'noprofile@example.com', name: 'N' });
      expect(created.profile).toBeNull();
      const res = await t.app.inject({ method: 'PATCH', url: `/users/${created.id}`, payload: { profile: { avatarUrl: 'https://example.com/n.png' } } });
      expect(res.statusCode).toBe(200);
      expect(res.json<UserJson>().profile).toEqual({ displayName: null, bio: null, avatarUrl: 'https://example.com/n.png', locale: null, timezone: null });
      expect(await profileRow(created.id)).toMatchObject({ avatar_url: 'https://example.com/n.png' });
    });

    it('moves a user between organizations and out of any with null', async () => {
      const created = await create({ email: 'mover@example.com', name: 'Mover', organizationId: orgA });
      const moved = await t.app.inject({ method: 'PATCH', url: `/users/${created.id}`, payload: { organizationId: orgB } });
      expect(moved.statusCode).toBe(200);
      expect(moved.json<UserJson>().organizationId).toBe(orgB);
      expect((await row(created.id))!.organization_id).toBe(orgB);

      const removed = await t.app.inject({ method: 'PATCH', url: `/users/${created.id}`, payload: { organizationId: null } });
      expect(removed.statusCode).toBe(200);
      expect(removed.json<UserJson>().organizationId).toBeNull();
      expect((await row(created.id))!.organization_id).toBeNull();
    });

    it('changes the email, and may change the case of its own email', async () => {
      const created = await create({ email: 'old@example.com', name: 'E' });
      const changed = await t.app.inject({ method: 'PATCH', url: `/users/${created.id}`, payload: { email: 'new@example.com' } });
      expect(changed.statusCode).toBe(200);
      expect(changed.json<UserJson>().email).toBe('new@example.com');
      const recased = await t.app.inject({ method: 'PATCH', url: `/users/${created.id}`, payload: { email: 'NEW@example.com' } });
      expect(recased.statusCode).toBe(200);
      expect((await row(created.id))!.email).toBe('NEW@example.com');
      // The old address is free again.
      await create({ email: 'old@example.com', name: 'Reuse' });
    });

    it('an empty PATCH changes nothing but updatedAt', async () => {
      const created = await create({ email: 'empty-patch@example.com', name: 'Same', metadata: { x: 1 } });
      const res = await t.app.inject({ method: 'PATCH', url: `/users/${created.id}`, payload: {} });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ ...created, updatedAt: expect.stringMatching(ISO) });
    });

    it('refuses an email another user has (any case) and changes nothing', async () => {
      await create({ email: 'taken@example.com', name: 'Owner' });
      const other = await create({ email: 'other@example.com', name: 'Other' });
      const before = await snapshotTables(t.sql);
      const url = `/users/${other.id}`;
      const res = await t.app.inject({ method: 'PATCH', url, payload: { email: 'TAKEN@example.com', name: 'Renamed' } });
      const error = expectErrorEnvelope(res, { status: 409, code: 'DUPLICATE_EMAIL', url });
      expect(detailFields(error)).toEqual(['email']);
      expect(await snapshotTables(t.sql)).toEqual(before);
    });

    it('refuses an unknown organization and changes nothing', async () => {
      const created = await create({ email: 'stay@example.com', name: 'Stay', organizationId: orgA });
      const before = await snapshotTables(t.sql);
      const url = `/users/${created.id}`;
      const res = await t.app.inject({ method: 'PATCH', url, payload: { organizationId: '01900000-0000-7000-8000-00000000abcd', name: 'X' } });
      expectErrorEnvelope(res, { status: 404, code: 'ORGANIZATION_NOT_FOUND', url });
      expect(await snapshotTables(t.sql)).toEqual(before);
    });

    it('answers 404 USER_NOT_FOUND for a missing user and changes nothing', async () => {
      const before = await snapshotTables(t.sql);
      const url = '/users/01900000-0000-7000-8000-000000000002';
      expectErrorEnvelope(await t.app.inject({ method: 'PATCH', url, payload: { name: 'Ghost' } }), {
        status: 404,
        code: 'USER_NOT_FOUND',
        url,
      });
      expect(await snapshotTables(t.sql)).toEqual(before);
    });

    it.each([
      ['email', null],
      ['name', null],
      ['role', null],
      ['status', null],
      ['metadata', null],
      ['profile', null],
    ])('refuses %s: null with 400 (only organizationId may be null) and changes nothing', async (field, value) => {
      const created = await create({ email: `null-${field}@example.com`, name: 'Nullable', metadata: { kept: true } });
      const before = await snapshotTables(t.sql);
      const url = `/users/${created.id}`;
      const res = await t.app.inject({ method: 'PATCH', url, payload: { [field]: value } });
      const error = expectErrorEnvelope(res, { status: 400, code: 'VALIDATION_FAILED', url });
      expect(detailFields(error)).toEqual([field]);
      expect(await snapshotTables(t.sql)).toEqual(before);
    });
  });

  describe('metadata', () => {
    it('round-trips arbitrary JSON exactly through create, read, list and update', async () => {
      const metadata = {
        string: 'text with "quotes" and \\ backslash',
        unicode: 'héllo wörld 日本語 🎉',
        integer: 42,
        negative: -7,
        float: 3.25,
        bigish: 9007199254740991,
        boolean: false,
        nothing: null,
        emptyObject: {},
        emptyArray: [],
        array: [1, 'two', { three: 3 }, [4]],
        nested: { a: { b: { c: 'deep' } } },
      };
      const created = await create({ email: 'meta@example.com', name: 'Meta', metadata });
      expect(created.metadata).toEqual(metadata);
      const read = await t.app.inject({ method: 'GET', url: `/users/${created.id}` });
      expect(read.json<UserJson>().metadata).toEqual(metadata);
      const list = await t.app.inject({ method: 'GET', url: '/users?email=meta@example.com' });
      expect(list.json<{ data: UserJson[] }>().data[0]!.metadata).toEqual(metadata);
      expect((await row(created.id))!.metadata).toEqual(metadata);

      const replacement = { only: ['this'] };
      const patched = await t.app.inject({ method: 'PATCH', url: `/users/${created.id}`, payload: { metadata: replacement } });
      expect(patched.json<UserJson>().metadata).toEqual(replacement);
      expect((await row(created.id))!.metadata).toEqual(replacement);

      const cleared = await t.app.inject({ method: 'PATCH', url: `/users/${created.id}`, payload: { metadata: {} } });
      expect(cleared.json<UserJson>().metadata).toEqual({});
      expect((await row(created.id))!.metadata).toEqual({});
    });

    it('accepts metadata up to the size and depth limits and refuses beyond them', async () => {
      // Five levels, and a value that keeps the serialized object within 8 KiB.
      const deep = { a: { b: { c: { d: { e: 1 } } } } };
      expect((await create({ email: 'deep@example.com', name: 'Deep', metadata: deep })).metadata).toEqual(deep);
      const big = { blob: 'x'.repeat(8192 - '{"blob":""}'.length) };
      expect((await create({ email: 'big@example.com', name: 'Big', metadata: big })).metadata).toEqual(big);

      const before = await snapshotTables(t.sql);
      for (const metadata of [{ a: { b: { c: { d: { e: { f: 1 } } } } } }, { blob: 'x'.repeat(8192) }]) {
        const res = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'over@example.com', name: 'Over', metadata } });
        const error = expectErrorEnvelope(res, { status: 400, code: 'VALIDATION_FAILED', url: '/users' });
        expect(detailFields(error)).toEqual(['metadata']);
      }
      expect(await snapshotTables(t.sql)).toEqual(before);
    });
  });

  describe('DELETE /users/:id', () => {
    it('deletes the user and its profile, then answers 404', async () => {
      const keep = await create({ email: 'keep@example.com', name: 'Keep', profile: { bio: 'stays' } });
      const gone = await create({ email: 'gone@example.com', name: 'Gone', profile: { bio: 'goes' } });
      const usersBefore = await countUsers(t.sql);

      const res = await t.app.inject({ method: 'DELETE', url: `/users/${gone.id}` });
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      expect(await row(gone.id)).toBeUndefined();
      expect(await profileRow(gone.id)).toBeUndefined();
      expect(await countUsers(t.sql)).toBe(usersBefore - 1);
      expect(await row(keep.id)).toBeDefined();
      expect(await profileRow(keep.id)).toEqual(expect.objectContaining({ bio: 'stays' }));

      const url = `/users/${gone.id}`;
      expectErrorEnvelope(await t.app.inject({ method: 'GET', url }), { status: 404, code: 'USER_NOT_FOUND', url });
      expectErrorEnvelope(await t.app.inject({ method: 'PATCH', url, payload: { name: 'Back' } }), { status: 404, code: 'USER_NOT_FOUND', url });
      const before = await snapshotTables(t.sql);
      expectErrorEnvelope(await t.app.inject({ method: 'DELETE', url }), { status: 404, code: 'USER_NOT_FOUND', url });
      expect(await snapshotTables(t.sql)).toEqual(before);

      // The email is free again after the delete.
      await create({ email: 'gone@example.com', name: 'Gone again' });
    });
  });

  it('logged no server error while these tests ran', () => {
    expect(serverErrors(t.logs)).toEqual([]);
  });
});
