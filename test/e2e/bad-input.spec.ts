import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/platform/errors/error-codes.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { detailFields, expectErrorEnvelope, insertUsers, serverErrors, snapshotTables } from '../helpers/api.js';

/**
 * Bad input on every endpoint, table-driven. Each case must produce the 4xx error envelope with the
 * right code (and, for VALIDATION_FAILED, the fields named), the request id of the x-request-id
 * header, the path without its query string, nothing internal in the body, and no change at all to
 * the users, user_profiles and organizations tables.
 */

const USER_ID = '01900000-0000-7000-8000-0000000000aa';
const ORG_ID = '01900000-0000-7000-8000-0000000000bb';
const MISSING_ID = '01900000-0000-7000-8000-00000000ffff';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT' | 'OPTIONS';

interface BadCase {
  label: string;
  method: Method;
  url: string;
  /** An object is sent as JSON; a string is sent raw (with the content type in headers). */
  payload?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: ErrorCode;
  /** For VALIDATION_FAILED: the fields named in details, in order. */
  fields?: string[];
}

const validation = (fields: string[]) => ({ status: 400, code: 'VALIDATION_FAILED' as const, fields });
const JSON_TYPE = { 'content-type': 'application/json' };
const MIB = 1024 * 1024;
const deepObject = { a: { b: { c: { d: { e: { f: 1 } } } } } };

function query(label: string, qs: string, expected: Omit<BadCase, 'label' | 'method' | 'url'>): BadCase {
  return { label: `GET /users?${label}`, method: 'GET', url: `/users?${qs}`, ...expected };
}

function body(method: Method, url: string, label: string, payload: unknown, expected: Omit<BadCase, 'label' | 'method' | 'url'>): BadCase {
  return { label: `${method} ${url.replace(USER_ID, ':id').replace(ORG_ID, ':id')} ${label}`, method, url, payload, ...expected };
}

/** The same transport-level failures (parsing, media type, size) for every endpoint with a body. */
function transportCases(method: Method, url: string, valid: Record<string, unknown>): BadCase[] {
  const validJson = JSON.stringify(valid);
  return [
    body(method, url, 'truncated JSON', validJson.slice(0, -3), { headers: JSON_TYPE, status: 400, code: 'MALFORMED_REQUEST' }),
    body(method, url, 'single-quoted JSON', validJson.replaceAll('"', "'"), { headers: JSON_TYPE, status: 400, code: 'MALFORMED_REQUEST' }),
    body(method, url, 'trailing comma', `${validJson.slice(0, -1)},}`, { headers: JSON_TYPE, status: 400, code: 'MALFORMED_REQUEST' }),
    body(method, url, 'empty JSON body', '', { headers: JSON_TYPE, status: 400, code: 'MALFORMED_REQUEST' }),
    body(method, url, '__proto__ key', `{"__proto__": {"isAdmin": true}, ${validJson.slice(1)}`, {
      headers: JSON_TYPE,
      status: 400,
      code: 'MALFORMED_REQUEST',
    }),
    body(method, url, 'constructor.prototype key', `{"constructor": {"prototype": {"isAdmin": true}}, ${validJson.slice(1)}`, {
      headers: JSON_TYPE,
      status: 400,
      code: 'MALFORMED_REQUEST',
    }),
    body(method, url, 'text/plain', validJson, { headers: { 'content-type': 'text/plain' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' }),
    body(method, url, 'form-urlencoded', new URLSearchParams(Object.entries(valid).map(([k, v]): [string, string] => [k, String(v)])).toString(), {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    }),
    body(method, url, 'application/xml', '<user><email>x@bad.test</email></user>', {
      headers: { 'content-type': 'application/xml' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    }),
    body(method, url, 'multipart/form-data', '--b\r\nContent-Disposition: form-data; name="email"\r\n\r\nx@bad.test\r\n--b--\r\n', {
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    }),
    body(method, url, 'no content type', validJson, { headers: { 'content-type': '' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' }),
    body(method, url, 'body over 1 MiB', JSON.stringify({ ...valid, name: 'x'.repeat(MIB) }), {
      headers: JSON_TYPE,
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    }),
  ];
}

const listCases: BadCase[] = [
  query('status=bogus', 'status=bogus', validation(['status'])),
  query("status=active' OR '1'='1", `status=${encodeURIComponent("active' OR '1'='1")}`, validation(['status'])),
  query('status=ACTIVE', 'status=ACTIVE', validation(['status'])),
  query('status twice', 'status=active&status=inactive', validation(['status'])),
  query('status=', 'status=', validation(['status'])),
  query('role=root', 'role=root', validation(['role'])),
  query("role=admin'--", `role=${encodeURIComponent("admin'--")}`, validation(['role'])),
  query('organizationId=not-a-uuid', 'organizationId=not-a-uuid', validation(['organizationId'])),
  query("organizationId=' OR 1=1--", `organizationId=${encodeURIComponent("' OR 1=1--")}`, validation(['organizationId'])),
  query('organizationId[$ne]=x', `${encodeURIComponent('organizationId[$ne]')}=x`, validation(['organizationId[$ne]'])),
  query('email= (empty)', 'email=', validation(['email'])),
  query('email of 255 characters', `email=${'a'.repeat(255)}`, validation(['email'])),
  query('email with a NUL byte', 'email=a%00b', validation(['email'])),
  query('createdFrom=yesterday', 'createdFrom=yesterday', validation(['createdFrom'])),
  query('createdFrom=2024-13-01', 'createdFrom=2024-13-01', validation(['createdFrom'])),
  query('createdFrom=2024-02-30', 'createdFrom=2024-02-30', validation(['createdFrom'])),
  query('createdTo=1700000000 (epoch)', 'createdTo=1700000000', validation(['createdTo'])),
  query('createdFrom=2026-W05-1 (ISO week date)', 'createdFrom=2026-W05-1', validation(['createdFrom'])),
  query('createdTo=2026-032 (ISO ordinal date)', 'createdTo=2026-032', validation(['createdTo'])),
  query("createdFrom with SQL", `createdFrom=${encodeURIComponent("2024-01-01' OR '1'='1")}`, validation(['createdFrom'])),
  query('sort=createdAt;DROP TABLE users', `sort=${encodeURIComponent('createdAt;DROP TABLE users')}`, validation(['sort'])),
  query('sort=createdAt; DELETE FROM users--', `sort=${encodeURIComponent('createdAt; DELETE FROM users--')}`, validation(['sort'])),
  query('sort=password_hash', 'sort=password_hash', validation(['sort'])),
  query('sort=created_at', 'sort=created_at', validation(['sort'])),
  query('sort=-id', 'sort=-id', validation(['sort'])),
  query('sort=name desc', `sort=${encodeURIComponent('name desc')}`, validation(['sort'])),
  query('sort=(select 1)', `sort=${encodeURIComponent('(select 1)')}`, validation(['sort'])),
  query('sort=+name', `sort=${encodeURIComponent('+name')}`, validation(['sort'])),
  query('limit=101', 'limit=101', validation(['limit'])),
  query('limit=1000', 'limit=1000', validation(['limit'])),
  query('limit=1e3', 'limit=1e3', validation(['limit'])),
  query('limit=99999999999999999999', 'limit=99999999999999999999', validation(['limit'])),
  query('limit=0', 'limit=0', validation(['limit'])),
  query('limit=-1', 'limit=-1', validation(['limit'])),
  query('limit=abc', 'limit=abc', validation(['limit'])),
  query('limit=1.5', 'limit=1.5', validation(['limit'])),
  query('limit= (empty)', 'limit=', validation(['limit'])),
  query('limit twice', 'limit=10&limit=20', validation(['limit'])),
  query('limit=10 OR 1=1', `limit=${encodeURIComponent('10 OR 1=1')}`, validation(['limit'])),
  query('page=0', 'page=0', validation(['page'])),
  query('page=-1', 'page=-1', validation(['page'])),
  query('page=abc', 'page=abc', validation(['page'])),
  query('page=1.5', 'page=1.5', validation(['page'])),
  query('page=10001', 'page=10001', validation(['page'])),
  query('page with cursor', 'page=1&cursor=', validation(['page'])),
  query('page with a bad cursor', 'page=2&cursor=abc', validation(['page'])),
  query('cursor=garbage', 'cursor=garbage', { status: 400, code: 'INVALID_CURSOR' }),
  query("cursor=' OR 1=1--", `cursor=${encodeURIComponent("' OR 1=1--")}`, { status: 400, code: 'INVALID_CURSOR' }),
  query('cursor of 2049 characters', `cursor=${'A'.repeat(2049)}`, validation(['cursor'])),
  query('unknown parameter', 'unknown=1', validation(['unknown'])),
  query('password_hash parameter', 'password_hash=x', validation(['password_hash'])),
];

const pathCases: BadCase[] = [
  ...['GET', 'PATCH', 'DELETE'].flatMap((method) =>
    [
      ['not-a-uuid', 'not-a-uuid'],
      ['123', '123'],
      ["' OR 1=1--", encodeURIComponent("' OR 1=1--")],
      ['uuid with a suffix', `${USER_ID}x`],
      ['uuid with a non-hex digit', '01900000-0000-7000-8000-00000000000g'],
      ['uuid without dashes', USER_ID.replaceAll('-', '')],
      ['NUL byte', '%00'],
      ['1;DROP TABLE users', encodeURIComponent('1;DROP TABLE users')],
    ].map(
      ([label, id]): BadCase => ({
        label: `${method} /users/${label}`,
        method: method as Method,
        url: `/users/${id}`,
        ...(method === 'PATCH' && { payload: { name: 'Changed' } }),
        ...validation(['id']),
      }),
    ),
  ),
  { label: 'GET /users/:missing', method: 'GET', url: `/users/${MISSING_ID}`, status: 404, code: 'USER_NOT_FOUND' },
  { label: 'GET /users/nil-uuid', method: 'GET', url: '/users/00000000-0000-0000-0000-000000000000', status: 404, code: 'USER_NOT_FOUND' },
  { label: 'PATCH /users/:missing', method: 'PATCH', url: `/users/${MISSING_ID}`, payload: { name: 'Ghost' }, status: 404, code: 'USER_NOT_FOUND' },
  { label: 'DELETE /users/:missing', method: 'DELETE', url: `/users/${MISSING_ID}`, status: 404, code: 'USER_NOT_FOUND' },
  { label: 'GET /users/batch (not a UUID)', method: 'GET', url: '/users/batch', ...validation(['id']) },
  ...['', '/stats'].flatMap((suffix): BadCase[] => [
    { label: `GET /organizations/not-a-uuid${suffix}`, method: 'GET', url: `/organizations/not-a-uuid${suffix}`, ...validation(['id']) },
    {
      label: `GET /organizations/' OR 1=1--${suffix}`,
      method: 'GET',
      url: `/organizations/${encodeURIComponent("' OR 1=1--")}${suffix}`,
      ...validation(['id']),
    },
    { label: `GET /organizations/:missing${suffix}`, method: 'GET', url: `/organizations/${MISSING_ID}${suffix}`, status: 404, code: 'ORGANIZATION_NOT_FOUND' },
  ]),
];

const createUserCases: BadCase[] = [
  body('POST', '/users', '{}', {}, validation(['email', 'name'])),
  body('POST', '/users', 'no email', { name: 'x' }, validation(['email'])),
  body('POST', '/users', 'no name', { email: 'x@bad.test' }, validation(['name'])),
  ...['not-an-email', 'a@b', '', '@example.com', 'a b@example.com', 'a@example.com\n', 'a@@example.com', `${'a'.repeat(250)}@example.com`, 'a\u0000@example.com'].map(
    (email) => body('POST', '/users', `email=${JSON.stringify(email).slice(0, 40)}`, { email, name: 'x' }, validation(['email'])),
  ),
  ...[123, true, null, ['x@bad.test'], { address: 'x@bad.test' }].map((email) =>
    body('POST', '/users', `email: ${JSON.stringify(email)}`, { email, name: 'x' }, validation(['email'])),
  ),
  ...[123, '', 'x'.repeat(201), null, ['a'], { first: 'a' }, false, 'nul\u0000byte'].map((name) =>
    body('POST', '/users', `name: ${JSON.stringify(name).slice(0, 40)}`, { email: 'x@bad.test', name }, validation(['name'])),
  ),
  ...['root', 'ADMIN', 1, ['admin'], "admin' --"].map((role) =>
    body('POST', '/users', `role: ${JSON.stringify(role)}`, { email: 'x@bad.test', name: 'x', role }, validation(['role'])),
  ),
  ...['deleted', 0, ['active']].map((status) =>
    body('POST', '/users', `status: ${JSON.stringify(status)}`, { email: 'x@bad.test', name: 'x', status }, validation(['status'])),
  ),
  ...['abc', 123, "' OR 1=1--", ['01900000-0000-7000-8000-0000000000bb']].map((organizationId) =>
    body('POST', '/users', `organizationId: ${JSON.stringify(organizationId)}`, { email: 'x@bad.test', name: 'x', organizationId }, validation(['organizationId'])),
  ),
  ...(
    [
      ['a string', 'meta'],
      ['an array', [1, 2]],
      ['a number', 42],
      ['a boolean', true],
      ['over 8 KiB', { blob: 'x'.repeat(8192) }],
      ['six levels deep', deepObject],
      ['a NUL in a value', { note: 'nul\u0000byte' }],
      ['a NUL in a key', { 'k\u0000': 1 }],
    ] as const
  ).map(([label, metadata]) => body('POST', '/users', `metadata is ${label}`, { email: 'x@bad.test', name: 'x', metadata }, validation(['metadata']))),
  ...(
    [
      ['a string', 'profile', ['profile']],
      ['an array', [], ['profile']],
      ['an array of objects', [{ displayName: 'x' }], ['profile']],
      ['a number', 7, ['profile']],
      ['http avatar', { avatarUrl: 'http://insecure.test/a.png' }, ['profile.avatarUrl']],
      ['javascript: avatar', { avatarUrl: 'javascript:alert(1)' }, ['profile.avatarUrl']],
      ['data: avatar', { avatarUrl: 'data:text/html,<script>alert(1)</script>' }, ['profile.avatarUrl']],
      ['avatar over 2048', { avatarUrl: `https://example.com/${'a'.repeat(2048)}` }, ['profile.avatarUrl']],
      ['avatar NUL', { avatarUrl: 'https://example.com/a\u0000.png' }, ['profile.avatarUrl']],
      ['bad locale', { locale: 'english language' }, ['profile.locale']],
      ['locale NUL', { locale: 'en\u0000' }, ['profile.locale']],
      ['timezone NUL', { timezone: 'Europe/Berlin\u0000' }, ['profile.timezone']],
      ['locale with SQL', { locale: "en'; DROP TABLE users;--" }, ['profile.locale']],
      ['path as timezone', { timezone: '../../etc/passwd' }, ['profile.timezone']],
      ['displayName over 200', { displayName: 'x'.repeat(201) }, ['profile.displayName']],
      ['displayName array', { displayName: ['x'] }, ['profile.displayName']],
      ['displayName NUL', { displayName: 'a\u0000' }, ['profile.displayName']],
      ['bio over 2000', { bio: 'x'.repeat(2001) }, ['profile.bio']],
      ['bio number', { bio: 5 }, ['profile.bio']],
      ['bio NUL', { bio: 'a\u0000b' }, ['profile.bio']],
      ['unknown field', { website: 'https://example.com' }, ['profile.website']],
    ] as const
  ).map(([label, profile, fields]) => body('POST', '/users', `profile: ${label}`, { email: 'x@bad.test', name: 'x', profile }, validation([...fields]))),
  ...['isAdmin', 'passwordHash', 'password_hash', 'password', 'id', 'createdAt', 'emailVerifiedAt', 'lastLoginAt', 'first_login_at'].map((field) =>
    body('POST', '/users', `unknown field ${field}`, { email: 'x@bad.test', name: 'x', [field]: field === 'isAdmin' ? true : 'x' }, validation([field])),
  ),
  body('POST', '/users', 'a JSON array', '[{"email":"x@bad.test","name":"x"}]', { headers: JSON_TYPE, status: 400, code: 'VALIDATION_FAILED' }),
  body('POST', '/users', 'JSON null', 'null', { headers: JSON_TYPE, ...validation(['email', 'name']) }),
  body('POST', '/users', 'a JSON string', '"x@bad.test"', { headers: JSON_TYPE, ...validation(['email', 'name']) }),
  body('POST', '/users', 'a JSON number', '42', { headers: JSON_TYPE, ...validation(['email', 'name']) }),
  ...transportCases('POST', '/users', { email: 'x@bad.test', name: 'x' }),
];

const updateUserCases: BadCase[] = [
  ...(
    [
      ['email', 'not-an-email'],
      ['email', 42],
      ['email', null],
      ['name', ''],
      ['name', 'x'.repeat(201)],
      ['name', null],
      ['name', 7],
      ['name', 'nul\u0000'],
      ['role', 'root'],
      ['role', null],
      ['status', 5],
      ['status', null],
      ['status', 'deleted'],
      ['metadata', []],
      ['metadata', null],
      ['metadata', 'x'],
      ['metadata', deepObject],
      ['organizationId', 'x'],
      ['organizationId', 5],
      ['profile', null],
      ['profile', []],
      ['profile', 'x'],
      ['unknown', 1],
      ['id', MISSING_ID],
      ['createdAt', '2020-01-01T00:00:00Z'],
      ['updatedAt', '2020-01-01T00:00:00Z'],
      ['passwordHash', 'x'],
      ['password_hash', 'x'],
    ] as const
  ).map(([field, value]) =>
    body('PATCH', `/users/${USER_ID}`, `${field}: ${JSON.stringify(value).slice(0, 30)}`, { [field]: value }, validation([field])),
  ),
  body('PATCH', `/users/${USER_ID}`, 'http avatar', { profile: { avatarUrl: 'ftp://example.com/a.png' } }, validation(['profile.avatarUrl'])),
  body('PATCH', `/users/${USER_ID}`, 'profile bio NUL', { profile: { bio: 'a\u0000' } }, validation(['profile.bio'])),
  body('PATCH', `/users/${USER_ID}`, 'metadata NUL', { metadata: { a: 'a\u0000' } }, validation(['metadata'])),
  body('PATCH', `/users/${USER_ID}`, 'profile unknown field', { profile: { role: 'admin' } }, validation(['profile.role'])),
  body('PATCH', `/users/${USER_ID}`, 'valid and invalid fields', { name: 'Valid', email: 'bad' }, validation(['email'])),
  body('PATCH', `/users/${USER_ID}`, 'a JSON array', '[]', { headers: JSON_TYPE, status: 400, code: 'VALIDATION_FAILED' }),
  ...transportCases('PATCH', `/users/${USER_ID}`, { name: 'Changed' }),
];

const batchCases: BadCase[] = [
  body('POST', '/users/batch', '{}', {}, validation(['users'])),
  body('POST', '/users/batch', 'users: string', { users: 'x' }, validation(['users'])),
  body('POST', '/users/batch', 'users: []', { users: [] }, validation(['users'])),
  body('POST', '/users/batch', 'users: 101 items', { users: Array.from({ length: 101 }, (_, i) => ({ email: `b${i}@bad.test`, name: 'b' })) }, validation(['users'])),
  body('POST', '/users/batch', 'users: [1]', { users: [1] }, validation(['users'])),
  body('POST', '/users/batch', 'users as an object', { users: { 0: { email: 'b@bad.test', name: 'b' } } }, validation(['users'])),
  body('POST', '/users/batch', 'unknown field', { users: [{ email: 'b@bad.test', name: 'b' }], mode: 'atomic' }, validation(['mode'])),
  body('POST', '/users/batch', 'a bare array', '[{"email":"b@bad.test","name":"b"}]', { headers: JSON_TYPE, status: 400, code: 'VALIDATION_FAILED' }),
  ...transportCases('POST', '/users/batch', { users: [{ email: 'b@bad.test', name: 'b' }] }),
];

const organizationCases: BadCase[] = [
  body('POST', '/organizations', '{}', {}, validation(['name', 'slug'])),
  ...['', 'x'.repeat(201), 5, null, ['Acme'], 'nul\u0000'].map((name) =>
    body('POST', '/organizations', `name: ${JSON.stringify(name).slice(0, 30)}`, { name, slug: 'fine-slug' }, validation(['name'])),
  ),
  ...['UPPER', 'a b', '-lead', 'a'.repeat(64), "x'; DROP TABLE organizations;--", '', 5, null, 'ünï', 'a_b', 'a.b', 'a/b'].map((slug) =>
    body('POST', '/organizations', `slug: ${JSON.stringify(slug).slice(0, 30)}`, { name: 'Fine', slug }, validation(['slug'])),
  ),
  body('POST', '/organizations', 'unknown field id', { name: 'Fine', slug: 'fine-slug', id: ORG_ID }, validation(['id'])),
  body('POST', '/organizations', 'unknown field ownerId', { name: 'Fine', slug: 'fine-slug', ownerId: USER_ID }, validation(['ownerId'])),
  ...transportCases('POST', '/organizations', { name: 'Fine', slug: 'fine-slug' }),
];

const routeCases: BadCase[] = [
  ['GET', '/nope'],
  ['GET', '/USERS'],
  ['GET', `/users/${USER_ID}/nope`],
  ['GET', `/users/${USER_ID}/stats`],
  ['GET', '/organizations'],
  ['GET', '/users/batch/1'],
  ['POST', `/users/${USER_ID}`],
  ['PUT', `/users/${USER_ID}`],
  ['PUT', '/users'],
  ['PATCH', '/users'],
  ['DELETE', '/users'],
  ['PATCH', `/organizations/${ORG_ID}`],
  ['PUT', `/organizations/${ORG_ID}`],
  ['DELETE', `/organizations/${ORG_ID}`],
  ['POST', `/organizations/${ORG_ID}/stats`],
  ['OPTIONS', '/users'],
].map(
  ([method, url]): BadCase => ({
    label: `${method} ${url!.replace(USER_ID, ':id').replace(ORG_ID, ':id')} (no such route or method)`,
    method: method as Method,
    url: url!,
    ...(method !== 'GET' && method !== 'DELETE' && method !== 'OPTIONS' && { payload: { name: 'x' } }),
    status: 404,
    code: 'ROUTE_NOT_FOUND',
  }),
);

const ALL_CASES = [...listCases, ...pathCases, ...createUserCases, ...updateUserCases, ...batchCases, ...organizationCases, ...routeCases];

describe('bad input on every endpoint', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
    await t.sql.query('INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)', [ORG_ID, 'Bad Input Org', 'bad-input']);
    await insertUsers(t.sql, [
      { id: USER_ID, email: 'victim@bad.test', name: 'Victim', organizationId: ORG_ID, passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$HASH', metadata: { keep: true } },
      { email: 'other@bad.test', name: 'Other' },
    ]);
    await t.sql.query("INSERT INTO user_profiles (user_id, display_name, bio) VALUES ($1, 'Victim', 'unchanged')", [USER_ID]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('has a case for every endpoint', () => {
    const endpoints = new Set(ALL_CASES.map((c) => `${c.method} ${c.url.split('?')[0]!.replace(/\/[^/]*[0-9a-f]{8}-[^/]*/g, '/:id')}`));
    for (const endpoint of [
      'GET /users',
      'GET /users/:id',
      'POST /users',
      'PATCH /users/:id',
      'DELETE /users/:id',
      'POST /users/batch',
      'POST /organizations',
      'GET /organizations/:id',
      'GET /organizations/:id/stats',
    ]) {
      expect(endpoints, endpoint).toContain(endpoint);
    }
  });

  it.each(ALL_CASES.map((c, index) => [c.label, c, index] as const))('%s', async (_label, c, index) => {
    const before = await snapshotTables(t.sql);
    // Half the cases bring their own request id, which must come back; the rest get a generated one.
    const requestId = index % 2 === 0 ? `bad-input-${index}` : undefined;
    const headers: Record<string, string> = { ...c.headers, ...(requestId && { 'x-request-id': requestId }) };
    const res = await t.app.inject({
      method: c.method,
      url: c.url,
      headers,
      ...(c.payload !== undefined && { payload: typeof c.payload === 'string' ? c.payload : JSON.stringify(c.payload) }),
      ...(c.payload !== undefined && typeof c.payload !== 'string' && { headers: { ...JSON_TYPE, ...headers } }),
    });
    const error = expectErrorEnvelope(res, { status: c.status, code: c.code, url: c.url });
    if (requestId) expect(error.requestId).toBe(requestId);
    else expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    if (c.fields) expect(detailFields(error)).toEqual(c.fields);
    else if (c.code !== 'VALIDATION_FAILED') expect(error.details === null || Array.isArray(error.details)).toBe(true);
    expect(await snapshotTables(t.sql)).toEqual(before);
  });

  // Fastify raises these before routing; app.factory.ts sends its frameworkErrors through the
  // same envelope.
  it('a path parameter longer than maxParamLength answers 414 URI_TOO_LONG with the error envelope', async () => {
    const url = `/users/${'a'.repeat(300)}`;
    const res = await t.app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(414);
    expectErrorEnvelope(res, { status: 414, code: 'URI_TOO_LONG', url });
  });

  it('a malformed percent-encoding in the path answers 400 MALFORMED_URL with the error envelope', async () => {
    const url = '/users/%E0%A4%A';
    const res = await t.app.inject({ method: 'GET', url });
    expectErrorEnvelope(res, { status: 400, code: 'MALFORMED_URL', url });
  });

  it('left the seeded rows exactly as they were', async () => {
    // Every user but the fixture principal the requests are made as.
    const { rows } = await t.sql.query('SELECT email, name, organization_id, metadata, password_hash FROM users WHERE id <> $1 ORDER BY email', [t.admin.id]);
    expect(rows).toEqual([
      { email: 'other@bad.test', name: 'Other', organization_id: null, metadata: {}, password_hash: null },
      { email: 'victim@bad.test', name: 'Victim', organization_id: ORG_ID, metadata: { keep: true }, password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$HASH' },
    ]);
    const { rows: profiles } = await t.sql.query('SELECT user_id, display_name, bio FROM user_profiles');
    expect(profiles).toEqual([{ user_id: USER_ID, display_name: 'Victim', bio: 'unchanged' }]);
    // The default organization comes from the auth migration.
    const { rows: orgs } = await t.sql.query('SELECT id, slug FROM organizations ORDER BY slug');
    expect(orgs).toEqual([
      { id: ORG_ID, slug: 'bad-input' },
      { id: '00000000-0000-7000-8000-000000000001', slug: 'default' },
    ]);
  });

  it('logged no server error: every bad input was a 4xx', () => {
    expect(serverErrors(t.logs)).toEqual([]);
    const statuses = t.logs.filter((line) => line.msg === 'request completed').map((line) => line.statusCode as number);
    expect(statuses.length).toBeGreaterThanOrEqual(ALL_CASES.length);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
  });
});
