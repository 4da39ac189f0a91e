/**
 * Demo data for Groundwork: organizations with teams, users with profiles, jsonb metadata and team
 * memberships, spread over the past two years.
 *
 *   npm run seed -- --users 10000 [--organizations 40] [--batch 1000] [--seed 42]
 *
 * Connects to DATABASE_URL when set; otherwise starts the embedded PostgreSQL in DATA_DIR/pg exactly
 * as the service does, migrates it, seeds, and stops it again. The bench runner imports
 * `openDatabase` and `seedDatabase` from here so both use one generator.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Faker, base, en } from '@faker-js/faker';
import cliProgress from 'cli-progress';
import { Kysely, PostgresDialect, sql, type Insertable } from 'kysely';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/platform/config/config.schema.js';
import type {
  Database,
  NewUserRow,
  OrganizationsTable,
  TeamMembershipsTable,
  TeamRole,
  TeamsTable,
  UserProfilesTable,
  UserRole,
  UserStatus,
} from '../src/platform/database/database.types.js';
import { EmbeddedPostgres } from '../src/platform/database/embedded-postgres.js';
import { migrateToLatest } from '../src/platform/database/migrator.js';

const DAY_MS = 86_400_000;
const HISTORY_MS = 730 * DAY_MS;
/** PostgreSQL's bind message carries at most 65535 parameters; the largest table has 12 columns. */
export const MAX_BATCH = 5000;
const TEAM_ROWS_PER_INSERT = 10_000; // 4 columns each, well under the parameter limit

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

export interface OpenDatabaseOptions {
  /** External PostgreSQL; when undefined the embedded server in `dataDir` is started. */
  databaseUrl: string | undefined;
  /** Data directory of the embedded server (the service uses DATA_DIR/pg). */
  dataDir: string;
  /** Database created on the embedded server if missing; ignored for an external URL. */
  database: string;
  poolSize: number;
  applicationName: string;
  log?: (line: string) => void;
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  /** Where other processes can reach the same database. Contains credentials: never print it. */
  connectionString: string;
  embedded: boolean;
  /** Destroys the pool and stops the embedded server if one was started. Safe to call twice. */
  close(): Promise<void>;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  let embedded: EmbeddedPostgres | undefined;
  let connectionString = options.databaseUrl;
  if (connectionString === undefined) {
    embedded = new EmbeddedPostgres({ dataDir: options.dataDir, ...(options.log && { log: options.log }) });
    try {
      await embedded.start();
      await embedded.ensureDatabase(options.database);
    } catch (error) {
      await embedded.stop();
      throw error;
    }
    connectionString = embedded.connectionString(options.database);
  }
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize,
    connectionTimeoutMillis: 10_000,
    application_name: options.applicationName,
  });
  // An idle client losing its connection (server stopped under us) must not crash the process.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await db.destroy().catch(() => undefined);
      await embedded?.stop();
    })();
    return closing;
  };
  return { db, connectionString, embedded: embedded !== undefined, close };
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

export interface SeedOptions {
  users: number;
  /** Defaults to one organization per 250 users. */
  organizations?: number;
  /** Rows per INSERT (and per transaction). */
  batchSize?: number;
  /** Faker seed: the same seed on the same starting database on the same day gives the same rows. */
  seed?: number;
  /** Batches in flight at once; generation of the next batch overlaps the previous INSERT. */
  concurrency?: number;
  /** Reference "now" for the two-year history; defaults to the start of the current UTC day. */
  now?: Date;
}

export interface SeedCounts {
  organizations: number;
  teams: number;
  users: number;
  profiles: number;
  memberships: number;
}

export interface SeedResult extends SeedCounts {
  elapsedMs: number;
}

export type SeedPhase = 'organizations' | 'users';
export interface SeedProgressEvent {
  phase: SeedPhase;
  done: number;
  total: number;
}

interface SeededTeam {
  id: string;
  createdAt: number;
}

interface SeededOrganization {
  id: string;
  slug: string;
  createdAt: number;
  teams: SeededTeam[];
}

type OrganizationInsert = Insertable<OrganizationsTable>;
type TeamInsert = Insertable<TeamsTable>;
type ProfileInsert = Insertable<UserProfilesTable>;
type MembershipInsert = Insertable<TeamMembershipsTable>;

interface UserBatch {
  users: NewUserRow[];
  profiles: ProfileInsert[];
  memberships: MembershipInsert[];
}

const TEAM_NAMES = [
  'Engineering', 'Platform', 'Product', 'Design', 'Data', 'Security', 'Sales', 'Marketing',
  'Support', 'Customer Success', 'Finance', 'Operations', 'People', 'Legal', 'Research',
] as const;

const TAGS = [
  'beta-tester', 'early-adopter', 'power-user', 'newsletter', 'churn-risk', 'vip', 'developer',
  'mobile', 'api-user', 'trial-extended', 'needs-onboarding', 'referral-partner',
] as const;

// Locale and time zone travel together so a profile is plausible; both satisfy the DTO patterns.
interface Place {
  locale: string;
  timezone: string;
}
const LOCALES: ReadonlyArray<{ value: Place; weight: number }> = [
  { value: { locale: 'en-US', timezone: 'America/New_York' }, weight: 14 },
  { value: { locale: 'en-US', timezone: 'America/Chicago' }, weight: 6 },
  { value: { locale: 'en-US', timezone: 'America/Los_Angeles' }, weight: 8 },
  { value: { locale: 'en-GB', timezone: 'Europe/London' }, weight: 8 },
  { value: { locale: 'en-CA', timezone: 'America/Toronto' }, weight: 3 },
  { value: { locale: 'en-AU', timezone: 'Australia/Sydney' }, weight: 3 },
  { value: { locale: 'en-IN', timezone: 'Asia/Kolkata' }, weight: 6 },
  { value: { locale: 'de-DE', timezone: 'Europe/Berlin' }, weight: 7 },
  { value: { locale: 'fr-FR', timezone: 'Europe/Paris' }, weight: 5 },
  { value: { locale: 'es-ES', timezone: 'Europe/Madrid' }, weight: 4 },
  { value: { locale: 'es-MX', timezone: 'America/Mexico_City' }, weight: 3 },
  { value: { locale: 'pt-BR', timezone: 'America/Sao_Paulo' }, weight: 5 },
  { value: { locale: 'nl-NL', timezone: 'Europe/Amsterdam' }, weight: 3 },
  { value: { locale: 'pl-PL', timezone: 'Europe/Warsaw' }, weight: 3 },
  { value: { locale: 'sv-SE', timezone: 'Europe/Stockholm' }, weight: 2 },
  { value: { locale: 'it-IT', timezone: 'Europe/Rome' }, weight: 3 },
  { value: { locale: 'ja-JP', timezone: 'Asia/Tokyo' }, weight: 4 },
  { value: { locale: 'ko-KR', timezone: 'Asia/Seoul' }, weight: 2 },
];

// RFC 2606 reserved domains: demo addresses can never reach a real mailbox, even with SMTP_URL set.
const PERSONAL_DOMAINS = ['example.com', 'example.net', 'example.org'] as const;

/**
 * A UUIDv7 whose timestamp is the row's created_at and whose random part is derived from
 * (seed, kind, index): ids sort like creation time, as ids minted by the service do, and a re-run
 * with the same seed produces the same ids. SHA-256 is ~1 µs, far cheaper than 16 faker calls.
 */
function deterministicId(seed: number, kind: string, index: number, msecs: number): string {
  const random = createHash('sha256').update(`${seed}:${kind}:${index}`).digest();
  return uuidv7({ msecs, random });
}

/** Lower-case ASCII letters and digits only, so emails and slugs are valid whatever faker returns. */
function asciiWord(value: string): string {
  return value
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '');
}

function slugBase(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/g, '');
  return slug === '' ? 'org' : slug;
}

/** Number of sorted values <= value (binary search). */
function countAtOrBefore(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] ?? Infinity) <= value) low = mid + 1;
    else high = mid;
  }
  return low;
}

function* chunks<T>(rows: readonly T[], size: number): Generator<T[]> {
  for (let start = 0; start < rows.length; start += size) yield rows.slice(start, start + size);
}

class DemoDataGenerator {
  private readonly faker: Faker;

  constructor(
    private readonly seed: number,
    offsets: { organization: number; user: number },
    private readonly now: number,
  ) {
    this.faker = new Faker({ locale: [en, base] });
    // The offsets join the seed so a top-up run continues with new names instead of repeating.
    this.faker.seed([seed, offsets.organization, offsets.user]);
  }

  private random(): number {
    return this.faker.number.float();
  }

  /** A time in [from, to], never after now (callers pass from <= now). */
  private between(from: number, to: number): number {
    const end = Math.min(to, this.now);
    return end <= from ? Math.min(from, this.now) : from + Math.floor(this.random() * (end - from));
  }

  /** Sign-ups grow over time: ages are skewed towards the recent end of the two years. */
  private signupTime(): number {
    return this.now - Math.floor(HISTORY_MS * this.random() ** 1.6);
  }

  organizations(count: number, offset: number): { organizations: SeededOrganization[]; rows: OrganizationInsert[]; teams: TeamInsert[] } {
    const f = this.faker;
    const drafts = Array.from({ length: count }, () => ({ name: f.company.name(), createdAt: this.now - Math.floor(HISTORY_MS * this.random()) }));
    // Indices follow creation time, so slug numbers and id order agree with created_at.
    drafts.sort((a, b) => a.createdAt - b.createdAt);

    const organizations: SeededOrganization[] = [];
    const rows: OrganizationInsert[] = [];
    const teams: TeamInsert[] = [];
    drafts.forEach((draft, position) => {
      const index = offset + position;
      const id = deterministicId(this.seed, 'organization', index, draft.createdAt);
      // The index suffix makes slugs unique however often faker repeats a company name.
      const slug = `${slugBase(draft.name)}-${index}`;
      const created = new Date(draft.createdAt);
      rows.push({ id, name: draft.name.slice(0, 200), slug, created_at: created, updated_at: new Date(this.between(draft.createdAt, this.now)) });

      const teamNames = f.helpers.arrayElements(TEAM_NAMES, { min: 1, max: 6 });
      const seededTeams = teamNames.map((name, teamPosition): SeededTeam => {
        const teamCreated = this.between(draft.createdAt, draft.createdAt + 60 * DAY_MS);
        const teamId = deterministicId(this.seed, `team:${index}`, teamPosition, teamCreated);
        teams.push({ id: teamId, organization_id: id, name, created_at: new Date(teamCreated) });
        return { id: teamId, createdAt: teamCreated };
      });
      organizations.push({ id, slug, createdAt: draft.createdAt, teams: seededTeams });
    });
    return { organizations, rows, teams };
  }

  users(count: number, offset: number, organizations: readonly SeededOrganization[], organizationTimes: readonly number[]): UserBatch {
    const f = this.faker;
    const batch: UserBatch = { users: [], profiles: [], memberships: [] };
    for (let position = 0; position < count; position++) {
      const index = offset + position;
      const firstName = f.person.firstName();
      const lastName = f.person.lastName();
      const createdAt = this.signupTime();
      const id = deterministicId(this.seed, 'user', index, createdAt);

      // Only organizations that existed at sign-up; older (lower index) ones are bigger.
      const eligible = countAtOrBefore(organizationTimes, createdAt);
      const organization = eligible > 0 && this.random() < 0.85 ? organizations[Math.floor(eligible * this.random() ** 1.5)] : undefined;

      // The index makes the address unique case-insensitively (users_email_lower_key) by construction.
      const local = `${asciiWord(firstName) || 'user'}.${asciiWord(lastName) || 'demo'}.${index}`;
      const domain = organization ? `${organization.slug}.example` : f.helpers.arrayElement(PERSONAL_DOMAINS);
      const email = `${local}@${domain}`;

      const recent = this.now - createdAt < 14 * DAY_MS;
      const status: UserStatus = f.helpers.weightedArrayElement<UserStatus>(
        recent
          ? [{ value: 'active', weight: 45 }, { value: 'pending', weight: 45 }, { value: 'inactive', weight: 5 }, { value: 'suspended', weight: 5 }]
          : [{ value: 'active', weight: 70 }, { value: 'inactive', weight: 15 }, { value: 'pending', weight: 9 }, { value: 'suspended', weight: 6 }],
      );
      const role: UserRole = f.helpers.weightedArrayElement<UserRole>([
        { value: 'user', weight: 92 },
        { value: 'moderator', weight: 6 },
        { value: 'admin', weight: 2 },
      ]);

      // Pending users have not confirmed their address and never logged in.
      let emailVerifiedAt: number | undefined;
      let firstLoginAt: number | undefined;
      let lastLoginAt: number | undefined;
      if (status !== 'pending') {
        if (this.random() < 0.95) emailVerifiedAt = this.between(createdAt + 60_000, createdAt + 3 * DAY_MS);
        if (this.random() < 0.9) {
          const from = emailVerifiedAt ?? createdAt;
          firstLoginAt = this.between(from, from + 7 * DAY_MS);
          lastLoginAt =
            status === 'active'
              ? this.between(Math.max(firstLoginAt, this.now - 30 * DAY_MS), this.now)
              : status === 'inactive'
                ? this.between(firstLoginAt, Math.max(firstLoginAt, this.now - 90 * DAY_MS))
                : this.between(firstLoginAt, this.now);
        }
      }
      const lastChange = Math.max(createdAt, emailVerifiedAt ?? 0, lastLoginAt ?? 0);
      const updatedAt = this.between(lastChange, lastChange + 30 * DAY_MS);

      const place = f.helpers.weightedArrayElement(LOCALES);
      const metadata = {
        plan: f.helpers.weightedArrayElement(
          organization
            ? [{ value: 'team', weight: 40 }, { value: 'pro', weight: 30 }, { value: 'enterprise', weight: 20 }, { value: 'free', weight: 10 }]
            : [{ value: 'free', weight: 60 }, { value: 'starter', weight: 25 }, { value: 'pro', weight: 15 }],
        ),
        signupSource: f.helpers.weightedArrayElement(
          organization
            ? [{ value: 'invite', weight: 60 }, { value: 'sso', weight: 25 }, { value: 'organic', weight: 15 }]
            : [{ value: 'organic', weight: 45 }, { value: 'referral', weight: 20 }, { value: 'ads', weight: 20 }, { value: 'partner', weight: 10 }, { value: 'import', weight: 5 }],
        ),
        tags: f.helpers.arrayElements(TAGS, { min: 0, max: 3 }),
        preferences: {
          theme: f.helpers.arrayElement(['light', 'dark', 'system'] as const),
          language: place.locale.slice(0, 2),
          newsletter: this.random() < 0.35,
          notifications: { email: this.random() < 0.8, push: this.random() < 0.4 },
        },
      };

      batch.users.push({
        id,
        organization_id: organization?.id ?? null,
        email,
        name: `${firstName} ${lastName}`.slice(0, 200),
        // Seeded users have no password: they exist to be listed and read, not to log in.
        password_hash: null,
        status,
        role,
        metadata: JSON.stringify(metadata),
        email_verified_at: emailVerifiedAt === undefined ? null : new Date(emailVerifiedAt),
        first_login_at: firstLoginAt === undefined ? null : new Date(firstLoginAt),
        last_login_at: lastLoginAt === undefined ? null : new Date(lastLoginAt),
        created_at: new Date(createdAt),
        updated_at: new Date(updatedAt),
      });

      // Three in four users filled in a profile, most of them only partly.
      if (this.random() < 0.75) {
        batch.profiles.push({
          user_id: id,
          display_name: this.random() < 0.6 ? firstName : `${firstName} ${lastName.charAt(0)}.`,
          bio: this.random() < 0.5 ? f.person.bio().slice(0, 2000) : null,
          avatar_url: this.random() < 0.6 ? `https://avatars.example.com/${id}.png` : null,
          locale: place.locale,
          timezone: this.random() < 0.8 ? place.timezone : null,
          updated_at: new Date(this.between(createdAt, updatedAt)),
        });
      }

      if (organization && organization.teams.length > 0 && this.random() < 0.6) {
        const teamCount = Math.min(organization.teams.length, this.random() < 0.75 ? 1 : 2);
        for (const team of f.helpers.arrayElements(organization.teams, teamCount)) {
          const joinedFrom = Math.max(createdAt, team.createdAt);
          batch.memberships.push({
            team_id: team.id,
            user_id: id,
            role: f.helpers.weightedArrayElement<TeamRole>([
              { value: 'member', weight: 85 },
              { value: 'maintainer', weight: 12 },
              { value: 'owner', weight: 3 },
            ]),
            created_at: new Date(this.between(joinedFrom, joinedFrom + 14 * DAY_MS)),
          });
        }
      }
    }
    return batch;
  }
}

/**
 * Next free index for emails (`first.last.<index>@...`) and slugs (`name-<index>`). Taken from the
 * data rather than from a count, so deleted rows never cause a re-used (duplicate) address.
 */
async function nextIndexes(db: Kysely<Database>): Promise<{ organization: number; user: number }> {
  // `[.]` instead of `\.`: the sql tag uses cooked template strings, which would drop the backslash.
  const result = await sql<{ user_next: string; organization_next: string }>`
    SELECT
      (SELECT coalesce(max(substring(email FROM '[.]([0-9]{1,12})@')::bigint), -1) + 1 FROM users) AS user_next,
      (SELECT coalesce(max(substring(slug FROM '-([0-9]{1,12})$')::bigint), -1) + 1 FROM organizations) AS organization_next
  `.execute(db);
  const row = result.rows[0];
  return { organization: Number(row?.organization_next ?? 0), user: Number(row?.user_next ?? 0) };
}

/**
 * Runs `insert` for each generated batch with up to `concurrency` transactions in flight. Batches
 * are generated in order on this thread, so the data does not depend on commit order.
 */
async function pipeline<T>(
  batches: Iterable<T>,
  concurrency: number,
  insert: (batch: T) => Promise<void>,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  for (const batch of batches) {
    if (failure) break;
    const running: Promise<void> = insert(batch)
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => inFlight.delete(running));
    inFlight.add(running);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure) throw failure.error;
}

/** Fills the database; the schema must already be migrated. */
export async function seedDatabase(
  db: Kysely<Database>,
  options: SeedOptions,
  onProgress?: (event: SeedProgressEvent) => void,
): Promise<SeedResult> {
  const started = performance.now();
  const userCount = options.users;
  const organizationCount = options.organizations ?? Math.max(1, Math.ceil(userCount / 250));
  const batchSize = Math.min(options.batchSize ?? 1000, MAX_BATCH);
  const seed = options.seed ?? 42;
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const now = (options.now ?? new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS)).getTime();

  const offsets = await nextIndexes(db);
  const generator = new DemoDataGenerator(seed, offsets, now);
  const counts: SeedCounts = { organizations: 0, teams: 0, users: 0, profiles: 0, memberships: 0 };

  // Organizations are few (one per 250 users by default) and users must reference them, so they are
  // generated up front and kept in memory.
  const { organizations, rows: organizationRows, teams } = generator.organizations(organizationCount, offsets.organization);
  const organizationTimes = organizations.map((o) => o.createdAt);
  onProgress?.({ phase: 'organizations', done: 0, total: organizationCount });
  await db.transaction().execute(async (trx) => {
    // Seed data can be regenerated, so losing the last commits in a crash is acceptable; not waiting
    // for the WAL flush on every commit makes bulk loading several times faster.
    await sql`SET LOCAL synchronous_commit = off`.execute(trx);
    for (const rows of chunks(organizationRows, batchSize)) {
      await trx.insertInto('organizations').values(rows).execute();
      counts.organizations += rows.length;
      onProgress?.({ phase: 'organizations', done: counts.organizations, total: organizationCount });
    }
    for (const rows of chunks(teams, TEAM_ROWS_PER_INSERT)) {
      await trx.insertInto('teams').values(rows).execute();
      counts.teams += rows.length;
    }
  });

  function* userBatches(): Generator<UserBatch> {
    for (let done = 0; done < userCount; done += batchSize) {
      yield generator.users(Math.min(batchSize, userCount - done), offsets.user + done, organizations, organizationTimes);
    }
  }
  onProgress?.({ phase: 'users', done: 0, total: userCount });
  await pipeline(userBatches(), concurrency, async (batch) => {
    await db.transaction().execute(async (trx) => {
      await sql`SET LOCAL synchronous_commit = off`.execute(trx);
      await trx.insertInto('users').values(batch.users).execute();
      if (batch.profiles.length > 0) await trx.insertInto('user_profiles').values(batch.profiles).execute();
      if (batch.memberships.length > 0) await trx.insertInto('team_memberships').values(batch.memberships).execute();
    });
    counts.users += batch.users.length;
    counts.profiles += batch.profiles.length;
    counts.memberships += batch.memberships.length;
    onProgress?.({ phase: 'users', done: counts.users, total: userCount });
  });

  return { ...counts, elapsedMs: Math.round(performance.now() - started) };
}

/**
 * Refreshes planner statistics and the visibility map after a bulk load, so the first queries
 * afterwards (and benchmarks) get the plans and index-only scans they will get in steady state.
 */
export async function analyzeSeededTables(db: Kysely<Database>): Promise<void> {
  await sql`VACUUM (ANALYZE) organizations, teams, users, user_profiles, team_memberships`.execute(db);
}

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

export interface ProgressReporter {
  onProgress(event: SeedProgressEvent): void;
  stop(): void;
}

/**
 * A bar on an interactive terminal; plain lines (every 10% per phase) in CI or when output is
 * redirected, where redraw escape codes would fill a log with noise.
 */
export function createProgressReporter(label = 'seed'): ProgressReporter {
  const interactive = process.stderr.isTTY === true && !process.env.CI;
  let phase: SeedPhase | undefined;
  let phaseStarted = 0;
  let bar: cliProgress.SingleBar | undefined;
  let lastDecile = -1;

  const rate = (done: number): number => {
    const seconds = (performance.now() - phaseStarted) / 1000;
    return seconds > 0 ? Math.round(done / seconds) : 0;
  };

  return {
    onProgress(event) {
      if (event.phase !== phase) {
        bar?.stop();
        bar = undefined;
        phase = event.phase;
        phaseStarted = performance.now();
        lastDecile = -1;
        if (interactive) {
          bar = new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: `${label} {phase} [{bar}] {percentage}% | {value}/{total} | {rate} rows/s | eta {eta_formatted}`,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(event.total, event.done, { phase: event.phase.padEnd(13), rate: 0 });
        }
      }
      if (bar) {
        bar.update(event.done, { rate: rate(event.done) });
        return;
      }
      const decile = event.total === 0 ? 10 : Math.floor((event.done / event.total) * 10);
      if (decile > lastDecile) {
        lastDecile = decile;
        const percent = event.total === 0 ? 100 : Math.floor((event.done / event.total) * 100);
        process.stdout.write(`${label}: ${event.phase} ${event.done}/${event.total} (${percent}%) ${rate(event.done)} rows/s\n`);
      }
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

const USAGE = `Usage: npm run seed -- --users N [--organizations M] [--batch 1000] [--seed 42] [--concurrency 2]

Fills the database with demo organizations, teams, users, profiles and memberships.
Connects to DATABASE_URL when set, otherwise starts the embedded PostgreSQL in DATA_DIR/pg.
Running it again adds more rows; it never deletes anything.`;

class UsageError extends Error {}

function integerOption(name: string, raw: string | undefined, fallback: number | undefined, max: number, min = 1): number {
  if (raw === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${name} must be an integer (got "${raw}")`);
  const value = Number(raw);
  if (value < min || value > max) throw new UsageError(`--${name} must be between ${min} and ${max} (got ${value})`);
  return value;
}

export function parseSeedArgs(argv: string[]): (SeedOptions & { help?: false }) | { help: true } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      users: { type: 'string' },
      organizations: { type: 'string' },
      batch: { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { help: true };
  const users = integerOption('users', values.users, undefined, 10_000_000);
  return {
    users,
    ...(values.organizations !== undefined && { organizations: integerOption('organizations', values.organizations, undefined, 1_000_000) }),
    batchSize: integerOption('batch', values.batch, 1000, MAX_BATCH),
    seed: integerOption('seed', values.seed, 42, 2 ** 31 - 1, 0),
    concurrency: integerOption('concurrency', values.concurrency, 2, 16),
  };
}

async function main(): Promise<void> {
  let options: SeedOptions;
  try {
    const parsed = parseSeedArgs(process.argv.slice(2));
    if (parsed.help) {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    options = parsed;
  } catch (error) {
    // parseArgs throws TypeError with a code for unknown or malformed flags.
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    process.exitCode = 64;
    return;
  }

  const config = loadConfig();
  const concurrency = options.concurrency ?? 2;
  const handle = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: path.join(config.DATA_DIR, 'pg'),
    database: 'groundwork',
    poolSize: concurrency + 1,
    applicationName: 'groundwork-seed',
  });
  const progress = createProgressReporter();
  // Ctrl-C: stop the bar and the embedded server before leaving, so no postgres is left behind.
  const onSignal = (signal: NodeJS.Signals): void => {
    progress.stop();
    process.stderr.write(`\n${signal}: stopping\n`);
    void handle.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    process.stdout.write(`seed: ${handle.embedded ? `embedded PostgreSQL in ${path.join(config.DATA_DIR, 'pg')}` : 'DATABASE_URL'}\n`);
    const applied = await migrateToLatest(handle.db as Kysely<unknown>);
    if (applied.length > 0) process.stdout.write(`seed: migrations applied: ${applied.join(', ')}\n`);
    const result = await seedDatabase(handle.db, options, (event) => progress.onProgress(event));
    progress.stop();
    await analyzeSeededTables(handle.db);
    const seconds = result.elapsedMs / 1000;
    process.stdout.write(
      `seed: inserted ${result.organizations} organizations, ${result.teams} teams, ${result.users} users, ` +
        `${result.profiles} profiles, ${result.memberships} team memberships in ${seconds.toFixed(1)} s ` +
        `(${Math.round(result.users / Math.max(seconds, 0.001))} users/s)\n`,
    );
  } finally {
    progress.stop();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await handle.close();
  }
}

// Run only as the entry point; the bench imports this module for its functions.
const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  main().catch((error: unknown) => {
    // Config errors name the variable; database errors say what failed. No stack for a CLI user.
    process.stderr.write(`seed failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
