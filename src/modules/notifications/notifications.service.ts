import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config.schema.js';
import { DatabaseService, type DbExecutor } from '../../platform/database/database.service.js';
import type { UserStatus } from '../../platform/database/database.types.js';
import { AppError } from '../../platform/errors/app-error.js';
import { JobsService } from '../../platform/jobs/jobs.service.js';
import type { JobContext } from '../../platform/jobs/jobs.types.js';
import { MailService } from '../../platform/mail/mail.service.js';
import { PROCESS_LOGGER } from '../../platform/observability/logger.tokens.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { UsersService, type UserExportCursor } from '../users/users.service.js';
import type { CampaignQueuedDto, CreateCampaignDto, ListNotificationsQueryDto, NotificationDto, NotificationPageDto } from './notifications.dto.js';
import { NotificationsRepository, type NotificationRecord } from './notifications.repository.js';

export const NOTIFY_JOB = 'notify';
export const CAMPAIGN_JOB = 'send-campaign';
/** Recipients per campaign batch (the guideline's batchSize). */
export const CAMPAIGN_BATCH = 100;

export interface NotifyJob {
  id: string;
  userId: string;
  kind: string;
  title: string;
  body: string;
}

export interface CampaignJob {
  campaignId: string;
  subject: string;
  body: string;
  status: UserStatus;
}

function toDto(row: NotificationRecord): NotificationDto {
  return { id: row.id, kind: row.kind, title: row.title, body: row.body, readAt: row.read_at?.toISOString() ?? null, createdAt: row.created_at.toISOString() };
}

/**
 * In-app notifications, written by the notifications queue's worker, and bulk email campaigns,
 * sent by the email queue's worker in batches with a rate limit and progress.
 */
@Injectable()
export class NotificationsService {
  private readonly log: Logger;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROCESS_LOGGER) logger: Logger,
    private readonly database: DatabaseService,
    private readonly notifications: NotificationsRepository,
    private readonly jobs: JobsService,
    private readonly mail: MailService,
    private readonly users: UsersService,
  ) {
    this.log = logger.child({ component: 'notifications' });
  }

  /**
   * Queues a notification for `userId`. `key` makes it idempotent (one notification per key); with
   * `db` a transaction, it exists only if that transaction commits.
   */
  async notify(userId: string, content: { key: string; kind: string; title: string; body: string }, db?: DbExecutor): Promise<void> {
    const job: NotifyJob = { id: uuidv7(), userId, kind: content.kind, title: content.title, body: content.body };
    await this.jobs.enqueue('notifications', NOTIFY_JOB, job, { jobId: `notify:${content.key}`, ...(db && { db }) });
  }

  /** The notifications job: inserts the row once, whatever the number of attempts. */
  async deliver(job: NotifyJob): Promise<{ inserted: boolean }> {
    const inserted = await this.notifications.insert(this.database.db, { id: job.id, user_id: job.userId, kind: job.kind, title: job.title, body: job.body });
    return { inserted };
  }

  /** The caller's own notifications, newest first, cursor-paginated. */
  async list(caller: Principal, query: ListNotificationsQueryDto): Promise<NotificationPageDto> {
    const limit = query.limit ?? 20;
    const rows = await this.notifications.listForUser(this.database.db, caller.userId, query.cursor, limit);
    const page = rows.slice(0, limit);
    return { data: page.map(toDto), nextCursor: rows.length > limit ? (page.at(-1)?.id ?? null) : null };
  }

  /** Marks one of the caller's notifications read; anyone else's is NOTIFICATION_NOT_FOUND. */
  async markRead(caller: Principal, id: string): Promise<NotificationDto> {
    const row = await this.notifications.markRead(this.database.db, caller.userId, id);
    if (!row) throw new AppError('NOTIFICATION_NOT_FOUND');
    return toDto(row);
  }

  /** Queues a campaign email to every user with `status` (platform admins). */
  async createCampaign(caller: Principal, input: CreateCampaignDto): Promise<CampaignQueuedDto> {
    if (!caller.permissions.includes('platform:admin')) throw new AppError('FORBIDDEN');
    const job: CampaignJob = { campaignId: uuidv7(), subject: input.subject, body: input.body, status: input.status ?? 'active' };
    const { id } = await this.jobs.enqueue('email', CAMPAIGN_JOB, job, { jobId: `campaign:${job.campaignId}` });
    return { campaignId: job.campaignId, jobId: id };
  }

  /**
   * The campaign job: recipients in keyset pages of CAMPAIGN_BATCH, each batch sent concurrently,
   * then a pause so the rate stays under MAIL_RATE_PER_SECOND, and progress after each batch. Each
   * recipient's message has its own idempotency key, so a retried job skips those already sent.
   * A recipient whose message fails is logged and counted; it does not stop the campaign.
   */
  async runCampaign(job: CampaignJob, context: Pick<JobContext, 'progress'>): Promise<{ sent: number; failed: number }> {
    const filter = { status: job.status };
    const total = await this.users.countForExport(filter);
    const minimumBatchMs = (CAMPAIGN_BATCH * 1000) / this.config.MAIL_RATE_PER_SECOND;
    let after: UserExportCursor | undefined;
    let done = 0;
    let sent = 0;
    let failed = 0;
    do {
      const started = performance.now();
      const page = await this.users.exportPage(filter, after, CAMPAIGN_BATCH);
      const results = await Promise.allSettled(
        page.users.map((user) =>
          this.mail.deliver({ key: `campaign:${job.campaignId}:${user.id}`, to: user.email, template: 'campaign', data: { name: user.name, subject: job.subject, body: job.body } }),
        ),
      );
      for (const result of results) {
        if (result.status === 'fulfilled') sent++;
        else {
          failed++;
          this.log.warn({ err: result.reason, campaignId: job.campaignId }, 'campaign email failed for one recipient');
        }
      }
      done += page.users.length;
      after = page.next;
      await context.progress(total === 0 ? 100 : Math.floor((done * 100) / total));
      const elapsed = performance.now() - started;
      if (after && elapsed < minimumBatchMs) await sleep(minimumBatchMs - elapsed);
    } while (after);
    await context.progress(100);
    return { sent, failed };
  }
}
