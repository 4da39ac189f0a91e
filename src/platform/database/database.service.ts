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
import { registerPool } from './pool-query.js';
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
  private url!: string;
  /** Clients whose connection is open, so shutdown can wait for them to close (see clientsClosed). */
  private readonly openClients = new Set<pg.PoolClient>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROCESS_LOGGER) private readonly logger: Logger,
    private readonly metrics: MetricsService,
  ) {}

  /** The query builder bound to the pool. Repositories receive it or a transaction explicitly. */
  get db(): Kysely<Database> {
    return this.kysely;
  }

  /** The URL the pool connects with (the embedded server's when DATABASE_URL is unset); for drivers with pools of their own. */
  get connectionString(): string {
    return this.url;
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

    this.url = connectionString;
    this.pool = new pg.Pool({
      connectionString,
      max: this.config.DATABASE_POOL_SIZE,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 5_000,
      statement_timeout: this.config.DATABASE_STATEMENT_TIMEOUT_MS,
      application_name: 'groundwork',
    });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    // The error itself goes to the err serializer (a plain { message } object would be logged as
    // "[object Object]"); the serializer keeps PostgreSQL's detail and query text out of the log.
    this.pool.on('error', (error) => this.logger.warn({ err: error }, 'idle PostgreSQL client error'));
    // The pool listens for errors only on idle clients. When a checked-out client's connection dies
    // (failover, pg_terminate_backend, server restart), pg also emits 'error' on the client itself,
    // and with no listener that is an uncaught exception that kills the process. The query using the
    // client already fails with the error and the pool discards the client on release, so here it is
    // only recorded.
    this.pool.on('connect', (client) => {
      client.on('error', (error) => this.logger.debug({ err: error }, 'PostgreSQL client error while checked out'));
      this.openClients.add(client);
      client.once('end', () => this.openClients.delete(client));
    });
    this.kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool: this.pool }) });
    // Hot single-statement reads outside transactions skip Kysely's executor (see executeCompiled).
    registerPool(this.kysely, this.pool);

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

  /**
   * A connected client outside the pool, for work that owns a session: LISTEN and session-level
   * advisory locks (the outbox relay). The caller ends it; it has no statement timeout.
   */
  async dedicatedClient(applicationName: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: applicationName, connectionTimeoutMillis: 5_000 });
    // Without a listener, a dropped connection's 'error' event would be an uncaught exception.
    client.on('error', (error) => this.logger.debug({ err: error }, 'dedicated PostgreSQL client error'));
    await client.connect();
    return client;
  }

  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.kysely);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.kysely) {
      // pool.end() (inside destroy) resolves once its clients are told to end, before their
      // connections have closed. Stopping the embedded server in that gap makes it terminate them,
      // which surfaced as an "idle PostgreSQL client error" warning on clean shutdowns.
      await this.kysely.destroy();
      await this.clientsClosed();
    }
    if (this.embedded) {
      await this.embedded.stop();
      this.logger.info('embedded PostgreSQL stopped');
    }
  }

  /** Resolves when every pooled connection has closed; bounded so shutdown cannot hang. */
  private async clientsClosed(timeoutMs = 5_000): Promise<void> {
    const closing = [...this.openClients].map((client) => new Promise<void>((resolve) => client.once('end', () => resolve())));
    if (closing.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(closing), timeout]);
    clearTimeout(timer);
  }
}
