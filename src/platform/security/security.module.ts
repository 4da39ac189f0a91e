import { Global, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '../config/config.schema.js';
import { PROCESS_LOGGER } from '../observability/logger.tokens.js';
import { AccessTokens } from './access-tokens.js';
import { KeyStore } from './key-store.js';
import { LoginThrottle } from './login-throttle.js';
import { PasswordHasher } from './password-hasher.js';
import { PasswordPolicy } from './password-policy.js';

/** Closes the throttle's Redis connection with the application. */
@Injectable()
class SecurityShutdown implements OnApplicationShutdown {
  constructor(private readonly throttle: LoginThrottle) {}

  async onApplicationShutdown(): Promise<void> {
    await this.throttle.close();
  }
}

/**
 * Password hashing and policy, signing keys, access tokens and the login throttle, built once from
 * the configuration. Global, like the rest of platform/, so modules inject them directly.
 */
@Global()
@Module({
  providers: [
    {
      provide: PasswordHasher,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new PasswordHasher({
          memoryCost: config.AUTH_ARGON2_MEMORY_KIB,
          timeCost: config.AUTH_ARGON2_TIME_COST,
          parallelism: config.AUTH_ARGON2_PARALLELISM,
        }, config.AUTH_HASH_CONCURRENCY),
    },
    { provide: PasswordPolicy, useFactory: () => new PasswordPolicy() },
    {
      provide: KeyStore,
      inject: [APP_CONFIG, PROCESS_LOGGER],
      useFactory: (config: AppConfig, logger: Logger) => KeyStore.load(config, logger),
    },
    {
      provide: AccessTokens,
      inject: [KeyStore, APP_CONFIG],
      useFactory: (keys: KeyStore, config: AppConfig) => new AccessTokens(keys, config),
    },
    {
      provide: LoginThrottle,
      inject: [APP_CONFIG, PROCESS_LOGGER],
      useFactory: (config: AppConfig, logger: Logger) => LoginThrottle.create(config, logger),
    },
    SecurityShutdown,
  ],
  exports: [PasswordHasher, PasswordPolicy, KeyStore, AccessTokens, LoginThrottle],
})
export class SecurityModule {}

