import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Logger } from 'pino';
import type { AppConfig, SigningKeyJwk } from '../config/config.schema.js';

/** What DATA_DIR/keys/auth-keys.json holds in development and test. */
interface GeneratedKeys {
  signingKeys: SigningKeyJwk[];
  refreshTokenSecret: string;
}

/** A public key as the JWKS endpoint publishes it. */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  kid: string;
  x: string;
  alg: 'EdDSA';
  use: 'sig';
}

interface LoadedKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: PublicJwk;
}

/** A fresh Ed25519 private JWK whose kid is the date it was made plus a random suffix. */
export async function generateSigningKey(): Promise<SigningKeyJwk> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  if (typeof jwk.x !== 'string' || typeof jwk.d !== 'string') throw new Error('Ed25519 key export lacks x or d');
  const kid = `${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
  return { kty: 'OKP', crv: 'Ed25519', kid, x: jwk.x, d: jwk.d };
}

/**
 * Reads DATA_DIR/keys/auth-keys.json, creating it (mode 0600) on first start. Creation is atomic:
 * the file is written under a unique name and hard-linked into place, which fails if another
 * process (a parallel test worker) got there first; then that process's keys are used.
 */
async function loadOrCreateDevKeys(dataDir: string, logger: Logger): Promise<GeneratedKeys> {
  const dir = path.join(dataDir, 'keys');
  const file = path.join(dir, 'auth-keys.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as GeneratedKeys;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // DATA_DIR with the default mode (the embedded PostgreSQL, running as another user when started
  // as root, must traverse it); only the keys folder is private. A recursive mkdir would give
  // every folder it creates the 0700 mode.
  await mkdir(dataDir, { recursive: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys: GeneratedKeys = { signingKeys: [await generateSigningKey()], refreshTokenSecret: randomBytes(32).toString('base64url') };
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(temporary, file);
    // Info, not warn: this is the expected first start of a development checkout; production
    // refuses to start without configured keys instead of reaching this line.
    logger.info({ file }, 'generated development signing keys; production needs AUTH_SIGNING_KEYS and AUTH_REFRESH_TOKEN_SECRET');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary);
  }
  return JSON.parse(await readFile(file, 'utf8')) as GeneratedKeys;
}

/**
 * The keys of the token service: Ed25519 signing keys (the first signs, every one verifies, so a
 * key can be rotated in without logging anyone out and rotated out once its tokens have expired)
 * and the HMAC secret that derives rotated refresh tokens (ADR 0006). They come from
 * AUTH_SIGNING_KEYS and AUTH_REFRESH_TOKEN_SECRET; outside production, missing ones are generated
 * once into DATA_DIR/keys. Production refuses to start without them: keys generated per replica
 * would make every replica reject the others' tokens.
 */
export class KeyStore {
  private constructor(
    private readonly keys: readonly LoadedKey[],
    private readonly refreshSecret: KeyObject,
  ) {}

  static async load(config: AppConfig, logger: Logger): Promise<KeyStore> {
    let signingKeys = config.AUTH_SIGNING_KEYS;
    let refreshSecret = config.AUTH_REFRESH_TOKEN_SECRET;
    if (signingKeys === undefined || refreshSecret === undefined) {
      if (config.NODE_ENV === 'production') {
        throw new Error('AUTH_SIGNING_KEYS and AUTH_REFRESH_TOKEN_SECRET must be set in production');
      }
      const generated = await loadOrCreateDevKeys(config.DATA_DIR, logger);
      signingKeys ??= generated.signingKeys;
      refreshSecret ??= generated.refreshTokenSecret;
    }
    const loaded = await Promise.all(signingKeys.map(loadKey));
    return new KeyStore(loaded, createSecretKey(Buffer.from(refreshSecret, 'utf8')));
  }

  /** The key new tokens are signed with. */
  get signing(): { kid: string; key: CryptoKey } {
    const newest = this.keys[0];
    if (!newest) throw new Error('no signing key loaded');
    return { kid: newest.kid, key: newest.privateKey };
  }

  /** The public key for `kid`, looked up by exact match only; undefined for an unknown kid. */
  verificationKey(kid: string): CryptoKey | undefined {
    return this.keys.find((key) => key.kid === kid)?.publicKey;
  }

  /** Public keys only: x, never d. */
  jwks(): { keys: PublicJwk[] } {
    return { keys: this.keys.map((key) => key.publicJwk) };
  }

  /** HMAC-SHA256 under the refresh secret; derives a rotated token from its parent (ADR 0006). */
  hmac(label: string, input: Buffer | string): Buffer {
    return createHmac('sha256', this.refreshSecret).update(label).update('\0').update(input).digest();
  }
}

async function loadKey(jwk: SigningKeyJwk): Promise<LoadedKey> {
  const privateJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d };
  const publicJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  const privateKey = await importJWK(privateJwk, 'EdDSA');
  const publicKey = await importJWK(publicJwk, 'EdDSA');
  if (privateKey instanceof Uint8Array || publicKey instanceof Uint8Array) throw new Error('Ed25519 JWK imported as a symmetric key');
  return {
    kid: jwk.kid,
    privateKey,
    publicKey,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', kid: jwk.kid, x: jwk.x, alg: 'EdDSA', use: 'sig' },
  };
}
