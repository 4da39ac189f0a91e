import { applyDecorators, SetMetadata } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Permission } from './permissions.js';
import { IS_PUBLIC } from './public.decorator.js';

export const REQUIRED_PERMISSIONS = 'groundwork:requiredPermissions';
export const IS_AUTHENTICATED_ONLY = 'groundwork:authenticatedOnly';

/** The bearer scheme name buildOpenApi registers; protected routes reference it. */
export const BEARER_SCHEME = 'bearer';

const unauthorized = ApiUnauthorizedResponse({ description: 'AUTHENTICATION_REQUIRED or TOKEN_INVALID' });

/**
 * The route needs a signed-in caller holding every one of `permissions` (403 FORBIDDEN otherwise).
 * Resource-level rules (tenant, ownership) still run in the service.
 */
export const RequirePermissions = (...permissions: [Permission, ...Permission[]]): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(REQUIRED_PERMISSIONS, permissions),
    ApiBearerAuth(BEARER_SCHEME),
    unauthorized,
    ApiForbiddenResponse({ description: `FORBIDDEN: needs ${permissions.join(', ')}` }),
  );

/**
 * The route needs a signed-in caller and no particular permission: the service decides per
 * resource (a user reading itself, for instance). An explicit decision, so the route-table test
 * can tell it from a route nobody thought about.
 */
export const Authenticated = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(IS_AUTHENTICATED_ONLY, true), ApiBearerAuth(BEARER_SCHEME), unauthorized);

/** The access decision declared on a route. */
export type RouteAccess = { kind: 'public' } | { kind: 'authenticated' } | { kind: 'permissions'; permissions: readonly Permission[] };

/** What Reflector reads metadata from: a handler function or a controller class. */
export type ReflectTarget = Parameters<Reflector['get']>[1];

function accessDeclaredOn(reflector: Reflector, target: ReflectTarget): RouteAccess | undefined {
  if (reflector.get<boolean | undefined>(IS_PUBLIC, target) === true) return { kind: 'public' };
  const permissions = reflector.get<readonly Permission[] | undefined>(REQUIRED_PERMISSIONS, target);
  if (permissions !== undefined && permissions.length > 0) return { kind: 'permissions', permissions };
  if (reflector.get<boolean | undefined>(IS_AUTHENTICATED_ONLY, target) === true) return { kind: 'authenticated' };
  return undefined;
}

/**
 * The decision of a route: the handler's own decorators, else its controller's. Undefined when
 * neither declares one; the guard refuses such a route and the route-table test fails on it.
 */
export function routeAccessOf(reflector: Reflector, handler: ReflectTarget, controller: ReflectTarget): RouteAccess | undefined {
  return accessDeclaredOn(reflector, handler) ?? accessDeclaredOn(reflector, controller);
}
