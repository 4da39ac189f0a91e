import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '../config/config.schema.js';
import { DatabaseService, type DbExecutor } from '../database/database.service.js';
import { JobsService } from '../jobs/jobs.service.js';
import { UnrecoverableJobError, type EnqueueResult, type JobContext } from '../jobs/jobs.types.js';
import { PROCESS_LOGGER } from '../observability/logger.tokens.js';
import { renderMail, type MailTemplate, type MailTemplates } from './mail.templates.js';

/** One email to send, as the `email` queue carries it. */
export interface MailMessage<T extends MailTemplate = MailTemplate> {
  /** Idempotency key: one accepted message per key, however often the job runs. */
  key: string;
  to: string;
  template: T;
  data: MailTemplates[T];
}

export const SEND_EMAIL_JOB = 'send-email';

/** SMTP replies 5xx are permanent (unknown mailbox, rejected content); retrying cannot help. */
function isPermanentSmtpError(error: unknown): boolean {
  const code = (error as { responseCode?: unknown } | null)?.responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

/**
 * Email over nodemailer: SMTP when SMTP_URL is set, otherwise .eml files under DATA_DIR/mail.
 * Messages are sent by the `email` queue's processor, so a request never waits on a mail server,
 * and each is sent once per idempotency key (sent_mail).
 */
@Injectable()
export class MailService implements OnModuleInit {
  private readonly transport: Transporter;
  private readonly mailDir: string;
  private readonly log: Logger;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROCESS_LOGGER) logger: Logger,
    private readonly database: DatabaseService,
    private readonly jobs: JobsService,
  ) {
    this.log = logger.child({ component: 'mail' });
    this.mailDir = path.join(config.DATA_DIR, 'mail');
    this.transport = config.SMTP_URL
      ? nodemailer.createTransport(config.SMTP_URL)
      : // The default writes the raw message; the file is what an SMTP server would have received.
        nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  }

  onModuleInit(): void {
    this.jobs.register<MailMessage>('email', SEND_EMAIL_JOB, (message, context) => this.deliver(message, context));
  }

  /** Queues `message` for sending; with `db` a transaction, only if that transaction commits. */
  enqueue<T extends MailTemplate>(message: MailMessage<T>, db?: DbExecutor): Promise<EnqueueResult> {
    return this.jobs.enqueue('email', SEND_EMAIL_JOB, message, { jobId: `mail:${message.key}`, ...(db && { db }) });
  }

  /**
   * Sends `message` unless a message with its key was already accepted. A transient failure (4xx,
   * connection) is thrown for the queue to retry with backoff; a permanent one (5xx) fails the job
   * at once, into the dead-letter queue.
   */
  async deliver(message: MailMessage, context?: Pick<JobContext, 'attempt'>): Promise<{ messageId: string; duplicate: boolean }> {
    const existing = await sql<{ message_id: string }>`SELECT message_id FROM sent_mail WHERE idempotency_key = ${message.key}`.execute(this.database.db);
    if (existing.rows[0]) return { messageId: existing.rows[0].message_id, duplicate: true };
    const rendered = renderMail(message.template, message.data);
    // The same key gives the same Message-ID, so even the crash window between acceptance and the
    // sent_mail row below yields a copy that receivers recognise as the same message.
    const digest = createHash('sha256').update(message.key).digest('hex').slice(0, 32);
    const messageId = `<${digest}@groundwork>`;
    try {
      const info = (await this.transport.sendMail({
        from: this.config.MAIL_FROM,
        to: message.to,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        messageId,
      })) as { message?: Buffer };
      if (!this.config.SMTP_URL && info.message) {
        await mkdir(this.mailDir, { recursive: true });
        await writeFile(path.join(this.mailDir, `${digest}.eml`), info.message);
      }
    } catch (error) {
      if (isPermanentSmtpError(error)) throw new UnrecoverableJobError(`mail server refused the message: ${(error as Error).message}`);
      this.log.warn({ err: error, template: message.template, attempt: context?.attempt }, 'sending email failed; will retry');
      throw error;
    }
    await sql`INSERT INTO sent_mail (idempotency_key, message_id, recipient, template) VALUES (${message.key}, ${messageId}, ${message.to}, ${message.template})
      ON CONFLICT (idempotency_key) DO NOTHING`.execute(this.database.db);
    return { messageId, duplicate: false };
  }

  /** Where .eml files go when SMTP_URL is unset. */
  get directory(): string {
    return this.mailDir;
  }
}
