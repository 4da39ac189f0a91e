import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppError } from '../../platform/errors/app-error.js';
import { routeAccessOf } from '../../platform/security/authorization.decorators.js';
import { bearerToken, type AuthenticatedRequest } from '../../platform/security/current-principal.js';
import { hasPermissions } from '../../platform/security/permissions.js';
import { AuthService } from './auth.service.js';

/**
 * The global guard (APP_GUARD, registered by AuthModule): every route needs a valid access token
 * unless it is marked `@Public()`, and then the permissions its `@RequirePermissions` names.
 * Beyond the signature and claims, AuthService checks the user is active, its role and organization
 * are still those of the token, the token version is current and the session is not logged out, so
 * those take effect at once, not at token expiry. The principal goes on the request for
 * `@CurrentPrincipal()`; resource-level rules (tenant, ownership) are the services' job.
 */
@Injectable()
export class AccessTokenGuard implements CanActivate {
  constructor(
    private readonly auth: AuthService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // Only REST exists so far. Any other transport fails closed until its adapter reads its own
    // credentials (gRPC metadata, GraphQL context) here.
    if (context.getType() !== 'http') throw new AppError('FORBIDDEN');
    const access = routeAccessOf(this.reflector, context.getHandler(), context.getClass());
    if (access?.kind === 'public') return true;

    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) throw new AppError('AUTHENTICATION_REQUIRED', { headers: { 'www-authenticate': 'Bearer' } });
    const principal = await this.auth.authenticate(token);
    request.principal = principal;

    // A route without a decision is refused even to admins: test/e2e/route-access.spec.ts should
    // have caught it, and failing closed beats guessing what its author meant.
    if (access === undefined) throw new AppError('FORBIDDEN');
    if (access.kind === 'permissions' && !hasPermissions(principal.permissions, access.permissions)) throw new AppError('FORBIDDEN');
    return true;
  }
}
