import {
  Catch,
  Controller,
  Get,
  Inject,
  Optional,
  ServiceUnavailableException,
  UseFilters,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  DiskHealthIndicator,
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  MemoryHealthIndicator,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import path from 'node:path';
import { CacheService } from '../cache/cache.service.js';
import { APP_CONFIG, type AppConfig } from '../config/config.schema.js';
import { DatabaseService } from '../database/database.service.js';
import { EventsRuntime } from '../events/events.runtime.js';
import { JobsService } from '../jobs/jobs.service.js';
import { Public } from '../security/public.decorator.js';
import { LifecycleService } from './lifecycle.service.js';

const HEAP_LIMIT_BYTES = 1.5 * 1024 ** 3;

/**
 * Terminus reports a failed check by throwing a 503 whose body is the check result. The global REST
 * filter would turn that into a 500 INTERNAL envelope (and log it as unexpected), so probes would see
 * 500 instead of 503 and lose the per-indicator details; this filter sends the 503 and the result.
 */
@Catch(ServiceUnavailableException)
export class HealthCheckFailedFilter implements ExceptionFilter {
  catch(exception: ServiceUnavailableException, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    void reply.status(503).header('cache-control', 'no-cache, no-store, must-revalidate').send(exception.getResponse());
  }
}

@ApiTags('health')
// Public on purpose: orchestrators probe without credentials, and the answer names no data.
@Public()
@UseFilters(HealthCheckFailedFilter)
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly disk: DiskHealthIndicator,
    private readonly memory: MemoryHealthIndicator,
    private readonly database: DatabaseService,
    private readonly lifecycle: LifecycleService,
    private readonly cache: CacheService,
    private readonly jobs: JobsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    // Optional: an application assembled without the events module still has health endpoints.
    @Optional() private readonly events?: EventsRuntime,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and its event loop answers' })
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: serving (not starting or draining) and the database answers' })
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([() => this.lifecycleCheck(), () => this.databaseCheck()]);
  }

  @Get()
  @ApiOperation({ summary: 'Details: database, cache (Redis up, degraded or disabled), events (Kafka, outbox backlog), job queue backend, disk space of DATA_DIR, heap' })
  @HealthCheck()
  details(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.lifecycleCheck(),
      () => this.databaseCheck(),
      () => this.cacheCheck(),
      () => this.eventsCheck(),
      () => this.diskCheck(),
      () => this.memory.checkHeap('memory_heap', HEAP_LIMIT_BYTES),
      () => this.queueCheck(),
    ]);
  }

  /**
   * The cache is up even while Redis is not: requests are then served from L1 and the database, so
   * a Redis outage shows here as `redis: degraded` but fails neither this check nor readiness.
   */
  private cacheCheck(): HealthIndicatorResult {
    return this.indicators.check('cache').up({ ...this.cache.health() });
  }

  /** Free space where DATA_DIR lives (database files, mail, exports); down past 95% used. */
  private async diskCheck(): Promise<HealthIndicatorResult> {
    try {
      return await this.disk.checkStorage('disk', { path: path.resolve(this.config.DATA_DIR), thresholdPercent: 0.95 });
    } catch (error) {
      // A failed threshold comes back as a down result; a throw here means the path could not be
      // read at all, which is also "down", not a 500 from the health endpoint.
      if (error instanceof Error && 'causes' in error) throw error;
      return this.indicators.check('disk').down({ message: 'disk usage could not be read' });
    }
  }

  /**
   * Events: down when Kafka is configured and does not answer. Only here, never in readiness: with
   * the broker down the API keeps working and the outbox buffers, so replicas must stay in service.
   */
  private async eventsCheck(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('events');
    if (!this.events) return indicator.up({ transport: 'none' });
    try {
      const status = await this.events.status();
      return status.kafka === 'down' ? indicator.down({ ...status }) : indicator.up({ ...status });
    } catch {
      return indicator.down({ message: 'events status could not be read' });
    }
  }

  /** The queue backend (pgboss or bullmq), whether this process runs jobs, and the waiting jobs per queue. */
  private async queueCheck(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('queue');
    const details = { backend: this.jobs.backend, runsJobs: this.jobs.runsJobs };
    try {
      return indicator.up({ ...details, waiting: await this.jobs.sizes() });
    } catch {
      return indicator.down({ ...details, message: 'queue backend did not answer' });
    }
  }

  private lifecycleCheck(): HealthIndicatorResult {
    const indicator = this.indicators.check('lifecycle');
    const phase = this.lifecycle.phase;
    return phase === 'serving' ? indicator.up({ phase }) : indicator.down({ phase });
  }

  private async databaseCheck(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('database');
    const started = performance.now();
    try {
      await this.database.ping();
      return indicator.up({ latencyMs: Math.round((performance.now() - started) * 10) / 10 });
    } catch {
      // The reason goes to the log through the pool's error handler; clients see only "down".
      return indicator.down({ message: 'database did not answer' });
    }
  }
}
