import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import type { Logger } from 'pino';
import { AuthModule } from './modules/auth/auth.module.js';
import { ExportsModule } from './modules/exports/exports.module.js';
import { NotificationsModule } from './modules/notifications/notifications.module.js';
import { OrdersModule } from './modules/orders/orders.module.js';
import { OrganizationsModule } from './modules/organizations/organizations.module.js';
import { ProductsModule } from './modules/products/products.module.js';
import { UsersModule } from './modules/users/users.module.js';
import type { AppConfig } from './platform/config/config.schema.js';
import { RestExceptionFilter } from './platform/errors/rest-exception.filter.js';
import { createValidationPipe } from './platform/errors/validation.js';
import { EventsModule } from './platform/events/events.module.js';
import { PlatformModule } from './platform/platform.module.js';

/** The composition root: platform, business modules, and the global pipe and filter. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forRoot(config, logger), EventsModule, OrganizationsModule, UsersModule, AuthModule, NotificationsModule, ExportsModule, ProductsModule, OrdersModule],
      providers: [
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: RestExceptionFilter },
      ],
    };
  }
}
