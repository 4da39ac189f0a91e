import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../security/public.decorator.js';
import { Registry } from 'prom-client';
import { MetricsService } from './metrics.js';

@ApiExcludeController()
// Public on purpose: Prometheus scrapes without credentials. Metrics carry no user data (route
// templates, status codes, timings); route /metrics only to the scraper, not the public ingress.
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('cache-control', 'no-store')
  @Header('content-type', Registry.PROMETHEUS_CONTENT_TYPE)
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
