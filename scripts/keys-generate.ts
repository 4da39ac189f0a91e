/**
 * Prints a new Ed25519 signing key (a private JWK) and a refresh-token secret, for
 * AUTH_SIGNING_KEYS and AUTH_REFRESH_TOKEN_SECRET:
 *
 *   npm run keys:generate
 *
 * To rotate, put the new key first in AUTH_SIGNING_KEYS and keep the old one after it until
 * access tokens it signed have expired (AUTH_ACCESS_TOKEN_TTL_SECONDS), then drop it. The output
 * is secret: write it to the secret store, not to a terminal log.
 */
import { randomBytes } from 'node:crypto';
import { generateSigningKey } from '../src/platform/security/key-store.js';

const key = await generateSigningKey();
process.stdout.write(`AUTH_SIGNING_KEYS='${JSON.stringify([key])}'\n`);
process.stdout.write(`AUTH_REFRESH_TOKEN_SECRET=${randomBytes(32).toString('base64url')}\n`);
