import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { AppError } from '../../platform/errors/app-error.js';
import { bearerToken, type AuthenticatedRequest } from '../../platform/security/current-principal.js';
import { AuthService } from './auth.service.js';

/**
 * Requires a valid access token (`Authorization: Bearer`) and puts its principal on the request.
 * Beyond the signature and claims, AuthService checks the user is active, the token version is
 * current and the session is not logged out, so those take effect at once, not at token expiry.
 */
@Injectable()
export class AccessTokenGuard implements CanActivate {
  constructor(private readonly auth: AuthService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) throw new AppError('AUTHENTICATION_REQUIRED', { headers: { 'www-authenticate': 'Bearer' } });
    request.principal = await this.auth.authenticate(token);
    return true;
  }
}
