import { Global, Module, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { Logger } from 'pino';
import { CacheModule } from './cache/cache.module.js';
import { APP_CONFIG, type AppConfig } from './config/config.schema.js';
import { DatabaseService } from './database/database.service.js';
import { HealthController } from './health/health.controller.js';
import { LifecycleService } from './health/lifecycle.service.js';
import { HttpClientFactory } from './http-client/http-client.factory.js';
import { JobsController } from './jobs/jobs.controller.js';
import { JobsService } from './jobs/jobs.service.js';
import { MailService } from './mail/mail.service.js';
import { PROCESS_LOGGER } from './observability/logger.tokens.js';
import { MetricsController } from './observability/metrics.controller.js';
import { MetricsService } from './observability/metrics.js';
import { SecurityModule } from './security/security.module.js';

/**
 * Infrastructure every module may inject: configuration, logging, metrics, the database, the job queue
 * and mail, health, outbound HTTP clients (HttpClientFactory), the cache (CacheModule), and (through
 * SecurityModule) password hashing, tokens and the login throttle.
 * Global so business modules do not re-import it.
 */
@Global()
@Module({})
export class PlatformModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: PlatformModule,
      imports: [
        // Terminus's own logger is off: a failing probe during a normal drain is not an error, and the
        // request line already records every 503.
        TerminusModule.forRoot({ logger: false, gracefulShutdownTimeoutMs: 0 }),
        SecurityModule,
        CacheModule,
      ],
      controllers: [HealthController, MetricsController, JobsController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: PROCESS_LOGGER, useValue: logger },
        MetricsService,
        DatabaseService,
        LifecycleService,
        HttpClientFactory,
        JobsService,
        MailService,
      ],
      exports: [APP_CONFIG, PROCESS_LOGGER, MetricsService, DatabaseService, LifecycleService, HttpClientFactory, JobsService, MailService],
    };
  }
}
