import { Module } from '@nestjs/common';
import { AccessModule } from '../access/access.module.js';
import { OrganizationsModule } from '../organizations/organizations.module.js';
import { UsersCache } from './users.cache.js';
import { UsersController } from './users.controller.js';
import { UsersRepository } from './users.repository.js';
import { UsersService } from './users.service.js';

@Module({
  imports: [OrganizationsModule, AccessModule],
  controllers: [UsersController],
  providers: [UsersService, UsersRepository, UsersCache],
  exports: [UsersService],
})
export class UsersModule {}
