import { sql, type Kysely } from 'kysely';

/**
 * Background jobs and what they produce. pg-boss installs and migrates its own schema (`pgboss`) when
 * the queue starts; these are the service's tables around it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Progress a processor reports while its job runs (pg-boss has no progress field; BullMQ keeps its own).
  await sql`CREATE TABLE job_progress (
    queue text NOT NULL,
    job_id text NOT NULL,
    progress smallint NOT NULL CHECK (progress BETWEEN 0 AND 100),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue, job_id)
  )`.execute(db);

  // With QUEUE_DRIVER=bullmq, jobs enqueued inside a transaction wait here until it commits and the
  // relay moves them to Redis.
  await sql`CREATE TABLE job_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    job_id text NOT NULL,
    name text NOT NULL,
    data jsonb,
    options jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
  )`.execute(db);

  // One row per message the mail service accepted for sending: a retried job finds it and does not
  // send a second copy.
  await sql`CREATE TABLE sent_mail (
    idempotency_key text PRIMARY KEY CHECK (length(idempotency_key) <= 300),
    message_id text NOT NULL,
    recipient text NOT NULL,
    template text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now()
  )`.execute(db);

  await sql`CREATE TABLE email_verification_tokens (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The address being verified: a token for an address the user has since changed verifies nothing.
    email text NOT NULL,
    -- SHA-256 of the token sent by email; the token itself is never stored.
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
  )`.execute(db);
  await sql`CREATE INDEX email_verification_tokens_user_idx ON email_verification_tokens (user_id)`.execute(db);

  await sql`CREATE TABLE notifications (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (length(kind) <= 64),
    title text NOT NULL CHECK (length(title) <= 200),
    body text NOT NULL CHECK (length(body) <= 2000),
    read_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
  )`.execute(db);
  // GET /notifications: the caller's, newest first, keyset on id (UUIDv7, time ordered).
  await sql`CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC)`.execute(db);

  await sql`CREATE TABLE exports (
    id uuid PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id uuid,
    resource text NOT NULL CHECK (resource IN ('users')),
    format text NOT NULL CHECK (format IN ('csv', 'jsonl')),
    filters jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    progress smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    row_count integer NOT NULL DEFAULT 0,
    file_name text,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
  )`.execute(db);
  await sql`CREATE INDEX exports_owner_idx ON exports (owner_id, id DESC)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['exports', 'notifications', 'email_verification_tokens', 'sent_mail', 'job_outbox', 'job_progress']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  }
  // pg-boss's own schema goes with the job tables.
  await sql`DROP SCHEMA IF EXISTS pgboss CASCADE`.execute(db);
}
