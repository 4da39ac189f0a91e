import { Injectable } from '@nestjs/common';
import type { DbExecutor } from '../../platform/database/database.service.js';
import type {
  AuditEvent,
  NewRefreshTokenRow,
  RefreshTokenRow,
  RevokeReason,
} from '../../platform/database/database.types.js';

export interface AuditEntry {
  id: string;
  event: AuditEvent;
  actorId: string | null;
  ip: string | null;
  userAgent: string | null;
  /** Never a password, token or hash: ids, reasons and counts only. */
  details: Record<string, unknown>;
}

/** SQL for refresh tokens and the audit log. */
@Injectable()
export class AuthRepository {
  insertRefreshToken(db: DbExecutor, row: NewRefreshTokenRow): Promise<void> {
    return db.insertInto('refresh_tokens').values(row).execute().then(() => undefined);
  }

  /**
   * The token with this hash, locked until the transaction ends: concurrent refreshes of one token
   * queue here, so exactly one rotates it and the others see it rotated.
   */
  lockByHash(db: DbExecutor, tokenHash: Buffer): Promise<RefreshTokenRow | undefined> {
    return db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).forUpdate().executeTakeFirst();
  }

  findById(db: DbExecutor, id: string): Promise<RefreshTokenRow | undefined> {
    return db.selectFrom('refresh_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async markRotated(db: DbExecutor, id: string, at: Date, childId: string): Promise<void> {
    await db.updateTable('refresh_tokens').set({ rotated_at: at, last_used_at: at, replaced_by: childId }).where('id', '=', id).execute();
  }

  /** Revokes every live token of the family; returns how many. */
  async revokeFamily(db: DbExecutor, familyId: string, reason: RevokeReason, at: Date): Promise<number> {
    const result = await db
      .updateTable('refresh_tokens')
      .set({ revoked_at: at, revoke_reason: reason })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Revokes every live token of the user (refresh_tokens_user_id_live_idx); returns how many. */
  async revokeAllOfUser(db: DbExecutor, userId: string, reason: RevokeReason, at: Date): Promise<number> {
    const result = await db
      .updateTable('refresh_tokens')
      .set({ revoked_at: at, revoke_reason: reason })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Whether the session (token family) has a token that is not revoked. */
  async familyIsLive(db: DbExecutor, familyId: string): Promise<boolean> {
    const row = await db
      .selectFrom('refresh_tokens')
      .select('id')
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async insertAudit(db: DbExecutor, entry: AuditEntry): Promise<void> {
    await db
      .insertInto('audit_log')
      .values({
        id: entry.id,
        event: entry.event,
        actor_id: entry.actorId,
        ip: entry.ip,
        user_agent: entry.userAgent,
        details: JSON.stringify(entry.details),
      })
      .execute();
  }
}
