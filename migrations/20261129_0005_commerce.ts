import { sql, type Kysely } from 'kysely';

// Commerce: catalog, inventory, orders, idempotency keys and the persisted order saga.
// Money is integer minor units (cents); the currency is an ISO 4217 code.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('products')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('sku', 'text', (col) => col.notNull().unique().check(sql`sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'`))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`length(name) between 1 and 200`))
    .addColumn('price', 'bigint', (col) => col.notNull().check(sql`price >= 0 AND price <= 100000000000`))
    .addColumn('currency', 'text', (col) => col.notNull().check(sql`currency ~ '^[A-Z]{3}$'`))
    .addColumn('active', 'boolean', (col) => col.notNull().defaultTo(true))
    // Bumped on every change; the ETag of a product is its id and version.
    .addColumn('version', 'integer', (col) => col.notNull().defaultTo(1))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  // The public list pages by (created_at, id) over active products.
  await sql`CREATE INDEX products_active_created_at_id_idx ON products (created_at, id) WHERE active`.execute(db);

  // Stock per product. The CHECKs make overselling impossible whatever the application does: a
  // reservation that would take reserved above on_hand fails the statement.
  await db.schema
    .createTable('inventory')
    .addColumn('product_id', 'uuid', (col) => col.primaryKey().references('products.id').onDelete('cascade'))
    .addColumn('on_hand', 'integer', (col) => col.notNull().defaultTo(0).check(sql`on_hand >= 0`))
    .addColumn('reserved', 'integer', (col) => col.notNull().defaultTo(0).check(sql`reserved >= 0`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('inventory_reserved_within_on_hand', sql`reserved <= on_hand`)
    .execute();

  await db.schema
    .createTable('orders')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('organization_id', 'uuid', (col) => col.references('organizations.id').onDelete('set null'))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('restrict'))
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('PENDING', 'CONFIRMED', 'CANCELLED')`))
    .addColumn('currency', 'text', (col) => col.notNull().check(sql`currency ~ '^[A-Z]{3}$'`))
    .addColumn('total', 'bigint', (col) => col.notNull().check(sql`total >= 0`))
    .addColumn('payment_id', 'text')
    .addColumn('cancel_reason', 'text', (col) => col.check(sql`cancel_reason in ('payment_declined', 'payment_failed', 'cancelled_by_user', 'cancelled_by_admin')`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('orders_confirmed_has_payment', sql`status <> 'CONFIRMED' OR payment_id IS NOT NULL`)
    .execute();
  // "My orders" and "the organization's orders", newest first.
  await sql`CREATE INDEX orders_user_id_created_at_idx ON orders (user_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX orders_organization_id_created_at_idx ON orders (organization_id, created_at DESC, id DESC)`.execute(db);

  await db.schema
    .createTable('order_items')
    .addColumn('order_id', 'uuid', (col) => col.notNull().references('orders.id').onDelete('cascade'))
    .addColumn('product_id', 'uuid', (col) => col.notNull().references('products.id').onDelete('restrict'))
    .addColumn('quantity', 'integer', (col) => col.notNull().check(sql`quantity between 1 and 1000`))
    // Catalog price at the time of the order; later price changes do not touch it.
    .addColumn('unit_price', 'bigint', (col) => col.notNull().check(sql`unit_price >= 0`))
    .addColumn('line_total', 'bigint', (col) => col.notNull().check(sql`line_total >= 0`))
    .addPrimaryKeyConstraint('order_items_pkey', ['order_id', 'product_id'])
    .execute();
  await sql`CREATE INDEX order_items_product_id_idx ON order_items (product_id)`.execute(db);

  // One row per (caller, Idempotency-Key). A request claims the key (in_progress, with a lease),
  // and the transaction that creates the order completes it with the response to replay.
  await db.schema
    .createTable('idempotency_keys')
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('key', 'text', (col) => col.notNull().check(sql`length(key) between 1 and 255`))
    .addColumn('scope', 'text', (col) => col.notNull())
    // SHA-256 of the canonical request body: the same key with another body is refused.
    .addColumn('request_hash', 'bytea', (col) => col.notNull().check(sql`octet_length(request_hash) = 32`))
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('in_progress', 'completed')`))
    .addColumn('locked_until', 'timestamptz')
    .addColumn('response_status', 'integer')
    .addColumn('response_body', 'jsonb')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .addPrimaryKeyConstraint('idempotency_keys_pkey', ['user_id', 'scope', 'key'])
    .addCheckConstraint('idempotency_keys_completed_has_response', sql`status <> 'completed' OR (response_status IS NOT NULL AND response_body IS NOT NULL)`)
    .execute();
  // Expiry sweeps go by age.
  await sql`CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at)`.execute(db);

  await db.schema
    .createTable('saga_instances')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('saga_type', 'text', (col) => col.notNull())
    .addColumn('order_id', 'uuid', (col) => col.notNull().unique().references('orders.id').onDelete('cascade'))
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('RUNNING', 'COMPENSATING', 'COMPLETED', 'COMPENSATED')`))
    // A runner (one process) owns the saga until locked_until; a crashed runner's lease lapses and
    // recovery in a worker takes over.
    .addColumn('locked_by', 'text')
    .addColumn('locked_until', 'timestamptz')
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('failure_reason', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  // Recovery scans only the unfinished ones.
  await sql`CREATE INDEX saga_instances_unfinished_idx ON saga_instances (locked_until) WHERE status in ('RUNNING', 'COMPENSATING')`.execute(db);

  await db.schema
    .createTable('saga_steps')
    .addColumn('saga_id', 'uuid', (col) => col.notNull().references('saga_instances.id').onDelete('cascade'))
    .addColumn('step', 'text', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('STARTED', 'SUCCEEDED', 'FAILED', 'COMPENSATED')`))
    .addColumn('output', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('error', 'text')
    .addColumn('started_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addColumn('compensated_at', 'timestamptz')
    .addPrimaryKeyConstraint('saga_steps_pkey', ['saga_id', 'step'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('saga_steps').execute();
  await db.schema.dropTable('saga_instances').execute();
  await db.schema.dropTable('idempotency_keys').execute();
  await db.schema.dropTable('order_items').execute();
  await db.schema.dropTable('orders').execute();
  await db.schema.dropTable('inventory').execute();
  await db.schema.dropTable('products').execute();
}
