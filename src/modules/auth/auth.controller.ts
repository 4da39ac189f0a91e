import { Body, Controller, Get, Header, HttpCode, Post, Req } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { HttpCache } from '../../platform/http-cache/http-cache.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { Authenticated } from '../../platform/security/authorization.decorators.js';
import { CurrentPrincipal } from '../../platform/security/current-principal.js';
import { Public } from '../../platform/security/public.decorator.js';
import { UserDto } from '../users/users.dto.js';
import { EmailVerifiedDto, VerifyEmailDto } from '../users/users.verification.dto.js';
import {
  AuthSessionDto,
  ChangePasswordDto,
  JwksDto,
  LoginDto,
  RefreshTokenDto,
  RegisterDto,
  TokenPairDto,
  type ClientInfo,
} from './auth.dto.js';
import { AuthService } from './auth.service.js';

/** The socket's address (no proxy header is trusted) and the user agent. */
function clientOf(request: FastifyRequest): ClientInfo {
  const userAgent = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof userAgent === 'string' ? userAgent : null };
}

@ApiTags('auth')
@ApiBadRequestResponse({ description: 'VALIDATION_FAILED, with one detail per field' })
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  // Public on purpose: register and login are how a caller gets a token in the first place.
  @Public()
  @HttpCode(201)
  @Header('cache-control', 'no-store')
  @ApiCreatedResponse({ type: AuthSessionDto, description: 'An active user in the default organization, signed in' })
  @ApiBadRequestResponse({ description: 'WEAK_PASSWORD or VALIDATION_FAILED' })
  @ApiConflictResponse({ description: 'DUPLICATE_EMAIL' })
  register(@Body() body: RegisterDto, @Req() request: FastifyRequest): Promise<AuthSessionDto> {
    return this.auth.register(body, clientOf(request));
  }

  @Post('login')
  @Public()
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  @ApiOkResponse({ type: AuthSessionDto })
  @ApiUnauthorizedResponse({ description: 'INVALID_CREDENTIALS, the same for an unknown email and a wrong password' })
  @ApiForbiddenResponse({ description: 'ACCOUNT_INACTIVE (only with the right password)' })
  @ApiTooManyRequestsResponse({ description: 'TOO_MANY_ATTEMPTS, with Retry-After' })
  login(@Body() body: LoginDto, @Req() request: FastifyRequest): Promise<AuthSessionDto> {
    return this.auth.login(body, clientOf(request));
  }

  @Post('refresh')
  // Public on purpose: the refresh token in the body is the credential.
  @Public()
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  @ApiOkResponse({ type: TokenPairDto, description: 'A new pair; the refresh token sent is retired' })
  @ApiUnauthorizedResponse({ description: 'TOKEN_INVALID, or TOKEN_REUSED (the session is revoked)' })
  refresh(@Body() body: RefreshTokenDto, @Req() request: FastifyRequest): Promise<TokenPairDto> {
    return this.auth.refresh(body.refreshToken, clientOf(request));
  }

  @Post('logout')
  // Public on purpose: the refresh token in the body is the credential, and a client whose access
  // token already expired must still be able to end its session.
  @Public()
  @HttpCode(204)
  @ApiNoContentResponse({ description: "This device's session ends: its refresh tokens and access tokens stop working" })
  async logout(@Body() body: RefreshTokenDto, @Req() request: FastifyRequest): Promise<void> {
    await this.auth.logout(body.refreshToken, clientOf(request));
  }

  @Post('logout-all')
  @Authenticated()
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Every session of the caller ends, and every access token it holds stops working' })
  async logoutAll(@CurrentPrincipal() principal: Principal, @Req() request: FastifyRequest): Promise<void> {
    await this.auth.logoutAll(principal, clientOf(request));
  }

  @Post('password')
  // Above @Authenticated() so this fuller 401 description replaces its generic one.
  @ApiUnauthorizedResponse({ description: 'INVALID_CREDENTIALS (wrong current password), AUTHENTICATION_REQUIRED or TOKEN_INVALID' })
  @Authenticated()
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  @ApiOkResponse({ type: AuthSessionDto, description: 'Every other session is revoked; this is a fresh one' })
  @ApiBadRequestResponse({ description: 'WEAK_PASSWORD or VALIDATION_FAILED' })
  @ApiTooManyRequestsResponse({ description: 'TOO_MANY_ATTEMPTS, with Retry-After' })
  changePassword(@CurrentPrincipal() principal: Principal, @Body() body: ChangePasswordDto, @Req() request: FastifyRequest): Promise<AuthSessionDto> {
    return this.auth.changePassword(principal, body, clientOf(request));
  }

  @Get('me')
  @Authenticated()
  @ApiOkResponse({ type: UserDto })
  me(@CurrentPrincipal() principal: Principal): Promise<UserDto> {
    return this.auth.me(principal);
  }

  @Post('verify-email')
  // Public on purpose: the single-use token from the emailed link is the credential, and the link
  // may be opened on a device where the user is not signed in.
  @Public()
  @HttpCode(200)
  @ApiOkResponse({ type: EmailVerifiedDto, description: 'The address the token was sent to is verified' })
  @ApiBadRequestResponse({ description: 'VERIFICATION_TOKEN_INVALID (unknown token, or the address changed since) or VALIDATION_FAILED' })
  @ApiConflictResponse({ description: 'VERIFICATION_TOKEN_USED' })
  @ApiResponse({ status: 410, description: 'VERIFICATION_TOKEN_EXPIRED' })
  verifyEmail(@Body() body: VerifyEmailDto): Promise<EmailVerifiedDto> {
    return this.auth.verifyEmail(body.token);
  }
}

@ApiTags('auth')
@Controller('.well-known')
export class JwksController {
  constructor(private readonly auth: AuthService) {}

  @Get('jwks.json')
  // Public on purpose: public keys, fetched by verifiers that hold no token of ours.
  @Public()
  // Verifiers cache the key set; a new key is published at least this long before it signs.
  @HttpCache({ scope: 'public', maxAgeSeconds: 300 })
  @ApiOkResponse({ type: JwksDto, description: 'Public keys that verify access tokens (no private parts)' })
  jwks(): JwksDto {
    return this.auth.jwks();
  }
}
