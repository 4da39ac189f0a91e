import { Module } from '@nestjs/common';
import { AccessModule } from '../access/access.module.js';
import { OrganizationsModule } from '../organizations/organizations.module.js';
import { UsersCache } from './users.cache.js';
import { UsersController } from './users.controller.js';
import { UsersRepository } from './users.repository.js';
import { UsersService } from './users.service.js';
import { UsersVerificationController } from './users.verification.controller.js';
import { VerificationTokensRepository } from './users.verification.repository.js';
import { EmailVerificationService } from './users.verification.service.js';

@Module({
  imports: [OrganizationsModule, AccessModule],
  controllers: [UsersController, UsersVerificationController],
  providers: [UsersService, UsersRepository, UsersCache, EmailVerificationService, VerificationTokensRepository],
  exports: [UsersService, EmailVerificationService],
})
export class UsersModule {}
