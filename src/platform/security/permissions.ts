import type { UserRole } from '../database/database.types.js';

/**
 * Every permission the service knows. Routes declare the permission they need; a user holds the
 * permissions of its role. `:own` permissions cover only the caller's own resources, the others
 * any resource in the caller's organization. Only `platform:admin` reaches across organizations.
 */
export const PERMISSIONS = [
  'users:read:own',
  'users:update:own',
  'users:read',
  'users:create',
  'users:update',
  'users:delete',
  'users:manage-roles',
  'organizations:read',
  'organizations:create',
  'organizations:stats',
  'audit:read',
  'products:manage',
  'orders:read',
  'orders:cancel',
  'platform:admin',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * Held only by admins of the default organization (the operator's own tenant, where the admin
 * bootstrap puts its admin): acting in every organization, creating organizations, and managing
 * the product catalog (one catalog for the whole platform). An admin of any other organization
 * administers that organization only (its orders included: `orders:read`, `orders:cancel`).
 */
export const PLATFORM_PERMISSIONS: readonly Permission[] = ['platform:admin', 'organizations:create', 'products:manage'];

const USER: readonly Permission[] = ['users:read:own', 'users:update:own', 'organizations:read'];
const MODERATOR: readonly Permission[] = [...USER, 'users:read', 'users:update'];
const ADMIN: readonly Permission[] = PERMISSIONS.filter((permission) => !PLATFORM_PERMISSIONS.includes(permission));

/** The role -> permission map, within the user's own organization. */
export const ROLE_PERMISSIONS: Readonly<Record<UserRole, readonly Permission[]>> = {
  user: USER,
  moderator: MODERATOR,
  admin: ADMIN,
};

/**
 * The permissions a user with `role` holds, sorted so tokens are stable. `platformAdmin` (an admin
 * of the default organization) adds PLATFORM_PERMISSIONS; it has no effect on other roles.
 */
export function permissionsOf(role: UserRole, scope: { platformAdmin: boolean } = { platformAdmin: false }): Permission[] {
  const granted = role === 'admin' && scope.platformAdmin ? [...ROLE_PERMISSIONS[role], ...PLATFORM_PERMISSIONS] : ROLE_PERMISSIONS[role];
  return [...granted].sort();
}

/** Whether `held` includes every one of `required`. */
export function hasPermissions(held: readonly Permission[], required: readonly Permission[]): boolean {
  return required.every((permission) => held.includes(permission));
}
