import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { OrganizationsModule } from '../organizations/organizations.module.js';
import { UsersModule } from '../users/users.module.js';
import { AuthController, JwksController } from './auth.controller.js';
import { AccessTokenGuard } from './auth.guard.js';
import { AuthRepository } from './auth.repository.js';
import { AuthService } from './auth.service.js';

@Module({
  imports: [UsersModule, OrganizationsModule],
  controllers: [AuthController, JwksController],
  // Global: every route of every module is authenticated unless marked @Public().
  providers: [AuthService, AuthRepository, { provide: APP_GUARD, useClass: AccessTokenGuard }],
  exports: [AuthService],
})
export class AuthModule {}
