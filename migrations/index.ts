import type { Migration } from 'kysely';
import * as identity from './20261128_0001_identity.js';
import * as auth from './20261129_0002_auth.js';
import * as events from './20261129_0003_events.js';
import * as jobs from './20261129_0004_jobs.js';
import * as commerce from './20261129_0005_commerce.js';

/**
 * Every migration, in order. A static list (rather than reading the folder) works the same from
 * source under Vitest and from the compiled build, and a missing import fails the typecheck.
 */
export const migrations: Record<string, Migration> = {
  '20261128_0001_identity': identity,
  '20261129_0002_auth': auth,
  '20261129_0003_events': events,
  '20261129_0004_jobs': jobs,
  '20261129_0005_commerce': commerce,
};
