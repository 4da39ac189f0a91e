import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { uuidPipe } from '../../platform/errors/validation.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { Authenticated, RequirePermissions } from '../../platform/security/authorization.decorators.js';
import { CurrentPrincipal } from '../../platform/security/current-principal.js';
import { CampaignQueuedDto, CreateCampaignDto, ListNotificationsQueryDto, NotificationDto, NotificationPageDto } from './notifications.dto.js';
import { NotificationsService } from './notifications.service.js';

@ApiTags('notifications')
@Controller('notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get()
  // Every signed-in user reads its own notifications, and only those (service).
  @Authenticated()
  @ApiOkResponse({ type: NotificationPageDto })
  list(@CurrentPrincipal() caller: Principal, @Query() query: ListNotificationsQueryDto): Promise<NotificationPageDto> {
    return this.notifications.list(caller, query);
  }

  @Post(':id/read')
  @Authenticated()
  @HttpCode(200)
  @ApiOkResponse({ type: NotificationDto })
  @ApiNotFoundResponse({ description: 'NOTIFICATION_NOT_FOUND, also for notifications of other users' })
  markRead(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<NotificationDto> {
    return this.notifications.markRead(caller, id);
  }
}

@ApiTags('admin')
@Controller('admin/campaigns')
export class CampaignsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Post()
  @RequirePermissions('platform:admin')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: CampaignQueuedDto, description: 'Queued: sent in batches of 100 at MAIL_RATE_PER_SECOND; progress at GET /admin/jobs/email/{jobId}' })
  create(@CurrentPrincipal() caller: Principal, @Body() body: CreateCampaignDto): Promise<CampaignQueuedDto> {
    return this.notifications.createCampaign(caller, body);
  }
}
