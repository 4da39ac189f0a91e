import type { UserRole } from '../database/database.types.js';

/**
 * Every permission the service knows. Routes declare the permission they need; a user holds the
 * permissions of its role. `:own` permissions cover only the caller's own resources, the others
 * any resource in the caller's organization.
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
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const USER: readonly Permission[] = ['users:read:own', 'users:update:own', 'organizations:read'];
const MODERATOR: readonly Permission[] = [...USER, 'users:read', 'users:update'];
const ADMIN: readonly Permission[] = PERMISSIONS;

/** The role -> permission map. Access tokens carry the resolved list; guards check against it. */
export const ROLE_PERMISSIONS: Readonly<Record<UserRole, readonly Permission[]>> = {
  user: USER,
  moderator: MODERATOR,
  admin: ADMIN,
};

/** The permissions a user with `role` holds, sorted so tokens are stable. */
export function permissionsOf(role: UserRole): Permission[] {
  return [...ROLE_PERMISSIONS[role]].sort();
}
