import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  countUsers,
  detailFields,
  expectErrorEnvelope,
  expectPublicUser,
  insertOrganization,
  serverErrors,
  snapshotTables,
  sortedKeys,
  type UserJson,
} from '../helpers/api.js';

interface BatchResult {
  index: number;
  status: number;
  data?: UserJson;
  error?: { code: string; message: string; details?: unknown };
}
interface BatchBody {
  results: BatchResult[];
  summary: { total: number; succeeded: number; failed: number };
}

const UNKNOWN_ORG = '01900000-0000-7000-8000-00000000dead';

describe('POST /users/batch', () => {
  let t: TestApp;
  let org: string;

  beforeAll(async () => {
    t = await startTestApp();
    org = await insertOrganization(t.sql, 'batch-org');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function batch(users: unknown[]): Promise<BatchBody> {
    const res = await t.app.inject({ method: 'POST', url: '/users/batch', payload: { users } });
    expect(res.statusCode, res.body).toBe(207);
    const body = res.json<BatchBody>();
    expect(sortedKeys(body)).toEqual(['results', 'summary']);
    expect(body.results.map((result) => result.index)).toEqual(users.map((_, index) => index));
    for (const result of body.results) {
      if (result.status === 201) {
        expect(sortedKeys(result)).toEqual(['data', 'index', 'status']);
        expectPublicUser(result.data);
      } else {
        expect(sortedKeys(result)).toEqual(['error', 'index', 'status']);
        expect(result.error!.code).toEqual(expect.any(String));
        expect(result.error!.message).toEqual(expect.any(String));
      }
    }
    expect(body.summary).toEqual({
      total: users.length,
      succeeded: body.results.filter((r) => r.status === 201).length,
      failed: body.results.filter((r) => r.status !== 201).length,
    });
    expect(res.body).not.toMatch(/password_?hash/i);
    return body;
  }

  async function emailsInDb(): Promise<string[]> {
    // Every user but the fixture principal the requests are made as.
    const { rows } = await t.sql.query<{ email: string }>('SELECT email FROM users WHERE id <> $1 ORDER BY email', [t.admin.id]);
    return rows.map((row) => row.email);
  }

  it('creates the valid items of a mixed batch and reports each failure alone', async () => {
    const existing = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'taken@batch.test', name: 'Taken' } });
    expect(existing.statusCode).toBe(201);
    const usersBefore = await countUsers(t.sql);

    const items = [
      /* 0 */ { email: 'one@batch.test', name: 'One' },
      /* 1 */ { email: 'not-an-email', name: 'Bad email' },
      /* 2 */ { email: 'TAKEN@batch.test', name: 'Duplicate of an existing user' },
      /* 3 */ { email: 'orphan@batch.test', name: 'Unknown org', organizationId: UNKNOWN_ORG },
      /* 4 */ {
        email: 'two@batch.test',
        name: 'Two',
        organizationId: org,
        role: 'admin',
        status: 'active',
        metadata: { source: 'batch', n: 4 },
        profile: { displayName: 'Deux', locale: 'fr-FR' },
      },
      /* 5 */ { email: 'One@Batch.Test', name: 'Duplicate of item 0, other case' },
      /* 6 */ { email: 'extra@batch.test', name: 'Unknown field', isAdmin: true },
      /* 7 */ { email: 42, name: ['not', 'a', 'string'] },
      /* 8 */ { email: 'three@batch.test', name: 'Three', profile: { bio: 'hello' } },
      /* 9 */ { email: 'nul@batch.test', name: 'nul\u0000byte' },
      /* 10 */ { email: 'bad-org@batch.test', name: 'Bad org id', organizationId: 'not-a-uuid' },
      /* 11 */ {},
    ];
    const body = await batch(items);
    expect(body.results.map((r) => [r.index, r.status, r.error?.code ?? 'created'])).toEqual([
      [0, 201, 'created'],
      [1, 400, 'VALIDATION_FAILED'],
      [2, 409, 'DUPLICATE_EMAIL'],
      [3, 404, 'ORGANIZATION_NOT_FOUND'],
      [4, 201, 'created'],
      [5, 409, 'DUPLICATE_EMAIL'],
      [6, 400, 'VALIDATION_FAILED'],
      [7, 400, 'VALIDATION_FAILED'],
      [8, 201, 'created'],
      [9, 400, 'VALIDATION_FAILED'],
      [10, 400, 'VALIDATION_FAILED'],
      [11, 400, 'VALIDATION_FAILED'],
    ]);
    expect(body.summary).toEqual({ total: 12, succeeded: 3, failed: 9 });

    // Validation details name the fields of the item itself.
    const fields = (index: number): string[] =>
      (body.results[index]!.error!.details as Array<{ field: string }>).map((detail) => detail.field);
    expect(fields(1)).toEqual(['email']);
    expect(fields(6)).toEqual(['isAdmin']);
    expect(fields(7).sort()).toEqual(['email', 'name']);
    expect(fields(9)).toEqual(['name']);
    expect(fields(10)).toEqual(['organizationId']);
    expect(fields(11).sort()).toEqual(['email', 'name']);
    expect(fields(2)).toEqual(['email']);
    expect(fields(3)).toEqual(['organizationId']);

    expect(body.results[0]!.data).toMatchObject({ email: 'one@batch.test', name: 'One', status: 'pending', role: 'user', profile: null });
    expect(body.results[4]!.data).toMatchObject({
      email: 'two@batch.test',
      organizationId: org,
      role: 'admin',
      status: 'active',
      metadata: { source: 'batch', n: 4 },
      profile: { displayName: 'Deux', bio: null, avatarUrl: null, locale: 'fr-FR', timezone: null },
    });
    expect(body.results[8]!.data!.profile).toEqual({ displayName: null, bio: 'hello', avatarUrl: null, locale: null, timezone: null });

    // Exactly the three valid items were written, with their profiles; the existing user is untouched.
    expect(await countUsers(t.sql)).toBe(usersBefore + 3);
    expect(await emailsInDb()).toEqual(['one@batch.test', 'taken@batch.test', 'three@batch.test', 'two@batch.test']);
    const { rows: created } = await t.sql.query('SELECT id, email, name, role, status, organization_id, metadata FROM users WHERE email <> $1 AND id <> $2 ORDER BY email', [
      'taken@batch.test',
      t.admin.id,
    ]);
    expect(created).toEqual([
      { id: body.results[0]!.data!.id, email: 'one@batch.test', name: 'One', role: 'user', status: 'pending', organization_id: null, metadata: {} },
      { id: body.results[8]!.data!.id, email: 'three@batch.test', name: 'Three', role: 'user', status: 'pending', organization_id: null, metadata: {} },
      {
        id: body.results[4]!.data!.id,
        email: 'two@batch.test',
        name: 'Two',
        role: 'admin',
        status: 'active',
        organization_id: org,
        metadata: { source: 'batch', n: 4 },
      },
    ]);
    const { rows: profiles } = await t.sql.query<{ user_id: string }>('SELECT user_id FROM user_profiles ORDER BY user_id');
    expect(profiles.map((p) => p.user_id).sort()).toEqual([body.results[4]!.data!.id, body.results[8]!.data!.id].sort());
    const { rows: taken } = await t.sql.query('SELECT name FROM users WHERE email = $1', ['taken@batch.test']);
    expect(taken).toEqual([{ name: 'Taken' }]);

    // What the batch returned is what GET returns.
    const read = await t.app.inject({ method: 'GET', url: `/users/${body.results[4]!.data!.id}` });
    expect(read.json()).toEqual(body.results[4]!.data);
  });

  it('within one batch, only the first of several case-variants of an email is created', async () => {
    const body = await batch([
      { email: 'Same@Variant.test', name: 'First' },
      { email: 'same@variant.test', name: 'Second' },
      { email: 'other@variant.test', name: 'Other' },
      { email: 'SAME@VARIANT.TEST', name: 'Third' },
    ]);
    expect(body.results.map((r) => r.status)).toEqual([201, 409, 201, 409]);
    expect(body.results[0]!.data!.name).toBe('First');
    expect(body.summary).toEqual({ total: 4, succeeded: 2, failed: 2 });
    const { rows } = await t.sql.query('SELECT email, name FROM users WHERE lower(email) LIKE $1 ORDER BY email', ['%@variant.test']);
    expect(rows).toEqual([
      { email: 'Same@Variant.test', name: 'First' },
      { email: 'other@variant.test', name: 'Other' },
    ]);
  });

  it('a batch where every item fails answers 207 and writes nothing', async () => {
    const before = await snapshotTables(t.sql);
    const body = await batch([
      { email: 'bad', name: 'x' },
      { email: 'one@batch.test', name: 'dup' },
      { email: 'fine@batch.test', name: 'Bad org', organizationId: UNKNOWN_ORG },
    ]);
    expect(body.results.map((r) => r.status)).toEqual([400, 409, 404]);
    expect(body.summary).toEqual({ total: 3, succeeded: 0, failed: 3 });
    expect(await snapshotTables(t.sql)).toEqual(before);
  });

  it('creates a full batch of 100 items', async () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ email: `bulk${i}@batch.test`, name: `Bulk ${i}`, organizationId: org }));
    const body = await batch(items);
    expect(body.summary).toEqual({ total: 100, succeeded: 100, failed: 0 });
    expect(body.results.map((r) => r.data!.email)).toEqual(items.map((item) => item.email));
    expect(new Set(body.results.map((r) => r.data!.id)).size).toBe(100);
    const { rows } = await t.sql.query<{ count: number }>("SELECT count(*)::int AS count FROM users WHERE email LIKE 'bulk%@batch.test' AND organization_id = $1", [org]);
    expect(rows[0]!.count).toBe(100);
  });

  it.each([
    ['101 items', { users: Array.from({ length: 101 }, (_, i) => ({ email: `over${i}@batch.test`, name: 'Over' })) }, ['users']],
    ['no items', { users: [] }, ['users']],
    ['no users field', {}, ['users']],
    ['users is not an array', { users: { email: 'a@batch.test', name: 'A' } }, ['users']],
    ['users is null', { users: null }, ['users']],
    ['an item that is not an object', { users: [{ email: 'ok@batch.test', name: 'Ok' }, 'not an object'] }, ['users']],
    ['an item that is null', { users: [{ email: 'ok@batch.test', name: 'Ok' }, null] }, ['users']],
    ['an item that is an array', { users: [['ok@batch.test']] }, ['users']],
    ['an unknown top-level field', { users: [{ email: 'ok@batch.test', name: 'Ok' }], atomic: true }, ['atomic']],
  ])('refuses the whole request for %s with 400 and writes nothing', async (_label, payload, fields) => {
    const before = await snapshotTables(t.sql);
    const res = await t.app.inject({ method: 'POST', url: '/users/batch', payload });
    const error = expectErrorEnvelope(res, { status: 400, code: 'VALIDATION_FAILED', url: '/users/batch' });
    expect(detailFields(error)).toEqual(fields);
    expect(await snapshotTables(t.sql)).toEqual(before);
  });

  it('refuses malformed JSON and a body over the limit as a whole, writing nothing', async () => {
    const before = await snapshotTables(t.sql);
    const malformed = await t.app.inject({
      method: 'POST',
      url: '/users/batch',
      headers: { 'content-type': 'application/json' },
      payload: '{"users": [{"email": "x@batch.test", "name": "X"},',
    });
    expectErrorEnvelope(malformed, { status: 400, code: 'MALFORMED_REQUEST', url: '/users/batch' });
    const big = Array.from({ length: 60 }, (_, i) => ({ email: `big${i}@batch.test`, name: 'x'.repeat(20_000) }));
    const tooLarge = await t.app.inject({ method: 'POST', url: '/users/batch', payload: { users: big } });
    expectErrorEnvelope(tooLarge, { status: 413, code: 'PAYLOAD_TOO_LARGE', url: '/users/batch' });
    expect(await snapshotTables(t.sql)).toEqual(before);
  });

  it('logged no server error while these tests ran', () => {
    expect(serverErrors(t.logs)).toEqual([]);
  });
});
