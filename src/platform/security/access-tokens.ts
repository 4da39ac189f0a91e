import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { AppConfig } from '../config/config.schema.js';
import type { UserRole } from '../database/database.types.js';
import { AppError } from '../errors/app-error.js';
import type { KeyStore } from './key-store.js';
import { PERMISSIONS, permissionsOf, type Permission } from './permissions.js';

/** RFC 9068's media type for JWT access tokens; refuses ID tokens and other JWTs used in their place. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** Pinned: the verifier never reads the algorithm from the token it is verifying. */
const ALGORITHM = 'EdDSA';
/** Allowance for clock skew between replicas on exp, nbf and iat. */
const CLOCK_TOLERANCE_SECONDS = 5;

/** Who made a request, as an access token proves it. */
export interface Principal {
  userId: string;
  organizationId: string | null;
  role: UserRole;
  permissions: readonly Permission[];
  /** The refresh-token family (login session) the token was issued in. */
  sessionId: string;
  /** users.token_version when the token was issued; a bump invalidates the token. */
  tokenVersion: number;
  tokenId: string;
  expiresAt: Date;
}

export interface AccessTokenSubject {
  userId: string;
  organizationId: string | null;
  role: UserRole;
  sessionId: string;
  tokenVersion: number;
  /** An admin of the default organization: the token also carries PLATFORM_PERMISSIONS. */
  platformAdmin: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ROLES: readonly UserRole[] = ['user', 'moderator', 'admin'];

const invalid = (): AppError => new AppError('TOKEN_INVALID', { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } });

/**
 * Signs and verifies EdDSA (Ed25519) access tokens. Verification pins the algorithm, requires
 * exp/iat/sub/jti, checks iss, aud and typ, and takes the key only from the local key store by kid:
 * jwk, jku, x5u and x5c headers are never followed (jose reads none of them unless asked to).
 */
export class AccessTokens {
  constructor(
    private readonly keys: KeyStore,
    private readonly config: Pick<AppConfig, 'AUTH_ISSUER' | 'AUTH_AUDIENCE' | 'AUTH_ACCESS_TOKEN_TTL_SECONDS'>,
  ) {}

  get ttlSeconds(): number {
    return this.config.AUTH_ACCESS_TOKEN_TTL_SECONDS;
  }

  /** A signed access token for `subject`, valid for AUTH_ACCESS_TOKEN_TTL_SECONDS. */
  async sign(subject: AccessTokenSubject): Promise<string> {
    const { kid, key } = this.keys.signing;
    return new SignJWT({
      roles: [subject.role],
      permissions: permissionsOf(subject.role, { platformAdmin: subject.platformAdmin }),
      org: subject.organizationId,
      sid: subject.sessionId,
      ver: subject.tokenVersion,
    })
      .setProtectedHeader({ alg: ALGORITHM, typ: ACCESS_TOKEN_TYP, kid })
      .setIssuer(this.config.AUTH_ISSUER)
      .setAudience(this.config.AUTH_AUDIENCE)
      .setSubject(subject.userId)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.config.AUTH_ACCESS_TOKEN_TTL_SECONDS}s`)
      .sign(key);
  }

  /** The principal a valid token proves; AppError TOKEN_INVALID for anything else. */
  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header: JWTHeaderParameters) => this.keyFor(header), {
        algorithms: [ALGORITHM],
        issuer: this.config.AUTH_ISSUER,
        audience: this.config.AUTH_AUDIENCE,
        typ: ACCESS_TOKEN_TYP,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        // A token claiming to be issued far in the future, or living longer than we issue, is forged
        // or from a misconfigured issuer.
        maxTokenAge: this.config.AUTH_ACCESS_TOKEN_TTL_SECONDS + CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (error) {
      if (error instanceof errors.JOSEError || error instanceof AppError || error instanceof TypeError) throw invalid();
      throw error;
    }
    return this.principalOf(payload);
  }

  private keyFor(header: JWTHeaderParameters) {
    // Exact lookup in a list: a kid like "../../dev/null" or "' OR 1=1 --" simply matches nothing.
    const key = typeof header.kid === 'string' ? this.keys.verificationKey(header.kid) : undefined;
    if (!key) throw invalid();
    return key;
  }

  private principalOf(payload: JWTPayload): Principal {
    const { sub, jti, exp, org, sid, ver, roles, permissions } = payload;
    const role = Array.isArray(roles) && roles.length === 1 ? (roles[0] as unknown) : undefined;
    if (
      typeof sub !== 'string' ||
      !UUID.test(sub) ||
      typeof jti !== 'string' ||
      typeof exp !== 'number' ||
      !(org === null || (typeof org === 'string' && UUID.test(org))) ||
      typeof sid !== 'string' ||
      !UUID.test(sid) ||
      typeof ver !== 'number' ||
      !Number.isSafeInteger(ver) ||
      typeof role !== 'string' ||
      !(ROLES as readonly string[]).includes(role) ||
      !Array.isArray(permissions) ||
      !permissions.every((p: unknown) => typeof p === 'string' && (PERMISSIONS as readonly string[]).includes(p))
    ) {
      throw invalid();
    }
    return {
      userId: sub,
      organizationId: org,
      role: role as UserRole,
      permissions: permissions as Permission[],
      sessionId: sid,
      tokenVersion: ver,
      tokenId: jti,
      expiresAt: new Date(exp * 1000),
    };
  }
}
