import { Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { DatabaseService } from '../../platform/database/database.service.js';
import type { OrganizationRow } from '../../platform/database/database.types.js';
import { AppError } from '../../platform/errors/app-error.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { ResourceAccessService } from '../access/access.service.js';
import type { CreateOrganizationDto, OrganizationDto, OrganizationStatsDto } from './organizations.dto.js';
import { OrganizationsRepository } from './organizations.repository.js';

function toDto(row: OrganizationRow): OrganizationDto {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Slug of the organization sign-up and admin bootstrap use; created by migration 20261129_0002_auth. */
export const DEFAULT_ORGANIZATION_SLUG = 'default';

const organizationNotFound = (): AppError => new AppError('ORGANIZATION_NOT_FOUND');

/**
 * Organizations are the tenants. A caller sees only its own (another is ORGANIZATION_NOT_FOUND,
 * exactly like an unknown id); platform admins see and create any.
 */
@Injectable()
export class OrganizationsService {
  constructor(
    private readonly database: DatabaseService,
    private readonly organizations: OrganizationsRepository,
    private readonly access: ResourceAccessService,
  ) {}

  async create(caller: Principal, input: CreateOrganizationDto): Promise<OrganizationDto> {
    if (!this.access.holds(caller, 'organizations:create')) throw new AppError('FORBIDDEN');
    const row = await this.organizations.insert(this.database.db, { id: uuidv7(), name: input.name, slug: input.slug });
    if (!row) {
      throw new AppError('DUPLICATE_ORGANIZATION_SLUG', { details: [{ field: 'slug', message: 'slug is already taken' }] });
    }
    return toDto(row);
  }

  async findById(caller: Principal, id: string): Promise<OrganizationDto> {
    // An organization's tenant is itself, so access is decided before anything is read.
    await this.access.assert(caller, { type: 'organization', organizationId: id }, 'read', organizationNotFound);
    const row = await this.organizations.findById(this.database.db, id);
    if (!row) throw organizationNotFound();
    return toDto(row);
  }

  /** Id of the default organization; a missing row means the migrations did not run. */
  async defaultOrganizationId(): Promise<string> {
    const id = await this.organizations.findIdBySlug(this.database.db, DEFAULT_ORGANIZATION_SLUG);
    if (id === undefined) throw new Error(`the '${DEFAULT_ORGANIZATION_SLUG}' organization is missing; run the migrations`);
    return id;
  }

  /** Which of `ids` name existing organizations; used by other modules to validate references. */
  existingIds(ids: readonly string[]): Promise<Set<string>> {
    return this.organizations.existingIds(this.database.db, ids);
  }

  /** Statistics of the caller's organization; needs `organizations:stats` (organization admins). */
  async stats(caller: Principal, id: string): Promise<OrganizationStatsDto> {
    await this.access.assert(caller, { type: 'organization', organizationId: id }, 'stats', organizationNotFound);
    // One snapshot for the existence check and the aggregate, so they agree.
    return this.database.transaction(
      async (trx) => {
        if (!(await this.organizations.findById(trx, id))) throw organizationNotFound();
        const row = await this.organizations.stats(trx, id);
        return {
          organizationId: id,
          totalUsers: row.total_users,
          activeUsers: row.active_users,
          inactiveUsers: row.inactive_users,
          pendingUsers: row.pending_users,
          suspendedUsers: row.suspended_users,
          newUsers30d: row.new_users_30d,
          avgSecondsToFirstLogin: row.avg_seconds_to_first_login === null ? null : Math.round(row.avg_seconds_to_first_login),
        };
      },
      { isolation: 'repeatable read' },
    );
  }
}
