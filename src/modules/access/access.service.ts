import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../../platform/database/database.service.js';
import type { TeamRole } from '../../platform/database/database.types.js';
import { AppError } from '../../platform/errors/app-error.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import type { Permission } from '../../platform/security/permissions.js';
import { AccessRepository } from './access.repository.js';

export type ResourceType = 'user' | 'organization';
export type ResourceAction = 'read' | 'update' | 'delete' | 'stats';

/** What an access decision needs to know about a resource; loaded by the owning service. */
export interface ProtectedResource {
  type: ResourceType;
  /** The tenant the resource belongs to; null when it belongs to none. */
  organizationId: string | null;
  /** The user who owns it; a user owns itself. */
  ownerId?: string;
  /** The team it belongs to, when team members get rights on it. */
  teamId?: string | null;
}

/**
 * `hidden`: the caller may not even learn the resource exists (another tenant), so the service
 * answers as if it did not (404). `forbidden`: it is visible but the action is not allowed (403).
 */
export type AccessDecision = 'allowed' | 'forbidden' | 'hidden';

/** Organization-wide permission per resource type and action: any resource of the caller's tenant. */
const GLOBAL_PERMISSION: Readonly<Record<ResourceType, Partial<Record<ResourceAction, Permission>>>> = {
  user: { read: 'users:read', update: 'users:update', delete: 'users:delete' },
  organization: { read: 'organizations:read', stats: 'organizations:stats' },
};

/** Permission that lets the owner act on its own resource. */
const OWNER_PERMISSION: Readonly<Record<ResourceType, Partial<Record<ResourceAction, Permission>>>> = {
  user: { read: 'users:read:own', update: 'users:update:own' },
  organization: {},
};

/** What a team role allows on the team's resources. */
const TEAM_ROLE_ACTIONS: Readonly<Record<TeamRole, readonly ResourceAction[]>> = {
  member: ['read'],
  maintainer: ['read', 'update'],
  owner: ['read', 'update', 'delete'],
};

/**
 * Resource-level authorization (the guideline's ResourceAuthService), in the order the guideline
 * gives, behind a tenant wall it does not have:
 * 0. tenant: a resource of another organization is hidden unless the caller holds `platform:admin`
 *    (a resource without an organization is visible only to its owner and platform admins);
 * 1. ownership, with the matching `:own` permission;
 * 2. team membership role, when the resource belongs to a team;
 * 3. the organization-wide permission for the action.
 * Routes decide "may call this at all" (`@RequirePermissions`); this decides "on this resource".
 */
@Injectable()
export class ResourceAccessService {
  constructor(
    private readonly database: DatabaseService,
    private readonly access: AccessRepository,
  ) {}

  /** Whether the caller acts in every organization. */
  isPlatformAdmin(principal: Principal): boolean {
    return principal.permissions.includes('platform:admin');
  }

  /** Whether the caller holds `permission` (from its role and scope). */
  holds(principal: Principal, permission: Permission): boolean {
    return principal.permissions.includes(permission);
  }

  /**
   * The organization a listing must be confined to: undefined for platform admins (everything),
   * the caller's organization otherwise, and null when the caller has none (it sees no one else).
   */
  tenantScope(principal: Principal): string | null | undefined {
    return this.isPlatformAdmin(principal) ? undefined : principal.organizationId;
  }

  /** Whether the caller may see resources of `organizationId` at all. */
  canSeeTenant(principal: Principal, organizationId: string | null): boolean {
    return this.isPlatformAdmin(principal) || (principal.organizationId !== null && principal.organizationId === organizationId);
  }

  async decide(principal: Principal, resource: ProtectedResource, action: ResourceAction): Promise<AccessDecision> {
    const owner = resource.ownerId !== undefined && resource.ownerId === principal.userId;
    const inTenant = this.canSeeTenant(principal, resource.organizationId);
    if (!inTenant && !owner) return 'hidden';

    const ownerPermission = OWNER_PERMISSION[resource.type][action];
    if (owner && ownerPermission !== undefined && this.holds(principal, ownerPermission)) return 'allowed';

    if (inTenant && resource.teamId) {
      const role = await this.access.teamRole(this.database.db, resource.teamId, principal.userId);
      if (role !== undefined && TEAM_ROLE_ACTIONS[role].includes(action)) return 'allowed';
    }

    const globalPermission = GLOBAL_PERMISSION[resource.type][action];
    if (inTenant && globalPermission !== undefined && this.holds(principal, globalPermission)) return 'allowed';
    return 'forbidden';
  }

  /** Throws `notFound()` when the resource is hidden from the caller and FORBIDDEN when the action is not allowed. */
  async assert(principal: Principal, resource: ProtectedResource, action: ResourceAction, notFound: () => AppError): Promise<void> {
    const decision = await this.decide(principal, resource, action);
    if (decision === 'hidden') throw notFound();
    if (decision === 'forbidden') throw new AppError('FORBIDDEN');
  }
}
