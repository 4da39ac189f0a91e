import { Migrator, type Kysely, type MigrationResultSet } from 'kysely';
import { migrations } from '../../../migrations/index.js';

function migratorFor(db: Kysely<unknown>): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableName: 'kysely_migration',
    migrationLockTableName: 'kysely_migration_lock',
  });
}

/** Throws with the failing migration's name when a step fails; the step's transaction is rolled back. */
function unwrap(result: MigrationResultSet): string[] {
  const failed = result.results?.find((step) => step.status === 'Error');
  if (result.error !== undefined) {
    const reason = result.error instanceof Error ? result.error.message : JSON.stringify(result.error);
    // No failed step means the migrator never got to run one (connection refused, lock table
    // unreachable); naming an "(unknown)" migration would send the reader looking for the wrong cause.
    const what = failed ? `Migration ${failed.migrationName} failed` : 'Migrations could not run';
    throw new Error(`${what}: ${reason}`, { cause: result.error });
  }
  return (result.results ?? []).filter((step) => step.status === 'Success').map((step) => step.migrationName);
}

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  return unwrap(await migratorFor(db).migrateToLatest());
}

/** Reverts the most recent migration; returns the name reverted (empty when none was applied). */
export async function migrateDown(db: Kysely<unknown>): Promise<string[]> {
  return unwrap(await migratorFor(db).migrateDown());
}

/** Reverts every applied migration. */
export async function migrateAllDown(db: Kysely<unknown>): Promise<string[]> {
  const reverted: string[] = [];
  for (;;) {
    const step = await migrateDown(db);
    if (step.length === 0) return reverted;
    reverted.push(...step);
  }
}
