import { Injectable } from '@nestjs/common';
import type { Selectable } from 'kysely';
import type { DbExecutor } from '../../platform/database/database.service.js';
import type { NotificationsTable } from '../../platform/database/database.types.js';

export type NotificationRecord = Selectable<NotificationsTable>;

@Injectable()
export class NotificationsRepository {
  /** Idempotent by id: a retried job inserts nothing the second time. */
  async insert(db: DbExecutor, row: { id: string; user_id: string; kind: string; title: string; body: string }): Promise<boolean> {
    const result = await db.insertInto('notifications').values(row).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst();
    return result.numInsertedOrUpdatedRows === 1n;
  }

  /** The user's notifications, newest first, after `before` (exclusive); `limit + 1` rows to tell if more exist. */
  async listForUser(db: DbExecutor, userId: string, before: string | undefined, limit: number): Promise<NotificationRecord[]> {
    let query = db.selectFrom('notifications').selectAll().where('user_id', '=', userId);
    if (before) query = query.where('id', '<', before);
    return query.orderBy('id', 'desc').limit(limit + 1).execute();
  }

  /** Marks the user's notification read (first read time kept); false when it is not the user's. */
  async markRead(db: DbExecutor, userId: string, id: string): Promise<NotificationRecord | undefined> {
    const row = await db
      .updateTable('notifications')
      .set((eb) => ({ read_at: eb.fn.coalesce('read_at', eb.fn<Date>('now', [])) }))
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .returningAll()
      .executeTakeFirst();
    return row;
  }
}
