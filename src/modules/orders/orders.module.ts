import { Module } from '@nestjs/common';
import { AccessModule } from '../access/access.module.js';
import { PaymentsModule } from '../payments/payments.module.js';
import { ProductsModule } from '../products/products.module.js';
import { OrdersController } from './orders.controller.js';
import { OrdersMetrics } from './orders.metrics.js';
import { OrdersRepository } from './orders.repository.js';
import { OrderSaga } from './orders.saga.js';
import { OrdersService } from './orders.service.js';

@Module({
  imports: [AccessModule, ProductsModule, PaymentsModule],
  controllers: [OrdersController],
  providers: [OrdersService, OrdersRepository, OrdersMetrics, OrderSaga],
  exports: [OrdersService],
})
export class OrdersModule {}
