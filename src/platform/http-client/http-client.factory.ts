import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '../config/config.schema.js';
import { PROCESS_LOGGER } from '../observability/logger.tokens.js';
import { MetricsService } from '../observability/metrics.js';
import { HttpClientMetrics } from './http-client.metrics.js';
import { ResilientHttpClient, type ResilientHttpClientOptions } from './resilient-http-client.js';

/** Per-service overrides of the configured defaults; only the base URL is required. */
export interface HttpClientSettings {
  baseUrl: string;
  timeoutMs?: number;
  retry?: Partial<ResilientHttpClientOptions['retry']>;
  breaker?: Partial<ResilientHttpClientOptions['breaker']>;
  headers?: Readonly<Record<string, string>>;
  connections?: number;
}

/** The HTTP_CLIENT_* configuration the factory reads. */
export type HttpClientConfig = Pick<AppConfig, 'HTTP_CLIENT_TIMEOUT_MS' | 'HTTP_CLIENT_MAX_ATTEMPTS' | 'HTTP_CLIENT_MAX_RETRY_AFTER_MS' | 'HTTP_CLIENT_BREAKER_HALF_OPEN_MS'>;

/**
 * Hands out one ResilientHttpClient per downstream service, each with its own connection pool and
 * circuit breaker (one unwell downstream must not fail calls to the others), all reporting to the
 * app's metrics registry. Closes their connections at shutdown.
 */
@Injectable()
export class HttpClientFactory implements OnApplicationShutdown {
  private readonly clients = new Map<string, ResilientHttpClient>();
  private readonly metrics: HttpClientMetrics;

  constructor(
    @Inject(APP_CONFIG) private readonly config: HttpClientConfig,
    metricsService: MetricsService,
    @Inject(PROCESS_LOGGER) private readonly logger: Logger,
  ) {
    this.metrics = new HttpClientMetrics(metricsService.registry);
  }

  /**
   * The client of a named downstream, created on first use. Asking again for the same name returns
   * the same client (and breaker); asking with another base URL is a programming error.
   */
  forService(service: string, settings: HttpClientSettings): ResilientHttpClient {
    if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(service)) throw new TypeError(`service name must be lowercase [a-z0-9_.-], got ${JSON.stringify(service)}`);
    const existing = this.clients.get(service);
    if (existing) {
      if (existing.baseUrl !== settings.baseUrl) throw new TypeError(`${service} already has a client for ${existing.baseUrl}`);
      return existing;
    }
    const client = new ResilientHttpClient(service, this.resolve(settings), this.metrics, this.logger);
    this.clients.set(service, client);
    return client;
  }

  /** Closes every client's connections. */
  async onApplicationShutdown(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((client) => client.close()));
  }

  private resolve(settings: HttpClientSettings): ResilientHttpClientOptions {
    return {
      baseUrl: settings.baseUrl,
      timeoutMs: settings.timeoutMs ?? this.config.HTTP_CLIENT_TIMEOUT_MS,
      retry: {
        maxAttempts: this.config.HTTP_CLIENT_MAX_ATTEMPTS,
        initialDelayMs: 100,
        maxDelayMs: 2_000,
        maxRetryAfterMs: this.config.HTTP_CLIENT_MAX_RETRY_AFTER_MS,
        ...settings.retry,
      },
      // Half of the last 20 calls failing, once at least 10 were made, opens the breaker: small
      // enough to react within seconds at modest traffic, large enough that two unlucky calls
      // do not cut a healthy downstream off.
      breaker: {
        failureRatio: 0.5,
        windowSize: 20,
        minimumCalls: 10,
        halfOpenAfterMs: this.config.HTTP_CLIENT_BREAKER_HALF_OPEN_MS,
        ...settings.breaker,
      },
      ...(settings.headers && { headers: settings.headers }),
      ...(settings.connections !== undefined && { connections: settings.connections }),
    };
  }
}
