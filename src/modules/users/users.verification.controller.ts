import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiConflictResponse, ApiNotFoundResponse, ApiTags } from '@nestjs/swagger';
import { uuidPipe } from '../../platform/errors/validation.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { Authenticated } from '../../platform/security/authorization.decorators.js';
import { CurrentPrincipal } from '../../platform/security/current-principal.js';
import { VerificationRequestedDto } from './users.verification.dto.js';
import { EmailVerificationService } from './users.verification.service.js';

@ApiTags('users')
@Controller('users')
export class UsersVerificationController {
  constructor(private readonly verification: EmailVerificationService) {}

  @Post(':id/verify-email')
  // The user itself, or an admin of its organization (decided in the service).
  @Authenticated()
  @HttpCode(202)
  @ApiAcceptedResponse({ type: VerificationRequestedDto, description: 'A single-use verification link is on its way to the user’s address' })
  @ApiNotFoundResponse({ description: 'USER_NOT_FOUND, also for users of other organizations' })
  @ApiConflictResponse({ description: 'EMAIL_ALREADY_VERIFIED' })
  requestVerification(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<VerificationRequestedDto> {
    return this.verification.request(caller, id);
  }
}
