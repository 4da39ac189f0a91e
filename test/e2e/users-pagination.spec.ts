import 'reflect-metadata';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  expectErrorEnvelope,
  expectPublicUser,
  insertOrganization,
  insertUsers,
  serverErrors,
  snapshotTables,
  sortedKeys,
  type SeedUser,
  type UserJson,
} from '../helpers/api.js';

type Status = 'pending' | 'active' | 'inactive' | 'suspended';
type Role = 'user' | 'moderator' | 'admin';

/** A seeded user as the test knows it; timestamps keep PostgreSQL's microseconds. */
interface Seeded {
  id: string;
  email: string;
  name: string;
  status: Status;
  role: Role;
  organizationId: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Page {
  data: UserJson[];
  meta: { limit: number; hasNext: boolean; nextCursor: string | null; total?: number; page?: number };
}

const STATUSES: Status[] = ['pending', 'active', 'inactive', 'suspended'];
const ROLES: Role[] = ['user', 'moderator', 'admin'];
const SORTS = ['createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'email', '-email', 'name', '-name'] as const;
const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order the API promises: by the sort field, then by id, both in the sort's direction. */
function expectedOrder(users: Seeded[], sort: string): string[] {
  const descending = sort.startsWith('-');
  const field = (descending ? sort.slice(1) : sort) as 'createdAt' | 'updatedAt' | 'email' | 'name';
  return [...users]
    .sort((a, b) => {
      const order = compare(a[field], b[field]) || compare(a.id, b.id);
      return descending ? -order : order;
    })
    .map((user) => user.id);
}

const idsOf = (page: Page): string[] => page.data.map((user) => user.id);
const sortedIds = (ids: string[]): string[] => [...ids].sort();

describe('GET /users: filters, sorting and pagination', () => {
  let t: TestApp;
  let org1: string;
  let org2: string;
  /** 45 users of org1 with ties on createdAt, updatedAt and name; text values sort the same in any collation. */
  let sortable: Seeded[];
  let others: Seeded[];
  let all: Seeded[];

  async function list(query: Record<string, string | number>): Promise<Page> {
    const url = `/users?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
    const res = await t.app.inject({ method: 'GET', url });
    expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
    const page = res.json<Page>();
    for (const user of page.data) expectPublicUser(user);
    return page;
  }

  /** Follows nextCursor from the first keyset page to the last; checks every page on the way. */
  async function walk(query: Record<string, string | number>, limit: number): Promise<string[]> {
    const seen: string[] = [];
    let cursor = '';
    for (let pages = 0; pages < 1000; pages += 1) {
      const page = await list({ ...query, limit, cursor });
      expect(sortedKeys(page.meta)).toEqual(['hasNext', 'limit', 'nextCursor']);
      expect(page.meta.limit).toBe(limit);
      seen.push(...idsOf(page));
      if (!page.meta.hasNext) {
        expect(page.meta.nextCursor).toBeNull();
        expect(page.data.length).toBeLessThanOrEqual(limit);
        return seen;
      }
      expect(page.data).toHaveLength(limit);
      expect(page.meta.nextCursor).toEqual(expect.any(String));
      cursor = page.meta.nextCursor!;
    }
    throw new Error('pagination did not end');
  }

  beforeAll(async () => {
    t = await startTestApp();
    org1 = await insertOrganization(t.sql, 'page-one');
    org2 = await insertOrganization(t.sql, 'page-two');

    // Microseconds matter: PostgreSQL keeps six digits, JavaScript Dates three. Within each group of
    // four, two users share a timestamp exactly and two differ only below the millisecond.
    const micros = ['123456', '123456', '123789', '123001'];
    const byIndex: Seeded[] = [];
    for (let i = 0; i < 45; i += 1) {
      byIndex.push({
        id: '',
        email: `k${pad((i * 17) % 45)}@sort.test`,
        name: i < 20 ? 'samename' : i < 30 ? 'othername' : `name${pad(i)}`,
        status: STATUSES[i % 4]!,
        role: ROLES[i % 3]!,
        organizationId: org1,
        createdAt: `2023-06-01T00:00:${pad(Math.floor(i / 4))}.${micros[i % 4]}Z`,
        updatedAt: `2023-07-01T00:00:0${(44 - i) % 5}.${micros[(i + 1) % 4]}Z`,
      });
    }
    // Inserted out of index order, so id order (UUIDv7, time-ordered) differs from every sort key.
    sortable = [];
    for (let k = 0; k < 45; k += 1) {
      const user = byIndex[(k * 7) % 45]!;
      user.id = uuidv7();
      sortable.push(user);
    }

    others = [
      ...[0, 1, 2, 3, 4].map((i) => ({
        id: uuidv7(),
        email: `member${i}@two.test`,
        name: `member${i}`,
        status: STATUSES[(i + 1) % 4]!,
        role: ROLES[(i + 2) % 3]!,
        organizationId: org2,
        createdAt: i === 0 ? '2022-03-01T00:00:00.000000Z' : `2022-0${i + 3}-15T12:00:00.000000Z`,
        updatedAt: '2022-12-01T00:00:00.000000Z',
      })),
      ...['percent%sign', 'under_score', 'underxscore', 'back\\slash', 'MiXeD.Case', "o'quote"].map((local, i) => ({
        id: uuidv7(),
        email: `${local}@Special.test`,
        name: `special${i}`,
        status: 'active' as const,
        role: 'user' as const,
        organizationId: null,
        createdAt: `2021-01-0${i + 1}T00:00:00.000000Z`,
        updatedAt: '2021-02-01T00:00:00.000000Z',
      })),
    ];
    await insertUsers(
      t.sql,
      [...sortable, ...others].map((user): SeedUser => ({ ...user })),
    );
    // The platform admin the requests are made as is a user too, and every unfiltered listing
    // includes it; it is part of what the filters must find.
    const { rows: fixture } = await t.sql.query<Seeded>(
      `SELECT id, email, name, status, role, organization_id AS "organizationId",
              to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "createdAt",
              to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "updatedAt"
       FROM users WHERE id = $1`,
      [t.admin.id],
    );
    all = [...sortable, ...others, ...fixture];
  });
  afterAll(async () => {
    await t?.close();
  });

  it('seeded what the tests assume', async () => {
    const { rows } = await t.sql.query<{ count: number }>('SELECT count(*)::int AS count FROM users');
    expect(rows[0]!.count).toBe(57);
    expect(all).toHaveLength(57);
    expect(all.at(-1)).toMatchObject({ id: t.admin.id, role: 'admin', status: 'active' });
    const { rows: exact } = await t.sql.query<{ ts: string }>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts FROM users WHERE id = $1`,
      [sortable[0]!.id],
    );
    expect(exact[0]!.ts).toBe(sortable[0]!.createdAt);
  });

  describe('filters', () => {
    const byFilter = (predicate: (user: Seeded) => boolean): string[] => sortedIds(all.filter(predicate).map((user) => user.id));

    it.each(STATUSES)('status=%s returns exactly the users with that status', async (status) => {
      const page = await list({ status, limit: 100 });
      expect(sortedIds(idsOf(page))).toEqual(byFilter((user) => user.status === status));
      expect(page.meta.total).toBe(page.data.length);
      for (const user of page.data) expect(user.status).toBe(status);
    });

    it.each(ROLES)('role=%s returns exactly the users with that role', async (role) => {
      const page = await list({ role, limit: 100 });
      expect(sortedIds(idsOf(page))).toEqual(byFilter((user) => user.role === role));
      expect(page.meta.total).toBe(page.data.length);
    });

    it('organizationId returns that organization only; an unknown one returns nothing', async () => {
      expect(sortedIds(idsOf(await list({ organizationId: org2 })))).toEqual(byFilter((user) => user.organizationId === org2));
      expect(sortedIds(idsOf(await list({ organizationId: org1, limit: 100 })))).toEqual(byFilter((user) => user.organizationId === org1));
      const none = await list({ organizationId: '01900000-0000-7000-8000-000000000000' });
      expect(none.data).toEqual([]);
      expect(none.meta).toEqual({ total: 0, page: 1, limit: 20, hasNext: false, nextCursor: null });
    });

    it.each([
      ['special.TEST', (email: string) => email.toLowerCase().includes('special.test')],
      ['mixed.case@', (email: string) => email === 'MiXeD.Case@Special.test'],
      ['SORT.test', (email: string) => email.endsWith('@sort.test')],
      ['k0', (email: string) => email.startsWith('k0')],
    ])('email=%s is a case-insensitive substring match', async (term, matches) => {
      const page = await list({ email: term, limit: 100 });
      expect(page.data.length).toBeGreaterThan(0);
      expect(sortedIds(idsOf(page))).toEqual(byFilter((user) => matches(user.email)));
    });

    it.each([
      ['%', 'percent%sign@Special.test'],
      ['_', 'under_score@Special.test'],
      ['under_', 'under_score@Special.test'],
      ['\\', 'back\\slash@Special.test'],
      ["'", "o'quote@Special.test"],
    ])('email=%s treats LIKE wildcards, escapes and quotes as literal characters', async (term, email) => {
      const page = await list({ email: term, limit: 100 });
      expect(page.data.map((user) => user.email)).toEqual([email]);
      expect(page.meta.total).toBe(1);
    });

    it.each([["' OR 1=1--"], ['%%'], ['x%y'], ["active' OR '1'='1"]])(
      'email=%s matches literally, so it finds nothing',
      async (term) => {
        const page = await list({ email: term });
        expect(page.data).toEqual([]);
        expect(page.meta.total).toBe(0);
      },
    );

    it('createdFrom is inclusive and createdTo exclusive', async () => {
      const boundary = others[0]!; // created exactly 2022-03-01T00:00:00Z
      const from = await list({ createdFrom: '2022-03-01T00:00:00Z', createdTo: '2023-01-01T00:00:00Z' });
      expect(sortedIds(idsOf(from))).toEqual(byFilter((user) => user.organizationId === org2));
      expect(idsOf(from)).toContain(boundary.id);

      const to = await list({ createdFrom: '2022-01-01T00:00:00Z', createdTo: '2022-03-01T00:00:00Z' });
      expect(idsOf(to)).toEqual([]);
      const after = await list({ createdFrom: '2022-03-01T00:00:00.001Z', createdTo: '2023-01-01' });
      expect(sortedIds(idsOf(after))).toEqual(byFilter((user) => user.organizationId === org2 && user.id !== boundary.id));
    });

    it('createdFrom and createdTo honour time zone offsets and sub-millisecond timestamps', async () => {
      // 02:00:01.123+02:00 is 00:00:01.123Z; the four users of that second are at .123001 to .123789.
      const inside = await list({ createdFrom: '2023-06-01T02:00:01.123+02:00', createdTo: '2023-06-01T00:00:01.124Z', limit: 100 });
      expect(sortedIds(idsOf(inside))).toEqual(
        byFilter((user) => user.createdAt >= '2023-06-01T00:00:01.123000Z' && user.createdAt < '2023-06-01T00:00:01.124000Z'),
      );
      expect(inside.data).toHaveLength(4);
      const before = await list({ createdFrom: '2023-06-01T00:00:01Z', createdTo: '2023-06-01T00:00:01.123Z' });
      expect(before.data).toEqual([]);
    });

    it('a range that is empty or inverted returns nothing', async () => {
      expect((await list({ createdFrom: '2030-01-01T00:00:00Z' })).data).toEqual([]);
      expect((await list({ createdFrom: '2023-01-01T00:00:00Z', createdTo: '2022-01-01T00:00:00Z' })).data).toEqual([]);
    });

    it('combines every filter with AND', async () => {
      const query = {
        status: 'active',
        role: 'moderator',
        organizationId: org1,
        email: '@SORT.',
        createdFrom: '2023-06-01T00:00:02Z',
        createdTo: '2023-06-01T00:00:09Z',
        limit: 100,
      };
      const expected = byFilter(
        (user) =>
          user.status === 'active' &&
          user.role === 'moderator' &&
          user.organizationId === org1 &&
          user.email.includes('@sort.') &&
          user.createdAt >= '2023-06-01T00:00:02.000000Z' &&
          user.createdAt < '2023-06-01T00:00:09.000000Z',
      );
      expect(expected.length).toBeGreaterThan(0);
      const page = await list(query);
      expect(sortedIds(idsOf(page))).toEqual(expected);
      expect(page.meta.total).toBe(expected.length);
      // The same filters hold in keyset mode.
      expect(sortedIds(await walk({ ...query, limit: 1 }, 1))).toEqual(expected);
    });
  });

  describe('sorting', () => {
    it.each(SORTS)('sort=%s orders by that field, then by id', async (sort) => {
      const page = await list({ organizationId: org1, sort, limit: 100 });
      expect(idsOf(page)).toEqual(expectedOrder(sortable, sort));
    });

    it('defaults to -createdAt', async () => {
      const page = await list({ organizationId: org1, limit: 100 });
      expect(idsOf(page)).toEqual(expectedOrder(sortable, '-createdAt'));
    });
  });

  describe('offset pagination', () => {
    it('defaults to page 1 of 20 with an exact meta', async () => {
      const page = await list({ organizationId: org1 });
      expect(page.data).toHaveLength(20);
      expect(sortedKeys(page.meta)).toEqual(['hasNext', 'limit', 'nextCursor', 'page', 'total']);
      expect(page.meta).toEqual({ total: 45, page: 1, limit: 20, hasNext: true, nextCursor: expect.any(String) });
    });

    it.each([
      ['name', 10],
      ['-updatedAt', 9],
      ['email', 45],
      ['-createdAt', 100],
    ] as const)('sort=%s, limit=%i: pages cover every user once with exact total and hasNext', async (sort, limit) => {
      const expected = expectedOrder(sortable, sort);
      const pageCount = Math.ceil(45 / limit);
      const seen: string[] = [];
      for (let number = 1; number <= pageCount + 1; number += 1) {
        const page = await list({ organizationId: org1, sort, limit, page: number });
        const last = number === pageCount;
        const beyond = number > pageCount;
        expect(page.meta).toEqual({
          total: 45,
          page: number,
          limit,
          hasNext: !last && !beyond,
          nextCursor: !last && !beyond ? expect.any(String) : null,
        });
        expect(page.data).toHaveLength(beyond ? 0 : last ? 45 - limit * (pageCount - 1) : limit);
        seen.push(...idsOf(page));
      }
      expect(seen).toEqual(expected);
    });

    it("an offset page's nextCursor continues in keyset mode where the page ended", async () => {
      const first = await list({ organizationId: org1, sort: 'name', limit: 10, page: 1 });
      const next = await list({ organizationId: org1, sort: 'name', limit: 10, cursor: first.meta.nextCursor! });
      expect(idsOf(next)).toEqual(expectedOrder(sortable, 'name').slice(10, 20));
    });
  });

  describe('keyset pagination', () => {
    it('?cursor= (empty) starts keyset mode with meta {limit, hasNext, nextCursor}', async () => {
      const page = await list({ organizationId: org1, cursor: '', limit: 5 });
      expect(page.meta).toEqual({ limit: 5, hasNext: true, nextCursor: expect.any(String) });
      expect(idsOf(page)).toEqual(expectedOrder(sortable, '-createdAt').slice(0, 5));
    });

    it.each(SORTS.flatMap((sort) => [7, 5, 1].map((limit) => [sort, limit] as const)))(
      'sort=%s, limit=%i: walking every page returns every user once, in order, across ties',
      async (sort, limit) => {
        const ids = await walk({ organizationId: org1, sort }, limit);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids).toEqual(expectedOrder(sortable, sort));
      },
    );

    it('walks filtered results too (status=active, sort=name)', async () => {
      const expected = expectedOrder(
        all.filter((user) => user.status === 'active'),
        'name',
      );
      expect(await walk({ status: 'active', sort: 'name' }, 4)).toEqual(expected);
    });

    it('walks users created through the API (timestamps with microseconds from now())', async () => {
      const created: string[] = [];
      for (let i = 0; i < 12; i += 1) {
        const res = await t.app.inject({ method: 'POST', url: '/users', payload: { email: `api${pad(i)}@walk.test`, name: 'walker' } });
        expect(res.statusCode).toBe(201);
        created.push(res.json<UserJson>().id);
      }
      const { rows } = await t.sql.query<{ id: string; created_at: string; updated_at: string }>(
        `SELECT id,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
                to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at
           FROM users WHERE email LIKE '%@walk.test'`,
      );
      const walkers: Seeded[] = rows.map((row) => ({
        id: row.id,
        email: '',
        name: 'walker',
        status: 'pending',
        role: 'user',
        organizationId: null,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      }));
      for (const sort of ['createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'name'] as const) {
        expect(await walk({ email: '@walk.test', sort }, 5)).toEqual(expectedOrder(walkers, sort));
      }
      for (const id of created) await t.app.inject({ method: 'DELETE', url: `/users/${id}` });
    });

    it('rejects a cursor made for another sort field or direction with 400 INVALID_CURSOR', async () => {
      const byName = await list({ organizationId: org1, sort: 'name', cursor: '', limit: 3 });
      const byCreated = await list({ organizationId: org1, sort: 'createdAt', cursor: '', limit: 3 });
      const cases: Array<[string, string]> = [
        ['email', byName.meta.nextCursor!],
        ['-name', byName.meta.nextCursor!],
        ['createdAt', byName.meta.nextCursor!],
        ['updatedAt', byCreated.meta.nextCursor!],
        ['-createdAt', byCreated.meta.nextCursor!],
      ];
      for (const [sort, cursor] of cases) {
        const url = `/users?sort=${encodeURIComponent(sort)}&cursor=${cursor}`;
        expectErrorEnvelope(await t.app.inject({ method: 'GET', url }), { status: 400, code: 'INVALID_CURSOR', url });
      }
      // No sort means -createdAt, which a name cursor does not fit either.
      const url = `/users?cursor=${byName.meta.nextCursor!}`;
      expectErrorEnvelope(await t.app.inject({ method: 'GET', url }), { status: 400, code: 'INVALID_CURSOR', url });
    });

    it('rejects tampered cursors with 400 INVALID_CURSOR and changes nothing', async () => {
      const real = (await list({ sort: 'name', cursor: '', limit: 2 })).meta.nextCursor!;
      const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
      const id = sortable[0]!.id;
      const cases: Array<[string, string]> = [
        ['name', 'not-a-cursor!!'],
        ['name', real.slice(0, Math.floor(real.length / 2))],
        ['name', encode({ sort: 'name', value: 'x', id })],
        ['name', encode(['name', 'asc', 'x'])],
        ['name', encode(['name', 'asc', 'x', 'not-a-uuid'])],
        ['name', encode(['name', 'asc', 42, id])],
        ['name', encode(['name', 'asc', 'x'.repeat(1200), id])],
        ['name', encode(['name', 'sideways', 'x', id])],
        ['name', encode(['name', 'asc', "x' OR '1'='1", "' OR 1=1--"])],
        ['name', encode(['name', 'asc', 'nul\u0000byte', id])],
        ['createdAt', encode(['createdAt', 'asc', 'not a date', id])],
        ['createdAt', encode(['createdAt', 'asc', '-271821-04-20T00:00:00.000Z', id])],
        ['createdAt', encode(['createdAt', 'asc', '2023-13-45T99:00:00.000Z', id])],
        ['createdAt', encode(['createdAt', 'asc', '2021-02-30T00:00:00.000000Z', id])],
        ['createdAt', encode(['createdAt', 'asc', '0000-01-01T00:00:00.000000Z', id])],
        ['createdAt', encode(['createdAt', 'asc', '2023-06-01 00:00:00', id])],
        ['-updatedAt', encode(['updatedAt', 'desc', '', id])],
      ];
      const before = await snapshotTables(t.sql);
      for (const [sort, cursor] of cases) {
        const url = `/users?sort=${encodeURIComponent(sort)}&cursor=${encodeURIComponent(cursor)}`;
        expectErrorEnvelope(await t.app.inject({ method: 'GET', url }), { status: 400, code: 'INVALID_CURSOR', url });
      }
      expect(await snapshotTables(t.sql)).toEqual(before);
    });

    it('a cursor stays valid after rows change: deleted rows are skipped, none repeated', async () => {
      const sort = 'email';
      const first = await list({ organizationId: org1, sort, cursor: '', limit: 10 });
      const expected = expectedOrder(sortable, sort);
      expect(idsOf(first)).toEqual(expected.slice(0, 10));
      // Delete the last row of page one and the first row of page two, then continue.
      const removed = sortable.filter((user) => user.id === expected[9] || user.id === expected[10]);
      for (const user of removed) expect((await t.app.inject({ method: 'DELETE', url: `/users/${user.id}` })).statusCode).toBe(204);
      try {
        const next = await list({ organizationId: org1, sort, cursor: first.meta.nextCursor!, limit: 10 });
        expect(idsOf(next)).toEqual(expected.slice(11, 21));
      } finally {
        await insertUsers(t.sql, removed.map((user): SeedUser => ({ ...user })));
      }
    });
  });

  it('logged no server error while these tests ran', () => {
    expect(serverErrors(t.logs)).toEqual([]);
  });
});
