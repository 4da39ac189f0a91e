import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Columns the database fills on insert (defaults) but the application may still set. */
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<Record<string, unknown>, string | Record<string, unknown> | undefined, string | Record<string, unknown>>;

export type UserStatus = 'pending' | 'active' | 'inactive' | 'suspended';
export type UserRole = 'user' | 'moderator' | 'admin';
export type TeamRole = 'member' | 'maintainer' | 'owner';

export interface OrganizationsTable {
  id: string;
  name: string;
  slug: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface TeamsTable {
  id: string;
  organization_id: string;
  name: string;
  created_at: CreatedAt;
}

export interface TeamMembershipsTable {
  team_id: string;
  user_id: string;
  role: TeamRole;
  created_at: CreatedAt;
}

export interface UsersTable {
  id: string;
  organization_id: string | null;
  email: string;
  name: string;
  password_hash: string | null;
  status: ColumnType<UserStatus, UserStatus | undefined, UserStatus>;
  role: ColumnType<UserRole, UserRole | undefined, UserRole>;
  metadata: Json;
  email_verified_at: Date | null;
  first_login_at: Date | null;
  last_login_at: Date | null;
  token_version: ColumnType<number, number | undefined, number>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type RevokeReason = 'logout' | 'logout_all' | 'password_changed' | 'reuse_detected' | 'account_inactive';

export interface RefreshTokensTable {
  id: string;
  user_id: string;
  family_id: string;
  parent_id: string | null;
  token_hash: Buffer;
  created_at: CreatedAt;
  expires_at: Date;
  idle_expires_at: Date;
  last_used_at: Date | null;
  rotated_at: Date | null;
  replaced_by: string | null;
  revoked_at: Date | null;
  revoke_reason: RevokeReason | null;
  user_agent: string | null;
  ip: string | null;
}

export type AuditEvent =
  | 'registered'
  | 'login_succeeded'
  | 'login_failed'
  | 'locked_out'
  | 'token_refreshed'
  | 'token_reused'
  | 'logout'
  | 'logout_all'
  | 'password_changed'
  | 'password_rehashed'
  | 'admin_created';

export interface AuditLogTable {
  id: string;
  occurred_at: CreatedAt;
  actor_id: string | null;
  event: AuditEvent;
  ip: string | null;
  user_agent: string | null;
  details: Json;
}

export interface UserProfilesTable {
  user_id: string;
  display_name: string | null;
  bio: string | null;
  avatar_url: string | null;
  locale: string | null;
  timezone: string | null;
  updated_at: UpdatedAt;
}

/** bigint columns come back from pg as text (they may exceed 2^53); repositories convert. */
type Int8 = ColumnType<string, number | string, number | string>;

export interface ProductsTable {
  id: string;
  sku: string;
  name: string;
  price: Int8;
  currency: string;
  active: ColumnType<boolean, boolean | undefined, boolean>;
  version: ColumnType<number, number | undefined, number>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface InventoryTable {
  product_id: string;
  on_hand: ColumnType<number, number | undefined, number>;
  reserved: ColumnType<number, number | undefined, number>;
  updated_at: UpdatedAt;
}

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED';
export type OrderCancelReason = 'payment_declined' | 'payment_failed' | 'cancelled_by_user' | 'cancelled_by_admin';

export interface OrdersTable {
  id: string;
  organization_id: string | null;
  user_id: string;
  status: OrderStatus;
  currency: string;
  total: Int8;
  payment_id: string | null;
  cancel_reason: OrderCancelReason | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface OrderItemsTable {
  order_id: string;
  product_id: string;
  quantity: number;
  unit_price: Int8;
  line_total: Int8;
}

export interface IdempotencyKeysTable {
  user_id: string;
  scope: string;
  key: string;
  request_hash: Buffer;
  status: 'in_progress' | 'completed';
  locked_until: Date | null;
  response_status: number | null;
  response_body: ColumnType<unknown, string | undefined, string> | null;
  created_at: CreatedAt;
  completed_at: Date | null;
}

export type SagaStatus = 'RUNNING' | 'COMPENSATING' | 'COMPLETED' | 'COMPENSATED';
export type SagaStepStatus = 'STARTED' | 'SUCCEEDED' | 'FAILED' | 'COMPENSATED';

export interface SagaInstancesTable {
  id: string;
  saga_type: string;
  order_id: string;
  status: SagaStatus;
  locked_by: string | null;
  locked_until: Date | null;
  attempts: ColumnType<number, number | undefined, number>;
  failure_reason: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface SagaStepsTable {
  saga_id: string;
  step: string;
  status: SagaStepStatus;
  output: Json;
  error: string | null;
  started_at: CreatedAt;
  finished_at: Date | null;
  compensated_at: Date | null;
}

export interface OutboxTable {
  id: string;
  /** bigint: pg returns it as a string. */
  position: ColumnType<string, never, never>;
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  payload: Json;
  version: ColumnType<number, number | undefined, number>;
  correlation_id: string | null;
  causation_id: string | null;
  traceparent: string | null;
  occurred_at: CreatedAt;
  published_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  publish_attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
}

export interface InboxTable {
  consumer: string;
  event_id: string;
  processed_at: CreatedAt;
}

export interface DeadLettersTable {
  id: string;
  consumer: string;
  event_id: string | null;
  event_type: string | null;
  topic: string;
  message: string;
  error: string;
  attempts: number;
  created_at: CreatedAt;
}

export interface EmailVerificationTokensTable {
  id: string;
  user_id: string;
  email: string;
  token_hash: Buffer;
  created_at: CreatedAt;
  expires_at: Date;
  used_at: Date | null;
}

export interface NotificationsTable {
  id: string;
  user_id: string;
  kind: string;
  title: string;
  body: string;
  read_at: Date | null;
  created_at: CreatedAt;
}

export type ExportStatus = 'queued' | 'running' | 'completed' | 'failed';

export interface ExportsTable {
  id: string;
  owner_id: string;
  organization_id: string | null;
  resource: 'users';
  format: 'csv' | 'jsonl';
  filters: Json;
  status: ColumnType<ExportStatus, ExportStatus | undefined, ExportStatus>;
  progress: ColumnType<number, number | undefined, number>;
  row_count: ColumnType<number, number | undefined, number>;
  file_name: string | null;
  error: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  completed_at: Date | null;
}

/** Kysely's view of the schema; keep in step with migrations/. */
export interface Database {
  organizations: OrganizationsTable;
  teams: TeamsTable;
  team_memberships: TeamMembershipsTable;
  users: UsersTable;
  user_profiles: UserProfilesTable;
  refresh_tokens: RefreshTokensTable;
  audit_log: AuditLogTable;
  products: ProductsTable;
  inventory: InventoryTable;
  orders: OrdersTable;
  order_items: OrderItemsTable;
  idempotency_keys: IdempotencyKeysTable;
  saga_instances: SagaInstancesTable;
  saga_steps: SagaStepsTable;
  outbox: OutboxTable;
  inbox: InboxTable;
  dead_letters: DeadLettersTable;
  email_verification_tokens: EmailVerificationTokensTable;
  notifications: NotificationsTable;
  exports: ExportsTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type UserProfileRow = Selectable<UserProfilesTable>;
export type OrganizationRow = Selectable<OrganizationsTable>;
export type RefreshTokenRow = Selectable<RefreshTokensTable>;
export type NewRefreshTokenRow = Insertable<RefreshTokensTable>;
export type NewAuditLogRow = Insertable<AuditLogTable>;
export type OutboxRow = Selectable<OutboxTable>;
export type NewOutboxRow = Insertable<OutboxTable>;
export type DeadLetterRow = Selectable<DeadLettersTable>;

// Generated<> is re-exported for migrations that add serial columns later.
export type { Generated };
