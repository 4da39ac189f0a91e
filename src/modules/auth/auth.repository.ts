import { Injectable } from '@nestjs/common';
import type { CompiledQuery } from 'kysely';
import type { DbExecutor } from '../../platform/database/database.service.js';
import { executeCompiled } from '../../platform/database/pool-query.js';
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

/** Stands for a value bound at execution time in queries compiled once. */
const BOUND_LATER = '00000000-0000-0000-0000-000000000000';

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

  /**
   * Authentication asks this on every authenticated request, so the statement is compiled once and
   * run with only the family id bound (on the pool, outside a transaction; see executeCompiled).
   */
  private familyIsLiveCompiled: CompiledQuery<{ id: string }> | undefined;

  /** Whether the session (token family) has a token that is not revoked. */
  async familyIsLive(db: DbExecutor, familyId: string): Promise<boolean> {
    if (!this.familyIsLiveCompiled) {
      this.familyIsLiveCompiled = db
        .selectFrom('refresh_tokens')
        .select('id')
        .where('family_id', '=', BOUND_LATER)
        .where('revoked_at', 'is', null)
        .limit(1)
        .compile();
      if (this.familyIsLiveCompiled.parameters.filter((value) => value === BOUND_LATER).length !== 1) {
        throw new Error('familyIsLive must bind the family id exactly once');
      }
    }
    const compiled = this.familyIsLiveCompiled;
    const parameters = compiled.parameters.map((value) => (value === BOUND_LATER ? familyId : value));
    const rows = await executeCompiled<{ id: string }>(db, { ...compiled, parameters });
    return rows.length > 0;
  }

  async insertAudit(db: DbExecutor, entry: AuditEntry): Promise<void> {
    await db.insertInto('audit_log').values(auditRow(entry)).execute();
  }

  /**
   * A new session's first refresh token and its audit row in one statement (a data-modifying CTE):
   * login runs it on every success, and each statement saved is a round trip, and a wake-up of the
   * database backend, less per login.
   */
  async insertRefreshTokenWithAudit(db: DbExecutor, row: NewRefreshTokenRow, entry: AuditEntry): Promise<void> {
    await db
      .with('token', (qb) => qb.insertInto('refresh_tokens').values(row).returning('id'))
      .insertInto('audit_log')
      .values(auditRow(entry))
      .execute();
  }
}

function auditRow(entry: AuditEntry) {
  return {
    id: entry.id,
    event: entry.event,
    actor_id: entry.actorId,
    ip: entry.ip,
    user_agent: entry.userAgent,
    details: JSON.stringify(entry.details),
  };
}
