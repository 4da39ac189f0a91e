import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { uuidPipe } from '../../platform/errors/validation.js';
import { CreateOrganizationDto, OrganizationDto, OrganizationStatsDto } from './organizations.dto.js';
import { OrganizationsService } from './organizations.service.js';

@ApiTags('organizations')
@Controller('organizations')
export class OrganizationsController {
  constructor(private readonly organizations: OrganizationsService) {}

  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ type: OrganizationDto })
  create(@Body() body: CreateOrganizationDto): Promise<OrganizationDto> {
    return this.organizations.create(body);
  }

  @Get(':id')
  @ApiOkResponse({ type: OrganizationDto })
  @ApiNotFoundResponse({ description: 'ORGANIZATION_NOT_FOUND' })
  findOne(@Param('id', uuidPipe) id: string): Promise<OrganizationDto> {
    return this.organizations.findById(id);
  }

  @Get(':id/stats')
  @ApiOkResponse({ type: OrganizationStatsDto })
  @ApiNotFoundResponse({ description: 'ORGANIZATION_NOT_FOUND' })
  stats(@Param('id', uuidPipe) id: string): Promise<OrganizationStatsDto> {
    return this.organizations.stats(id);
  }
}
