import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config.schema.js';
import { DatabaseService } from '../../platform/database/database.service.js';
import { AppError } from '../../platform/errors/app-error.js';
import { MailService } from '../../platform/mail/mail.service.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { ResourceAccessService } from '../access/access.service.js';
import { UsersRepository } from './users.repository.js';
import { VerificationTokensRepository } from './users.verification.repository.js';

const sha256 = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Email verification: a single-use token (32 random bytes, stored only as its SHA-256) sent by email
 * in the transaction that creates it, and its confirmation.
 */
@Injectable()
export class EmailVerificationService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseService,
    private readonly tokens: VerificationTokensRepository,
    private readonly users: UsersRepository,
    private readonly access: ResourceAccessService,
    private readonly mail: MailService,
  ) {}

  /** Sends a verification link to the user's address: the user itself, or an admin of its organization. */
  async request(caller: Principal, userId: string): Promise<{ expiresAt: string }> {
    const notFound = (): AppError => new AppError('USER_NOT_FOUND');
    return this.database.transaction(async (trx) => {
      const target = await this.users.lockById(trx, userId);
      if (!target) throw notFound();
      await this.access.assert(caller, { type: 'user', organizationId: target.organization_id, ownerId: target.id }, 'update', notFound);
      const user = await this.users.findById(trx, userId);
      if (!user) throw notFound();
      if (user.email_verified_at !== null) throw new AppError('EMAIL_ALREADY_VERIFIED');
      const token = randomBytes(32).toString('base64url');
      const id = uuidv7();
      const expiresAt = new Date(Date.now() + this.config.VERIFY_EMAIL_TOKEN_TTL_SECONDS * 1000);
      await this.tokens.insert(trx, { id, user_id: user.id, email: user.email, token_hash: sha256(token), expires_at: expiresAt });
      // The link leaves only by email; the job carries it, the database keeps only the hash.
      await this.mail.enqueue(
        {
          key: `verify-email:${id}`,
          to: user.email,
          template: 'verify-email',
          data: { name: user.name, link: `${this.config.PUBLIC_URL}/verify-email?token=${token}`, expiresAt: expiresAt.toISOString() },
        },
        trx,
      );
      return { expiresAt: expiresAt.toISOString() };
    });
  }

  /** Marks the address verified. Unknown, expired and used tokens fail with distinct codes. */
  async confirm(token: string): Promise<{ userId: string; emailVerifiedAt: string }> {
    const outcome = await this.database.transaction(async (trx) => {
      const row = await this.tokens.lockByHash(trx, sha256(token));
      // A token for an address the user has since changed would verify the wrong address.
      if (!row || row.email !== row.user_email) return 'VERIFICATION_TOKEN_INVALID' as const;
      if (row.used_at !== null) return 'VERIFICATION_TOKEN_USED' as const;
      const now = new Date();
      if (row.expires_at <= now) return 'VERIFICATION_TOKEN_EXPIRED' as const;
      await this.tokens.markUsed(trx, row.id, now);
      await this.tokens.markEmailVerified(trx, row.user_id, now);
      return { userId: row.user_id, emailVerifiedAt: now.toISOString() };
    });
    if (typeof outcome === 'string') throw new AppError(outcome);
    return outcome;
  }
}
