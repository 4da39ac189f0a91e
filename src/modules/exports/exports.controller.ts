import { Body, Controller, Get, Header, HttpCode, Param, Post, Res, StreamableFile } from '@nestjs/common';
import { ApiAcceptedResponse, ApiConflictResponse, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { uuidPipe } from '../../platform/errors/validation.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { Authenticated, RequirePermissions } from '../../platform/security/authorization.decorators.js';
import { CurrentPrincipal } from '../../platform/security/current-principal.js';
import { CreateExportDto, ExportDto } from './exports.dto.js';
import { ExportsService } from './exports.service.js';

@ApiTags('exports')
@Controller('exports')
export class ExportsController {
  constructor(private readonly exports: ExportsService) {}

  @Post()
  @RequirePermissions('users:read')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: ExportDto, description: 'Queued; Location names the export to poll' })
  @ApiForbiddenResponse({ description: 'FORBIDDEN without users:read' })
  async create(@CurrentPrincipal() caller: Principal, @Body() body: CreateExportDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<ExportDto> {
    const created = await this.exports.create(caller, body);
    void reply.header('location', `/exports/${created.id}`);
    return created;
  }

  @Get(':id')
  // Only the user who requested the export sees it (service).
  @Authenticated()
  @ApiOkResponse({ type: ExportDto, description: 'Status, progress and row count' })
  @ApiNotFoundResponse({ description: 'EXPORT_NOT_FOUND, also for exports of other users' })
  findOne(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<ExportDto> {
    return this.exports.findOne(caller, id);
  }

  @Get(':id/download')
  @Authenticated()
  @Header('cache-control', 'private, no-store')
  @ApiProduces('text/csv', 'application/x-ndjson')
  @ApiOkResponse({ description: 'The export file, streamed' })
  @ApiNotFoundResponse({ description: 'EXPORT_NOT_FOUND, also for exports of other users' })
  @ApiConflictResponse({ description: 'EXPORT_NOT_READY' })
  async download(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<StreamableFile> {
    const file = await this.exports.openDownload(caller, id);
    return new StreamableFile(file.stream, { type: file.contentType, disposition: `attachment; filename="${file.fileName}"` });
  }
}
