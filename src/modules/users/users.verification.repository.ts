import { Injectable } from '@nestjs/common';
import type { DbExecutor } from '../../platform/database/database.service.js';

export interface VerificationTokenRecord {
  id: string;
  user_id: string;
  email: string;
  expires_at: Date;
  used_at: Date | null;
  user_email: string;
}

/** Email verification tokens, stored as SHA-256 hashes. */
@Injectable()
export class VerificationTokensRepository {
  async insert(db: DbExecutor, row: { id: string; user_id: string; email: string; token_hash: Buffer; expires_at: Date }): Promise<void> {
    await db.insertInto('email_verification_tokens').values(row).execute();
  }

  /** The token with that hash and its user's current email, locked so it is used once. */
  async lockByHash(db: DbExecutor, tokenHash: Buffer): Promise<VerificationTokenRecord | undefined> {
    return db
      .selectFrom('email_verification_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select(['t.id', 't.user_id', 't.email', 't.expires_at', 't.used_at', 'u.email as user_email'])
      .where('t.token_hash', '=', tokenHash)
      .forUpdate('t')
      .executeTakeFirst();
  }

  async markUsed(db: DbExecutor, id: string, at: Date): Promise<void> {
    await db.updateTable('email_verification_tokens').set({ used_at: at }).where('id', '=', id).execute();
  }

  async markEmailVerified(db: DbExecutor, userId: string, at: Date): Promise<void> {
    await db.updateTable('users').set({ email_verified_at: at, updated_at: at }).where('id', '=', userId).execute();
  }
}
