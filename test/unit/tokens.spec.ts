import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/platform/config/config.schema.js';
import { AppError } from '../../src/platform/errors/app-error.js';
import { AccessTokens } from '../../src/platform/security/access-tokens.js';
import { generateSigningKey, KeyStore } from '../../src/platform/security/key-store.js';
import { bearerToken } from '../../src/platform/security/current-principal.js';
import { permissionsOf, ROLE_PERMISSIONS } from '../../src/platform/security/permissions.js';

const silent = pino({ level: 'silent' });
const subject = {
  userId: '01a22488-e1cd-75aa-99a5-6a491334b268',
  organizationId: '00000000-0000-7000-8000-000000000001',
  role: 'moderator' as const,
  sessionId: '01a22488-e1cd-75aa-99a5-6a491334b269',
  tokenVersion: 3,
  platformAdmin: false,
};

describe('key store', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'groundwork-keys-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('generates development keys once into DATA_DIR/keys with mode 0600, and reuses them', async () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    const [a, b] = await Promise.all([KeyStore.load(config, silent), KeyStore.load(config, silent)]);
    const file = path.join(dataDir, 'keys', 'auth-keys.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(a.jwks()).toEqual(b.jwks());
    expect((await KeyStore.load(config, silent)).jwks()).toEqual(a.jwks());
    const stored = JSON.parse(await readFile(file, 'utf8')) as { signingKeys: unknown[]; refreshTokenSecret: string };
    expect(stored.signingKeys).toHaveLength(1);
    expect(stored.refreshTokenSecret.length).toBeGreaterThanOrEqual(43);
  });

  it('refuses to start in production without configured keys', async () => {
    await expect(KeyStore.load(loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir }), silent)).rejects.toThrow(/must be set in production/);
  });

  it('uses configured keys: the first signs, all verify, only public parts are published', async () => {
    const [newest, older] = [await generateSigningKey(), await generateSigningKey()];
    const store = await KeyStore.load(
      loadConfig({ NODE_ENV: 'production', AUTH_SIGNING_KEYS: JSON.stringify([newest, older]), AUTH_REFRESH_TOKEN_SECRET: 's'.repeat(43) }),
      silent,
    );
    expect(store.signing.kid).toBe(newest.kid);
    expect(store.verificationKey(older.kid)).toBeDefined();
    expect(store.verificationKey('unknown')).toBeUndefined();
    expect(JSON.stringify(store.jwks())).not.toContain(newest.d);
    expect(store.jwks().keys.map((key) => key.kid)).toEqual([newest.kid, older.kid]);
  });

  it('derives the same child for the same parent and different ones otherwise', async () => {
    const store = await KeyStore.load(loadConfig({ DATA_DIR: dataDir }), silent);
    expect(store.hmac('label', 'parent')).toEqual(store.hmac('label', 'parent'));
    expect(store.hmac('label', 'parent')).not.toEqual(store.hmac('label', 'other'));
    expect(store.hmac('label', 'parent')).toHaveLength(32);
  });
});

describe('access tokens', () => {
  let tokens: AccessTokens;
  beforeAll(async () => {
    const config = loadConfig({ AUTH_SIGNING_KEYS: JSON.stringify([await generateSigningKey()]), AUTH_REFRESH_TOKEN_SECRET: 's'.repeat(43) });
    tokens = new AccessTokens(await KeyStore.load(config, silent), config);
  });

  it('signs EdDSA at+jwt tokens with kid and the claims the issue lists', async () => {
    const token = await tokens.sign(subject);
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>);
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: expect.any(String) });
    expect(Object.keys(payload!).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'org', 'permissions', 'roles', 'sid', 'sub', 'ver']);
    expect(payload).toMatchObject({ iss: 'groundwork', aud: 'groundwork-api', sub: subject.userId, roles: ['moderator'], permissions: permissionsOf('moderator') });
    expect((payload!.exp as number) - (payload!.iat as number)).toBe(900);
  });

  it('verifies its own tokens into a principal', async () => {
    const principal = await tokens.verify(await tokens.sign(subject));
    expect(principal).toMatchObject({ userId: subject.userId, role: 'moderator', sessionId: subject.sessionId, tokenVersion: 3 });
    expect(principal.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('rejects anything else with TOKEN_INVALID', async () => {
    for (const token of ['', 'a.b.c', 'x'.repeat(43)]) {
      await expect(tokens.verify(token)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
      await expect(tokens.verify(token)).rejects.toBeInstanceOf(AppError);
    }
  });
});

describe('bearer header parsing', () => {
  it.each([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc', 'abc'],
    ['BEARER  abc==', 'abc=='],
    ['Basic abc', undefined],
    ['Bearer', undefined],
    ['Bearer a b', undefined],
    [undefined, undefined],
  ])('%j -> %j', (header, expected) => {
    expect(bearerToken(header)).toBe(expected);
  });
});

describe('role -> permission map', () => {
  it('grows monotonically from user to moderator to admin', () => {
    for (const permission of ROLE_PERMISSIONS.user) expect(ROLE_PERMISSIONS.moderator).toContain(permission);
    for (const permission of ROLE_PERMISSIONS.moderator) expect(ROLE_PERMISSIONS.admin).toContain(permission);
    expect(ROLE_PERMISSIONS.user).not.toContain('users:delete');
  });

  it('grants platform permissions only to admins of the default organization', () => {
    for (const role of ['user', 'moderator', 'admin'] as const) expect(ROLE_PERMISSIONS[role]).not.toContain('platform:admin');
    expect(permissionsOf('admin', { platformAdmin: true })).toEqual(expect.arrayContaining(['platform:admin', 'organizations:create']));
    expect(permissionsOf('admin')).not.toContain('organizations:create');
    // The flag cannot lift a lesser role.
    expect(permissionsOf('user', { platformAdmin: true })).toEqual(permissionsOf('user'));
  });
});
