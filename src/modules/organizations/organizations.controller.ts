import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { uuidPipe } from '../../platform/errors/validation.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { RequirePermissions } from '../../platform/security/authorization.decorators.js';
import { CurrentPrincipal } from '../../platform/security/current-principal.js';
import { CreateOrganizationDto, OrganizationDto, OrganizationStatsDto } from './organizations.dto.js';
import { OrganizationsService } from './organizations.service.js';

@ApiTags('organizations')
@Controller('organizations')
export class OrganizationsController {
  constructor(private readonly organizations: OrganizationsService) {}

  @Post()
  // Only platform admins hold it: a tenant admin administers its own organization, not the list of them.
  @RequirePermissions('organizations:create')
  @HttpCode(201)
  @ApiCreatedResponse({ type: OrganizationDto })
  @ApiConflictResponse({ description: 'DUPLICATE_ORGANIZATION_SLUG' })
  create(@CurrentPrincipal() caller: Principal, @Body() body: CreateOrganizationDto): Promise<OrganizationDto> {
    return this.organizations.create(caller, body);
  }

  @Get(':id')
  @RequirePermissions('organizations:read')
  @ApiOkResponse({ type: OrganizationDto })
  @ApiNotFoundResponse({ description: "ORGANIZATION_NOT_FOUND, also for another organization than the caller's" })
  findOne(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<OrganizationDto> {
    return this.organizations.findById(caller, id);
  }

  @Get(':id/stats')
  @RequirePermissions('organizations:stats')
  @ApiOkResponse({ type: OrganizationStatsDto })
  @ApiNotFoundResponse({ description: "ORGANIZATION_NOT_FOUND, also for another organization than the caller's" })
  stats(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<OrganizationStatsDto> {
    return this.organizations.stats(caller, id);
  }
}
