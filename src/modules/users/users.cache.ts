import { Injectable } from '@nestjs/common';
import { cacheKeyspace, CacheService } from '../../platform/cache/cache.service.js';
import type { DbExecutor } from '../../platform/database/database.service.js';
import { afterCommit } from '../../platform/database/transaction.js';
import type { UserDto } from './users.dto.js';

/** Bump the version whenever UserDto changes shape: old entries are then never read. */
const USERS = cacheKeyspace('user', 1);

function idKey(id: string): string {
  return USERS.key('id', id);
}

function emailKey(email: string): string {
  return USERS.key('email', email.trim().toLowerCase());
}

/**
 * The users module's view of the cache (the guideline's CachedUserRepository): users by id as the
 * client sees them, and an email -> id index. The email entry holds only the id, so a user's data
 * lives in one entry and one invalidation covers it; an email entry can only go stale by the
 * email moving, and every write that moves one invalidates both addresses.
 * Access decisions are made on the cached user by the service, as on a fresh row.
 */
@Injectable()
export class UsersCache {
  constructor(private readonly cache: CacheService) {}

  /** The user, from the cache or `load` (undefined: not found, cached briefly too). */
  byId(id: string, load: () => Promise<UserDto | undefined>): Promise<UserDto | undefined> {
    return this.cache.get(idKey(id), load);
  }

  /** The id of the user with this email (case-insensitive), from the cache or `load`. */
  idByEmail(email: string, load: () => Promise<string | undefined>): Promise<string | undefined> {
    return this.cache.get(emailKey(email), load);
  }

  /**
   * Drops the users and email entries once `db`'s transaction commits (at once on the pool).
   * `emails` names every address a write gave or took away, so negative and index entries go too.
   */
  async invalidateAfterCommit(db: DbExecutor, change: { ids: readonly string[]; emails?: readonly string[] }): Promise<void> {
    const keys = [...change.ids.map(idKey), ...(change.emails ?? []).map(emailKey)];
    await afterCommit(db, () => this.cache.invalidate({ keys }));
  }
}
