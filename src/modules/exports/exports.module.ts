import { Module } from '@nestjs/common';
import { AccessModule } from '../access/access.module.js';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { UsersModule } from '../users/users.module.js';
import { ExportsController } from './exports.controller.js';
import { ExportsJobs } from './exports.jobs.js';
import { ExportsRepository } from './exports.repository.js';
import { ExportsService } from './exports.service.js';

@Module({
  imports: [UsersModule, AccessModule, NotificationsModule],
  controllers: [ExportsController],
  providers: [ExportsService, ExportsRepository, ExportsJobs],
})
export class ExportsModule {}
