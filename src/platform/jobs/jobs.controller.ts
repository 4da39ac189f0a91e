import { Body, Controller, Get, HttpCode, Param, ParseEnumPipe, Post, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { AppError } from '../errors/app-error.js';
import { uuidPipe } from '../errors/validation.js';
import { ArrayMaxSize, IsArray, IsInt, IsOptional, IsUUID, Max, Min } from 'class-validator';
import { Type } from 'class-transformer';
import { RequirePermissions } from '../security/authorization.decorators.js';
import { JobsService } from './jobs.service.js';
import { QUEUE_NAMES, type QueueName } from './jobs.types.js';

class DeadLetterDto {
  @ApiProperty({ description: 'Id of the job that failed' }) id!: string;
  @ApiProperty({ enum: QUEUE_NAMES }) queue!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) data!: unknown;
  @ApiProperty({ description: 'Last error message' }) error!: string;
  @ApiProperty({ format: 'date-time' }) failedAt!: string;
}

class DeadLetterListDto {
  @ApiProperty({ type: [DeadLetterDto] }) data!: DeadLetterDto[];
}

class ListDeadLettersQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

class RedriveDto {
  @ApiPropertyOptional({ type: [String], description: 'Only these job ids; omitted re-drives every dead-lettered job of the queue' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @IsUUID('all', { each: true })
  ids?: string[];
}

class JobInfoDto {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: QUEUE_NAMES }) queue!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ['waiting', 'active', 'completed', 'failed', 'retrying', 'dead'] }) state!: string;
  @ApiProperty({ minimum: 0, maximum: 100 }) progress!: number;
  @ApiProperty() attemptsMade!: number;
  @ApiProperty({ type: 'object', additionalProperties: true }) data!: unknown;
}

class RedriveResultDto {
  @ApiProperty({ description: 'Jobs moved back to their queue' }) redriven!: number;
}

// Parameters are typed string (a union alias emits no design metadata under SWC); this pipe admits only queue names.
const queuePipe = new ParseEnumPipe(Object.fromEntries(QUEUE_NAMES.map((q) => [q, q])));

/** Operators' view of the dead-letter queues: list what failed for good, and re-drive it. */
@ApiTags('admin')
@Controller('admin/jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get(':queue/dead-letters')
  @RequirePermissions('platform:admin')
  @ApiOkResponse({ type: DeadLetterListDto, description: 'Jobs of the queue that exhausted their attempts or failed unrecoverably, oldest first' })
  async list(@Param('queue', queuePipe) queue: string, @Query() query: ListDeadLettersQueryDto): Promise<DeadLetterListDto> {
    return { data: await this.jobs.listDeadLetters(queue as QueueName, query.limit ?? 100) };
  }

  @Get(':queue/:id')
  @RequirePermissions('platform:admin')
  @ApiOkResponse({ type: JobInfoDto, description: 'State, progress and attempts of one job (campaigns report progress here)' })
  @ApiNotFoundResponse({ description: 'JOB_NOT_FOUND' })
  async findOne(@Param('queue', queuePipe) queue: string, @Param('id', uuidPipe) id: string): Promise<JobInfoDto> {
    const job = await this.jobs.getJob(queue as QueueName, id);
    if (!job) throw new AppError('JOB_NOT_FOUND');
    return job;
  }

  @Post(':queue/dead-letters/redrive')
  @RequirePermissions('platform:admin')
  @HttpCode(200)
  @ApiOkResponse({ type: RedriveResultDto, description: 'The dead-lettered jobs are queued again with a fresh set of attempts' })
  async redrive(@Param('queue', queuePipe) queue: string, @Body() body: RedriveDto): Promise<RedriveResultDto> {
    return { redriven: await this.jobs.redrive(queue as QueueName, body.ids) };
  }
}
