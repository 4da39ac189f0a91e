import { Injectable, type OnModuleInit } from '@nestjs/common';
import { JobsService } from '../../platform/jobs/jobs.service.js';
import { CAMPAIGN_JOB, NOTIFY_JOB, NotificationsService, type CampaignJob, type NotifyJob } from './notifications.service.js';

/** Processors: in-app notifications (notifications queue) and bulk campaigns (email queue). */
@Injectable()
export class NotificationsJobs implements OnModuleInit {
  constructor(
    private readonly jobs: JobsService,
    private readonly notifications: NotificationsService,
  ) {}

  onModuleInit(): void {
    this.jobs.register<NotifyJob>('notifications', NOTIFY_JOB, (data) => this.notifications.deliver(data));
    this.jobs.register<CampaignJob>('email', CAMPAIGN_JOB, (data, context) => this.notifications.runCampaign(data, context));
  }
}
