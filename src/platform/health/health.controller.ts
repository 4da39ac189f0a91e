import { Controller, Get, Inject } from '@nestjs/common';
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
import path from 'node:path';
import { APP_CONFIG, type AppConfig } from '../config/config.schema.js';
import { DatabaseService } from '../database/database.service.js';
import { Public } from '../security/public.decorator.js';
import { LifecycleService } from './lifecycle.service.js';

const HEAP_LIMIT_BYTES = 1.5 * 1024 ** 3;

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly disk: DiskHealthIndicator,
    private readonly memory: MemoryHealthIndicator,
    private readonly database: DatabaseService,
    private readonly lifecycle: LifecycleService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
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
  @ApiOperation({ summary: 'Details: database, disk space of DATA_DIR, heap' })
  @HealthCheck()
  details(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.lifecycleCheck(),
      () => this.databaseCheck(),
      () => this.disk.checkStorage('disk', { path: path.resolve(this.config.DATA_DIR, '..'), thresholdPercent: 0.95 }),
      () => this.memory.checkHeap('memory_heap', HEAP_LIMIT_BYTES),
    ]);
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
