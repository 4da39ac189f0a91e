import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Events written in the business transaction and relayed afterwards (see docs/guidelines/events.md).
  await db.schema
    .createTable('outbox')
    // The envelope's eventId (UUIDv7).
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    // Relay order. Writers of one aggregate hold its row lock when they append, so within an aggregate
    // this order is also the commit order.
    .addColumn('position', 'bigint', (col) => col.notNull().generatedAlwaysAsIdentity().unique())
    .addColumn('event_type', 'text', (col) => col.notNull().check(sql`length(event_type) BETWEEN 1 AND 200`))
    .addColumn('aggregate_type', 'text', (col) => col.notNull().check(sql`aggregate_type ~ '^[A-Za-z][A-Za-z0-9_-]{0,99}$'`))
    .addColumn('aggregate_id', 'text', (col) => col.notNull().check(sql`length(aggregate_id) BETWEEN 1 AND 200`))
    .addColumn('payload', 'jsonb', (col) => col.notNull())
    .addColumn('version', 'integer', (col) => col.notNull().defaultTo(1).check(sql`version >= 1`))
    .addColumn('correlation_id', 'text')
    .addColumn('causation_id', 'text')
    .addColumn('traceparent', 'text')
    .addColumn('occurred_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    .addColumn('publish_attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .execute();
  // The relay reads only the unpublished tail, oldest first; the partial index stays small.
  await sql`CREATE INDEX outbox_unpublished_idx ON outbox (position) WHERE published_at IS NULL`.execute(db);
  // The purge of published rows walks by publication time.
  await sql`CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL`.execute(db);

  // One row per (consumer, event) a handler has applied; written in the handler's own transaction,
  // so a redelivered event finds it and is skipped.
  await db.schema
    .createTable('inbox')
    .addColumn('consumer', 'text', (col) => col.notNull())
    .addColumn('event_id', 'uuid', (col) => col.notNull())
    .addColumn('processed_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('inbox_pkey', ['consumer', 'event_id'])
    .execute();
  await sql`CREATE INDEX inbox_processed_at_idx ON inbox (processed_at)`.execute(db);

  // In-process delivery's dead-letter queue (with Kafka, <topic>.dlq plays this part).
  await db.schema
    .createTable('dead_letters')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('consumer', 'text', (col) => col.notNull())
    .addColumn('event_id', 'uuid')
    .addColumn('event_type', 'text')
    .addColumn('topic', 'text', (col) => col.notNull())
    // The envelope as received; raw text when it could not be parsed.
    .addColumn('message', 'text', (col) => col.notNull())
    .addColumn('error', 'text', (col) => col.notNull())
    .addColumn('attempts', 'integer', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE INDEX dead_letters_created_at_idx ON dead_letters (created_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('dead_letters').execute();
  await db.schema.dropTable('inbox').execute();
  await db.schema.dropTable('outbox').execute();
}
