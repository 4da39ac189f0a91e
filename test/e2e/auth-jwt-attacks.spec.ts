import 'reflect-metadata';
import { createHmac, createPublicKey } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/platform/security/key-store.js';
import type { SigningKeyJwk } from '../../src/platform/config/config.schema.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { expectErrorEnvelope, serverErrors } from '../helpers/api.js';
import { me, registerUser, type SessionJson } from '../helpers/auth.js';

// Every forged or altered access token of the list, sent to GET /auth/me: each must get 401
// TOKEN_INVALID, never a 200 and never a 5xx.

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function parts(token: string): { header: Record<string, unknown>; payload: JWTPayload; signature: string } {
  const [header = '', payload = '', signature = ''] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JWTPayload,
    signature,
  };
}

describe('access-token attacks', () => {
  let t: TestApp;
  let current: SigningKeyJwk;
  let retired: SigningKeyJwk;
  let session: SessionJson;
  let claims: JWTPayload;

  beforeAll(async () => {
    current = await generateSigningKey();
    retired = { ...(await generateSigningKey()), kid: 'retired-key' };
    t = await startTestApp({ AUTH_SIGNING_KEYS: JSON.stringify([current, retired]) });
    session = await registerUser(t);
    claims = parts(session.accessToken).payload;
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Signs `payload` with one of the service's own keys, with a chosen header. */
  async function signWith(key: SigningKeyJwk, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    const privateKey = await importJWK({ kty: key.kty, crv: key.crv, x: key.x, d: key.d }, 'EdDSA');
    return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid, ...header }).sign(privateKey);
  }

  const now = (): number => Math.floor(Date.now() / 1000);

  async function expectRejected(token: string): Promise<void> {
    const res = await me(t, token);
    expectErrorEnvelope(res, { status: 401, code: 'TOKEN_INVALID', url: '/auth/me' });
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  }

  it('accepts the genuine token (the baseline every attack alters)', async () => {
    const res = await me(t, session.accessToken);
    expect(res.statusCode, res.body).toBe(200);
    expect(parts(session.accessToken).header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: current.kid });
  });

  it('accepts a token signed by an older, still configured key (rotation logs nobody out)', async () => {
    const res = await me(t, await signWith(retired, claims));
    expect(res.statusCode, res.body).toBe(200);
  });

  it.each(['none', 'None', 'NONE', 'nOnE'])('refuses alg %s with an empty signature', async (alg) => {
    const { header, payload } = parts(session.accessToken);
    await expectRejected(`${b64({ ...header, alg })}.${b64(payload)}.`);
  });

  it('refuses alg none with the original signature kept', async () => {
    const { header, payload, signature } = parts(session.accessToken);
    await expectRejected(`${b64({ ...header, alg: 'none' })}.${b64(payload)}.${signature}`);
  });

  it('refuses a payload edited with the signature kept (role raised to admin)', async () => {
    const [header, , signature] = session.accessToken.split('.');
    const payload = { ...claims, roles: ['admin'], permissions: ['users:delete'] };
    await expectRejected(`${header}.${b64(payload)}.${signature}`);
  });

  it('refuses a payload edited with the signature kept (another subject)', async () => {
    const other = await registerUser(t);
    const [header, , signature] = session.accessToken.split('.');
    await expectRejected(`${header}.${b64({ ...claims, sub: other.user.id })}.${signature}`);
  });

  it('refuses a stripped signature, with and without the trailing dot', async () => {
    const [header, payload] = session.accessToken.split('.');
    await expectRejected(`${header}.${payload}.`);
    await expectRejected(`${header}.${payload}`);
  });

  it('refuses HS256 signed with the public key as the HMAC secret (algorithm confusion)', async () => {
    const publicPem = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: current.x }, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    for (const secret of [String(publicPem), current.x, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: current.x })]) {
      const signingInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: current.kid })}.${b64(claims)}`;
      const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
      await expectRejected(`${signingInput}.${signature}`);
    }
  });

  it('refuses a token signed by an attacker key embedded in a jwk header', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = await exportJWK(publicKey);
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', jwk }).sign(privateKey);
    await expectRejected(token);
    // Even with the service's real kid next to the embedded key.
    const withKid = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: current.kid, jwk }).sign(privateKey);
    await expectRejected(withKid);
  });

  it('refuses a token pointing at an attacker key set through jku or x5u', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    for (const header of [{ jku: 'https://attacker.example/jwks.json' }, { x5u: 'https://attacker.example/cert.pem' }]) {
      await expectRejected(await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: current.kid, ...header }).sign(privateKey));
    }
  });

  it.each([
    ['path traversal', '../../../../dev/null'],
    ['path traversal to the key file', '../keys/auth-keys.json'],
    ['SQL injection', "' OR '1'='1' --"],
    ['SQL injection with UNION', "x' UNION SELECT 'secret' --"],
    ['an unknown kid', 'no-such-key'],
    ['an empty kid', ''],
  ])('refuses a kid with %s', async (_label, kid) => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await expectRejected(await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(privateKey));
    // Also signed with the real key: the kid alone must decide, and these name no key.
    await expectRejected(await signWith(current, claims, { kid }));
  });

  it('refuses a token without kid', async () => {
    const privateKey = await importJWK({ kty: current.kty, crv: current.crv, x: current.x, d: current.d }, 'EdDSA');
    await expectRejected(await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' }).sign(privateKey));
  });

  it('refuses an expired token (exp in the past beyond the clock tolerance)', async () => {
    await expectRejected(await signWith(current, { ...claims, iat: now() - 120, exp: now() - 60 }));
  });

  it('refuses a token not valid yet (nbf in the future)', async () => {
    await expectRejected(await signWith(current, { ...claims, nbf: now() + 300 }));
  });

  it('refuses a token issued in the future (iat beyond the clock tolerance)', async () => {
    await expectRejected(await signWith(current, { ...claims, iat: now() + 600, exp: now() + 1200 }));
  });

  it('refuses a token without exp', async () => {
    const { exp: _exp, ...withoutExp } = claims;
    await expectRejected(await signWith(current, withoutExp));
  });

  it('refuses a token living longer than the service issues', async () => {
    await expectRejected(await signWith(current, { ...claims, iat: now() - 3600, exp: now() + 86_400 }));
  });

  it('refuses a wrong issuer, and a missing one', async () => {
    await expectRejected(await signWith(current, { ...claims, iss: 'https://evil.example' }));
    const { iss: _iss, ...withoutIss } = claims;
    await expectRejected(await signWith(current, withoutIss));
  });

  it('refuses a wrong audience, and a missing one', async () => {
    await expectRejected(await signWith(current, { ...claims, aud: 'another-api' }));
    const { aud: _aud, ...withoutAud } = claims;
    await expectRejected(await signWith(current, withoutAud));
  });

  it.each([['JWT'], ['id+jwt'], ['application/jwt'], [undefined]])('refuses typ %s', async (typ) => {
    await expectRejected(await signWith(current, claims, { typ }));
  });

  it('refuses a refresh token presented as an access token', async () => {
    await expectRejected(session.refreshToken);
  });

  it('refuses garbage in the bearer slot', async () => {
    for (const token of ['a.b.c', 'x', `${'A'.repeat(4000)}.${'B'.repeat(4000)}.C`, 'eyJ.eyJ.', '...']) await expectRejected(token);
  });

  it('refuses claims of the wrong shape even when correctly signed', async () => {
    await expectRejected(await signWith(current, { ...claims, sub: "1' OR 1=1" }));
    await expectRejected(await signWith(current, { ...claims, roles: ['superuser'] }));
    await expectRejected(await signWith(current, { ...claims, ver: '0' }));
  });

  it('asks for a token when none is sent, or with another scheme', async () => {
    for (const headers of [{}, { authorization: `Basic ${b64('a:b')}` }, { authorization: 'Bearer' }, { authorization: `Token ${session.accessToken}` }]) {
      const res = await t.anonymous({ method: 'GET', url: '/auth/me', headers });
      expectErrorEnvelope(res, { status: 401, code: 'AUTHENTICATION_REQUIRED', url: '/auth/me' });
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('logged no server error for any attack', () => {
    expect(serverErrors(t.logs)).toEqual([]);
  });

  it('publishes only public keys in the JWKS', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    const { keys } = res.json<{ keys: Array<Record<string, unknown>> }>();
    expect(keys.map((key) => key.kid)).toEqual([current.kid, retired.kid]);
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      expect(key).not.toHaveProperty('d');
    }
    expect(res.body).not.toContain(current.d);
    expect(res.body).not.toContain(retired.d);
  });
});
