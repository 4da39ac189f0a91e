import { Injectable } from '@nestjs/common';
import type { Selectable } from 'kysely';
import type { DbExecutor } from '../../platform/database/database.service.js';
import type { ExportsTable } from '../../platform/database/database.types.js';

export type ExportRecord = Selectable<ExportsTable>;

@Injectable()
export class ExportsRepository {
  async insert(db: DbExecutor, row: { id: string; owner_id: string; organization_id: string | null; resource: 'users'; format: 'csv' | 'jsonl'; filters: string }): Promise<ExportRecord> {
    return db.insertInto('exports').values(row).returningAll().executeTakeFirstOrThrow();
  }

  async findById(db: DbExecutor, id: string): Promise<ExportRecord | undefined> {
    return db.selectFrom('exports').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async markRunning(db: DbExecutor, id: string): Promise<void> {
    await db.updateTable('exports').set({ status: 'running', progress: 0, row_count: 0, error: null, updated_at: new Date() }).where('id', '=', id).execute();
  }

  /** Progress only rises: a late write from an earlier attempt cannot move it back. */
  async recordProgress(db: DbExecutor, id: string, progress: number, rowCount: number): Promise<void> {
    await db
      .updateTable('exports')
      .set({ progress, row_count: rowCount, updated_at: new Date() })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('progress', '<=', progress)
      .execute();
  }

  async markCompleted(db: DbExecutor, id: string, rowCount: number, fileName: string): Promise<void> {
    const now = new Date();
    await db
      .updateTable('exports')
      .set({ status: 'completed', progress: 100, row_count: rowCount, file_name: fileName, completed_at: now, updated_at: now })
      .where('id', '=', id)
      .execute();
  }

  async markFailed(db: DbExecutor, id: string, error: string): Promise<void> {
    await db.updateTable('exports').set({ status: 'failed', error, updated_at: new Date() }).where('id', '=', id).execute();
  }
}
