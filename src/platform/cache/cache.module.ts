import { Global, Module } from '@nestjs/common';
import { CacheService } from './cache.service.js';

/** The two-tier cache, one per application; global like the rest of platform/. */
@Global()
@Module({
  providers: [CacheService],
  exports: [CacheService],
})
export class CacheModule {}
