import { Injectable, type OnModuleInit } from '@nestjs/common';
import { JobsService } from '../../platform/jobs/jobs.service.js';
import { EXPORT_JOB, ExportsService } from './exports.service.js';

/** The data-export queue's processor: one job per export, run by ExportsService. */
@Injectable()
export class ExportsJobs implements OnModuleInit {
  constructor(
    private readonly jobs: JobsService,
    private readonly exports: ExportsService,
  ) {}

  onModuleInit(): void {
    this.jobs.register<{ exportId: string }>('data-export', EXPORT_JOB, (data, context) => this.exports.run(data.exportId, context));
  }
}
