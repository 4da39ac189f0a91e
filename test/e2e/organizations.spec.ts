import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  detailFields,
  expectErrorEnvelope,
  insertUsers,
  ORGANIZATION_KEYS,
  serverErrors,
  snapshotTables,
  sortedKeys,
  type SeedUser,
} from '../helpers/api.js';

interface OrganizationJson {
  id: string;
  name: string;
  slug: string;
  createdAt: string;
  updatedAt: string;
}
interface StatsJson {
  organizationId: string;
  totalUsers: number;
  activeUsers: number;
  inactiveUsers: number;
  pendingUsers: number;
  suspendedUsers: number;
  newUsers30d: number;
  avgSecondsToFirstLogin: number | null;
}

const STATS_KEYS = [
  'activeUsers',
  'avgSecondsToFirstLogin',
  'inactiveUsers',
  'newUsers30d',
  'organizationId',
  'pendingUsers',
  'suspendedUsers',
  'totalUsers',
].sort();
const DAY = 86_400_000;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A user created `days` ago whose first login came `loginAfterSeconds` later (or never). */
function aged(email: string, status: SeedUser['status'], days: number, loginAfterSeconds: number | null, organizationId: string | null): SeedUser {
  const created = Date.now() - days * DAY;
  return {
    email,
    status,
    organizationId,
    createdAt: new Date(created).toISOString(),
    firstLoginAt: loginAfterSeconds === null ? null : new Date(created + loginAfterSeconds * 1000).toISOString(),
  };
}

describe('organizations', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function createOrg(name: string, slug: string): Promise<OrganizationJson> {
    const res = await t.app.inject({ method: 'POST', url: '/organizations', payload: { name, slug } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<OrganizationJson>();
  }

  async function stats(id: string): Promise<StatsJson> {
    const res = await t.app.inject({ method: 'GET', url: `/organizations/${id}/stats` });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<StatsJson>();
    expect(sortedKeys(body)).toEqual(STATS_KEYS);
    return body;
  }

  describe('POST /organizations and GET /organizations/:id', () => {
    it('creates an organization and reads it back with exactly the public fields', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/organizations', payload: { name: 'Acme Corporation', slug: 'acme' } });
      expect(res.statusCode).toBe(201);
      const org = res.json<OrganizationJson>();
      expect(sortedKeys(org)).toEqual(ORGANIZATION_KEYS);
      expect(org).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        name: 'Acme Corporation',
        slug: 'acme',
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
      });
      const { rows } = await t.sql.query('SELECT name, slug FROM organizations WHERE id = $1', [org.id]);
      expect(rows).toEqual([{ name: 'Acme Corporation', slug: 'acme' }]);

      const read = await t.app.inject({ method: 'GET', url: `/organizations/${org.id}` });
      expect(read.statusCode).toBe(200);
      expect(read.json()).toEqual(org);
    });

    it('accepts the slug bounds: one character, 63 characters, digits and inner dashes', async () => {
      for (const slug of ['a', '7', `a${'b'.repeat(62)}`, '0-day-labs', 'x--y']) {
        expect((await createOrg(`Org ${slug}`, slug)).slug).toBe(slug);
      }
    });

    it('stores SQL-looking and unicode names literally', async () => {
      const name = "Bobby'); DROP TABLE organizations;-- Ünïcødé 🏢";
      const org = await createOrg(name, 'bobby-tables');
      const { rows } = await t.sql.query('SELECT name FROM organizations WHERE id = $1', [org.id]);
      expect(rows).toEqual([{ name }]);
    });

    it('refuses a duplicate slug with 409 DUPLICATE_ORGANIZATION_SLUG and changes nothing', async () => {
      await createOrg('Original', 'unique-slug');
      const before = await snapshotTables(t.sql);
      const res = await t.app.inject({ method: 'POST', url: '/organizations', payload: { name: 'Copy', slug: 'unique-slug' } });
      const error = expectErrorEnvelope(res, { status: 409, code: 'DUPLICATE_ORGANIZATION_SLUG', url: '/organizations' });
      expect(detailFields(error)).toEqual(['slug']);
      expect(await snapshotTables(t.sql)).toEqual(before);
      const { rows } = await t.sql.query("SELECT name FROM organizations WHERE slug = 'unique-slug'");
      expect(rows).toEqual([{ name: 'Original' }]);
    });

    it('answers 404 ORGANIZATION_NOT_FOUND for an id that does not exist', async () => {
      const url = '/organizations/01900000-0000-7000-8000-000000000000';
      expectErrorEnvelope(await t.app.inject({ method: 'GET', url }), { status: 404, code: 'ORGANIZATION_NOT_FOUND', url });
    });
  });

  describe('GET /organizations/:id/stats', () => {
    it('an organization without users has zero counts and no average', async () => {
      const org = await createOrg('Empty', 'empty');
      expect(await stats(org.id)).toEqual({
        organizationId: org.id,
        totalUsers: 0,
        activeUsers: 0,
        inactiveUsers: 0,
        pendingUsers: 0,
        suspendedUsers: 0,
        newUsers30d: 0,
        avgSecondsToFirstLogin: null,
      });
    });

    it('computes every number exactly from the rows, counting only this organization', async () => {
      const org = await createOrg('Stats', 'stats');
      const other = await createOrg('Other', 'other');
      await insertUsers(t.sql, [
        aged('s1@stats.test', 'active', 10, 60, org.id),
        aged('s2@stats.test', 'active', 29, 120, org.id),
        aged('s3@stats.test', 'active', 31, null, org.id),
        aged('s4@stats.test', 'inactive', 400, 3600, org.id),
        aged('s5@stats.test', 'pending', 1, null, org.id),
        aged('s6@stats.test', 'pending', 2, null, org.id),
        aged('s7@stats.test', 'suspended', 40, 7200.5, org.id),
        // Users elsewhere, with extreme values that would show if they were counted.
        aged('o1@stats.test', 'active', 0, 1_000_000, other.id),
        aged('o2@stats.test', 'suspended', 5, 9_999_999, other.id),
        aged('n1@stats.test', 'inactive', 3, 5_000_000, null),
      ]);
      // (60 + 120 + 3600 + 7200.5) / 4 = 2745.125, rounded to whole seconds.
      expect(await stats(org.id)).toEqual({
        organizationId: org.id,
        totalUsers: 7,
        activeUsers: 3,
        inactiveUsers: 1,
        pendingUsers: 2,
        suspendedUsers: 1,
        newUsers30d: 4,
        avgSecondsToFirstLogin: 2745,
      });
      expect(await stats(other.id)).toEqual({
        organizationId: other.id,
        totalUsers: 2,
        activeUsers: 1,
        inactiveUsers: 0,
        pendingUsers: 0,
        suspendedUsers: 1,
        newUsers30d: 2,
        avgSecondsToFirstLogin: Math.round((1_000_000 + 9_999_999) / 2),
      });
    });

    it('rounds the average to the nearest second', async () => {
      const org = await createOrg('Rounding', 'rounding');
      await insertUsers(t.sql, [aged('r1@stats.test', 'active', 1, 1, org.id), aged('r2@stats.test', 'active', 1, 2, org.id)]);
      expect((await stats(org.id)).avgSecondsToFirstLogin).toBe(2);
      await insertUsers(t.sql, [aged('r3@stats.test', 'active', 1, 0.2, org.id)]);
      // (1 + 2 + 0.2) / 3 = 1.0667
      expect((await stats(org.id)).avgSecondsToFirstLogin).toBe(1);
    });

    it('follows changes made through the users API', async () => {
      const org = await createOrg('Live', 'live');
      const base = await stats(org.id);
      expect(base.totalUsers).toBe(0);

      const created = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'live1@stats.test', name: 'L1', organizationId: org.id } });
      const second = await t.app.inject({
        method: 'POST',
        url: '/users',
        payload: { email: 'live2@stats.test', name: 'L2', organizationId: org.id, status: 'active' },
      });
      expect([created.statusCode, second.statusCode]).toEqual([201, 201]);
      expect(await stats(org.id)).toMatchObject({ totalUsers: 2, pendingUsers: 1, activeUsers: 1, newUsers30d: 2, avgSecondsToFirstLogin: null });

      const firstId = created.json<{ id: string }>().id;
      const secondId = second.json<{ id: string }>().id;
      expect((await t.app.inject({ method: 'PATCH', url: `/users/${firstId}`, payload: { status: 'suspended' } })).statusCode).toBe(200);
      expect(await stats(org.id)).toMatchObject({ totalUsers: 2, pendingUsers: 0, activeUsers: 1, suspendedUsers: 1 });

      expect((await t.app.inject({ method: 'PATCH', url: `/users/${secondId}`, payload: { organizationId: null } })).statusCode).toBe(200);
      expect(await stats(org.id)).toMatchObject({ totalUsers: 1, activeUsers: 0, suspendedUsers: 1 });

      expect((await t.app.inject({ method: 'DELETE', url: `/users/${firstId}` })).statusCode).toBe(204);
      expect(await stats(org.id)).toMatchObject({ totalUsers: 0, suspendedUsers: 0, newUsers30d: 0 });
    });

    it('answers 404 ORGANIZATION_NOT_FOUND for an unknown organization and 400 for a bad id', async () => {
      const url = '/organizations/01900000-0000-7000-8000-000000000000/stats';
      expectErrorEnvelope(await t.app.inject({ method: 'GET', url }), { status: 404, code: 'ORGANIZATION_NOT_FOUND', url });
      const bad = '/organizations/not-a-uuid/stats';
      const error = expectErrorEnvelope(await t.app.inject({ method: 'GET', url: bad }), { status: 400, code: 'VALIDATION_FAILED', url: bad });
      expect(detailFields(error)).toEqual(['id']);
    });
  });

  it('logged no server error while these tests ran', () => {
    expect(serverErrors(t.logs)).toEqual([]);
  });
});
