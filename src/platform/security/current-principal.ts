import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { AppError } from '../errors/app-error.js';
import type { Principal } from './access-tokens.js';

/** A request an authentication guard has run on. */
export interface AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
  principal?: Principal;
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235). */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return match?.[1];
}

/** The authenticated caller of the route; the route must be behind an authentication guard. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  // Reached only when a route uses the decorator without a guard: fail closed.
  if (!principal) throw new AppError('AUTHENTICATION_REQUIRED', { headers: { 'www-authenticate': 'Bearer' } });
  return principal;
});
