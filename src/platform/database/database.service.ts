import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import path from 'node:path';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '../config/config.schema.js';
import { MetricsService } from '../observability/metrics.js';
import { PROCESS_LOGGER } from '../observability/logger.tokens.js';
import type { Database } from './database.types.js';
import { EmbeddedPostgres } from './embedded-postgres.js';
import { migrateToLatest } from './migrator.js';
import { runInTransaction, type TransactionOptions } from './transaction.js';

export type DbExecutor = Kysely<Database> | Transaction<Database>;

/**
 * Owns the PostgreSQL connection of this process: starts the embedded server when no
 * DATABASE_URL is configured, creates the pool, migrates when configured to, and closes all of it
 * last on shutdown.
 */
@Injectable()
export class DatabaseService implements OnModuleInit, OnApplicationShutdown {
  private embedded: EmbeddedPostgres | undefined;
  private pool!: pg.Pool;
  private kysely!: Kysely<Database>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROCESS_LOGGER) private readonly logger: Logger,
    private readonly metrics: MetricsService,
  ) {}

  /** The query builder bound to the pool. Repositories receive it or a transaction explicitly. */
  get db(): Kysely<Database> {
    return this.kysely;
  }

  async onModuleInit(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    let connectionString = this.config.DATABASE_URL;
    if (connectionString === undefined) {
      const log = this.logger.child({ component: 'embedded-postgres' });
      this.embedded = new EmbeddedPostgres({
        dataDir: path.join(this.config.DATA_DIR, 'pg'),
        log: (line) => log.debug(line),
      });
      await this.embedded.start();
      await this.embedded.ensureDatabase('groundwork');
      connectionString = this.embedded.connectionString('groundwork');
      this.logger.info({ port: this.embedded.port }, 'embedded PostgreSQL started');
    }

    this.pool = new pg.Pool({
      connectionString,
      max: this.config.DATABASE_POOL_SIZE,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 5_000,
      statement_timeout: this.config.DATABASE_STATEMENT_TIMEOUT_MS,
      application_name: 'groundwork',
    });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    this.pool.on('error', (error) => this.logger.warn({ err: { message: error.message } }, 'idle PostgreSQL client error'));
    this.kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool: this.pool }) });

    if (this.config.MIGRATE_ON_START) {
      const applied = await migrateToLatest(this.kysely as Kysely<unknown>);
      if (applied.length > 0) this.logger.info({ migrations: applied }, 'migrations applied');
    }
  }

  /** See runInTransaction: retried as a whole on serialization failures and deadlocks. */
  transaction<T>(work: (trx: Transaction<Database>) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return runInTransaction(this.kysely, work, options, {
      onRetry: (isolation, sqlstate) => this.metrics.transactionRetries.inc({ isolation, sqlstate }),
      onExhausted: (isolation) => this.metrics.transactionFailures.inc({ isolation }),
    });
  }

  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.kysely);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.kysely?.destroy();
    if (this.embedded) {
      await this.embedded.stop();
      this.logger.info('embedded PostgreSQL stopped');
    }
  }
}
