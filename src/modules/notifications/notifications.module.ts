import { Module } from '@nestjs/common';
import { UsersModule } from '../users/users.module.js';
import { CampaignsController, NotificationsController } from './notifications.controller.js';
import { NotificationsJobs } from './notifications.jobs.js';
import { NotificationsRepository } from './notifications.repository.js';
import { NotificationsService } from './notifications.service.js';

@Module({
  imports: [UsersModule],
  controllers: [NotificationsController, CampaignsController],
  providers: [NotificationsService, NotificationsRepository, NotificationsJobs],
  exports: [NotificationsService],
})
export class NotificationsModule {}
