import { Inject, Injectable } from '@nestjs/common';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { v7 as uuidv7 } from 'uuid';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config.schema.js';
import { DatabaseService } from '../../platform/database/database.service.js';
import { AppError } from '../../platform/errors/app-error.js';
import { JobsService } from '../../platform/jobs/jobs.service.js';
import { UnrecoverableJobError, type JobContext } from '../../platform/jobs/jobs.types.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { ResourceAccessService } from '../access/access.service.js';
import type { UserDto } from '../users/users.dto.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { UsersService, type UserExportFilter } from '../users/users.service.js';
import type { CreateExportDto, ExportDto, ExportFormat, UserExportFiltersDto } from './exports.dto.js';
import { ExportsRepository, type ExportRecord } from './exports.repository.js';

export const EXPORT_JOB = 'users-export';
/** Rows read per keyset page: the most the worker holds at once. */
const PAGE_SIZE = 2000;
const COLUMNS = ['id', 'email', 'name', 'status', 'role', 'organizationId', 'emailVerifiedAt', 'createdAt'] as const;

/** A CSV field: quoted when needed, and a leading formula character neutralised (CSV injection). */
function csvField(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function exportLine(format: ExportFormat, user: UserDto): string {
  const record = {
    id: user.id,
    email: user.email,
    name: user.name,
    status: user.status,
    role: user.role,
    organizationId: user.organizationId,
    emailVerifiedAt: user.emailVerifiedAt,
    createdAt: user.createdAt,
  };
  if (format === 'jsonl') return `${JSON.stringify(record)}\n`;
  return `${COLUMNS.map((column) => csvField(record[column])).join(',')}\n`;
}

function toDto(row: ExportRecord): ExportDto {
  return {
    id: row.id,
    resource: row.resource,
    format: row.format,
    filters: row.filters,
    status: row.status,
    progress: row.progress,
    rowCount: row.row_count,
    createdAt: row.created_at.toISOString(),
    completedAt: row.completed_at?.toISOString() ?? null,
    downloadUrl: row.status === 'completed' ? `/exports/${row.id}/download` : null,
  };
}

const exportNotFound = (): AppError => new AppError('EXPORT_NOT_FOUND');

/**
 * Data exports: requested over HTTP, written by the data-export queue's worker. The worker streams
 * users page by page (keyset) into a file under DATA_DIR/exports, so memory stays flat whatever the
 * row count, and reports progress as it goes. An export and its file belong to the user who asked.
 */
@Injectable()
export class ExportsService {
  private readonly directory: string;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly database: DatabaseService,
    private readonly exports: ExportsRepository,
    private readonly users: UsersService,
    private readonly access: ResourceAccessService,
    private readonly jobs: JobsService,
    private readonly notifications: NotificationsService,
  ) {
    this.directory = path.join(config.DATA_DIR, 'exports');
  }

  /** Records the export and queues its job in one transaction. Needs `users:read`; covers the caller's organization. */
  async create(caller: Principal, input: CreateExportDto): Promise<ExportDto> {
    if (!this.access.holds(caller, 'users:read')) throw new AppError('FORBIDDEN');
    // The organization the export covers, decided now: every one for platform admins (stored as
    // null), the caller's own otherwise; a caller with no organization has nobody to export.
    const scope = this.access.tenantScope(caller);
    if (scope === null) throw new AppError('FORBIDDEN');
    const filters = input.filters ?? {};
    const id = uuidv7();
    return this.database.transaction(async (trx) => {
      const row = await this.exports.insert(trx, {
        id,
        owner_id: caller.userId,
        organization_id: scope ?? null,
        resource: input.resource,
        format: input.format,
        filters: JSON.stringify({ ...filters }),
      });
      await this.jobs.enqueue('data-export', EXPORT_JOB, { exportId: id }, { jobId: `export:${id}`, db: trx });
      return toDto(row);
    });
  }

  /** The caller's own export; anyone else's is EXPORT_NOT_FOUND. */
  async findOne(caller: Principal, id: string): Promise<ExportDto> {
    return toDto(await this.ownExport(caller, id));
  }

  /** The finished file of the caller's export, as a stream. */
  async openDownload(caller: Principal, id: string): Promise<{ stream: Readable; fileName: string; contentType: string }> {
    const row = await this.ownExport(caller, id);
    if (row.status !== 'completed' || row.file_name === null) throw new AppError('EXPORT_NOT_READY');
    return {
      stream: createReadStream(path.join(this.directory, row.file_name)),
      fileName: `users-${row.id}.${row.format}`,
      contentType: row.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
    };
  }

  /**
   * The job: writes every matching user to a temporary file, then renames it into place, so a retried
   * or crashed attempt never leaves a partial file behind a completed status.
   */
  async run(exportId: string, context: Pick<JobContext, 'attempt' | 'maxAttempts' | 'progress'>): Promise<{ rows: number }> {
    const row = await this.exports.findById(this.database.db, exportId);
    if (!row) throw new UnrecoverableJobError(`export ${exportId} does not exist`);
    if (row.status === 'completed') return { rows: row.row_count };
    const stored = row.filters as UserExportFiltersDto;
    const filter: UserExportFilter = {
      // Null: a platform admin's export of every organization.
      ...(row.organization_id !== null && { organizationId: row.organization_id }),
      ...(stored.status && { status: stored.status }),
      ...(stored.role && { role: stored.role }),
      ...(stored.email && { email: stored.email }),
    };
    await this.exports.markRunning(this.database.db, exportId);
    await mkdir(this.directory, { recursive: true });
    const fileName = `${exportId}.${row.format}`;
    const temporary = path.join(this.directory, `${fileName}.${context.attempt}.part`);
    const out = createWriteStream(temporary, { highWaterMark: 1024 * 1024 });
    try {
      const total = await this.users.countForExport(filter);
      if (row.format === 'csv') out.write(`${COLUMNS.join(',')}\n`);
      let written = 0;
      let after;
      do {
        const page = await this.users.exportPage(filter, after, PAGE_SIZE);
        // One write per page, and backpressure respected: wait for the disk when the buffer is full.
        if (!out.write(page.users.map((user) => exportLine(row.format, user)).join(''))) await once(out, 'drain');
        written += page.users.length;
        after = page.next;
        // Below 100 until the file is in place; 100 is the completed state's.
        const progress = total === 0 ? 99 : Math.min(99, Math.floor((written * 100) / total));
        await this.exports.recordProgress(this.database.db, exportId, progress, written);
        await context.progress(progress);
      } while (after);
      out.end();
      await finished(out);
      await rename(temporary, path.join(this.directory, fileName));
      await this.exports.markCompleted(this.database.db, exportId, written, fileName);
      await context.progress(100);
      await this.notifications.notify(row.owner_id, {
        key: `export-ready:${exportId}`,
        kind: 'export-ready',
        title: 'Your export is ready',
        body: `${written} ${row.resource} rows as ${row.format.toUpperCase()}: /exports/${exportId}/download`,
      });
      return { rows: written };
    } catch (error) {
      out.destroy();
      await rm(temporary, { force: true });
      if (error instanceof UnrecoverableJobError || context.attempt >= context.maxAttempts) {
        await this.exports.markFailed(this.database.db, exportId, error instanceof Error ? error.message : 'export failed');
      }
      throw error;
    }
  }

  private async ownExport(caller: Principal, id: string): Promise<ExportRecord> {
    const row = await this.exports.findById(this.database.db, id);
    if (!row || row.owner_id !== caller.userId) throw exportNotFound();
    return row;
  }
}
