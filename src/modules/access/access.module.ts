import { Module } from '@nestjs/common';
import { AccessRepository } from './access.repository.js';
import { ResourceAccessService } from './access.service.js';

/** Resource-level authorization shared by every module that guards its own resources. */
@Module({
  providers: [ResourceAccessService, AccessRepository],
  exports: [ResourceAccessService],
})
export class AccessModule {}
