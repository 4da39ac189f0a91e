/**
 * Creates an admin of the default organization, or promotes the user with that email to admin
 * (active, default organization) and sets its password, revoking its sessions:
 *
 *   npm run admin:create -- --email admin@example.com --password 'a long passphrase'
 *
 * The password must pass the password policy. It boots the application's modules without the
 * HTTP listener, so the same AuthService, UsersService, hashing and audit log as the API are used
 * (the audit row says `admin_created` with source `admin:create`). Connects like the service:
 * DATABASE_URL, or the embedded PostgreSQL in DATA_DIR/pg. Exit codes: 0 done, 1 failure,
 * 64 bad usage, 65 password refused by the policy, 78 bad configuration.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { parseArgs } from 'node:util';
import { AppModule } from '../src/app.module.js';
import { AuthService } from '../src/modules/auth/auth.service.js';
import { EXIT_FAILURE, EXIT_USAGE, EXIT_DATA, EXIT_CONFIG, fail, loadConfigOrReport } from './cli.js';
import { AppError } from '../src/platform/errors/app-error.js';
import { createProcessLogger } from '../src/platform/observability/logger.js';

const USAGE = 'usage: admin:create -- --email <email> --password <password>';


async function main(argv: string[]): Promise<number> {
  let email: string | undefined;
  let password: string | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { email: { type: 'string' }, password: { type: 'string' } }, strict: true });
    ({ email, password } = values);
  } catch {
    fail(USAGE);
    return EXIT_USAGE;
  }
  if (!email || !password || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    fail(USAGE);
    return EXIT_USAGE;
  }

  const config = loadConfigOrReport();
  if (!config) return EXIT_CONFIG;
  // Only warnings and errors: the command's own output is the one line below.
  const logger = createProcessLogger({ ...config, LOG_LEVEL: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL });
  let app: Awaited<ReturnType<typeof NestFactory.createApplicationContext>>;
  try {
    app = await NestFactory.createApplicationContext(AppModule.forRoot(config, logger), { logger: false, abortOnError: false });
  } catch (error) {
    fail(`admin:create failed: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILURE;
  }
  try {
    const { user, created } = await app.get(AuthService).ensureAdmin(email, password, { source: 'admin:create' });
    process.stdout.write(`${created ? 'created' : 'promoted'} admin ${user.email} (${user.id}) in the default organization\n`);
    return 0;
  } catch (error) {
    if (error instanceof AppError && error.code === 'WEAK_PASSWORD') {
      const reasons = Array.isArray(error.details) ? (error.details as Array<{ message: string }>).map((d) => d.message).join('; ') : error.message;
      fail(`password refused: ${reasons}`);
      return EXIT_DATA;
    }
    fail(`admin:create failed: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILURE;
  } finally {
    await app.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
