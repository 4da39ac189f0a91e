/**
 * Lists or re-drives the dead-letter queue of a job queue, the same as the admin endpoints
 * GET/POST /admin/jobs/{queue}/dead-letters:
 *
 *   npm run jobs:redrive -- --queue email --list
 *   npm run jobs:redrive -- --queue email                 (every dead-lettered job)
 *   npm run jobs:redrive -- --queue email --id <job id>   (repeatable)
 *
 * Connects like the service (DATABASE_URL or the embedded PostgreSQL; QUEUE_DRIVER and REDIS_URL)
 * and runs no workers (APP_ROLE=api). Exit codes: 0 done, 1 failure, 64 bad usage, 78 bad configuration.
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { JobsService } from '../src/platform/jobs/jobs.service.js';
import { QUEUE_NAMES, type QueueName } from '../src/platform/jobs/jobs.types.js';
import { AppModule } from '../src/app.module.js';
import { NestFactory } from '@nestjs/core';
import { createProcessLogger } from '../src/platform/observability/logger.js';
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_USAGE, fail, loadConfigOrReport } from './cli.js';

const USAGE = `usage: jobs:redrive -- --queue <${QUEUE_NAMES.join('|')}> [--list] [--id <job id>]...`;

async function main(argv: string[]): Promise<number> {
  let values: { queue?: string; list?: boolean; id?: string[] };
  try {
    ({ values } = parseArgs({ args: argv, options: { queue: { type: 'string' }, list: { type: 'boolean' }, id: { type: 'string', multiple: true } }, strict: true }));
  } catch {
    fail(USAGE);
    return EXIT_USAGE;
  }
  if (!values.queue || !(QUEUE_NAMES as string[]).includes(values.queue)) {
    fail(USAGE);
    return EXIT_USAGE;
  }
  const queue = values.queue as QueueName;
  const loaded = loadConfigOrReport();
  if (!loaded) return EXIT_CONFIG;
  // This command only moves jobs; it must not start workers that would run them here.
  const config = { ...loaded, APP_ROLE: 'api' as const };
  const logger = createProcessLogger({ ...config, LOG_LEVEL: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL });
  const app = await NestFactory.createApplicationContext(AppModule.forRoot(config, logger), { logger: false, abortOnError: false });
  try {
    const jobs = app.get(JobsService);
    if (values.list) {
      for (const job of await jobs.listDeadLetters(queue, 1000)) {
        process.stdout.write(`${JSON.stringify(job)}\n`);
      }
      return 0;
    }
    const moved = await jobs.redrive(queue, values.id);
    process.stdout.write(`re-drove ${moved} job(s) of ${queue}\n`);
    return 0;
  } catch (error) {
    fail(`jobs:redrive failed: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILURE;
  } finally {
    await app.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    fail(`jobs:redrive failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(EXIT_FAILURE);
  },
);
