import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { uuidPipe } from '../../platform/errors/validation.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { Authenticated } from '../../platform/security/authorization.decorators.js';
import { CurrentPrincipal } from '../../platform/security/current-principal.js';
import { CreateOrderDto, ListOrdersQueryDto, OrderDto, OrderPageDto } from './orders.dto.js';
import { OrdersService } from './orders.service.js';

@ApiTags('orders')
@ApiBadRequestResponse({ description: 'VALIDATION_FAILED, with one detail per field' })
@Controller('orders')
// Any signed-in user orders and sees its own orders; the service widens that for orders:read and
// orders:cancel holders (organization admins) and hides everything else (404).
@Authenticated()
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  @Post()
  @HttpCode(201)
  @ApiHeader({ name: 'Idempotency-Key', required: true, description: '1-255 printable ASCII characters, unique per order attempt; a retry with the same key and body replays the first response' })
  @ApiCreatedResponse({ type: OrderDto, description: 'Placed: stock reserved, status PENDING until the payment saga confirms or cancels it. A replay carries Idempotent-Replayed: true' })
  @ApiBadRequestResponse({ description: 'IDEMPOTENCY_KEY_REQUIRED or VALIDATION_FAILED' })
  @ApiConflictResponse({ description: 'INSUFFICIENT_INVENTORY (names every short product) or IDEMPOTENCY_KEY_IN_USE (the first request with this key is still running)' })
  @ApiUnprocessableEntityResponse({ description: 'IDEMPOTENCY_KEY_MISMATCH, PRODUCT_UNAVAILABLE or CURRENCY_MISMATCH' })
  async create(
    @CurrentPrincipal() caller: Principal,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Body() body: CreateOrderDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<OrderDto> {
    const result = await this.orders.create(caller, idempotencyKey, body);
    void reply.status(result.status).header('location', `/orders/${result.body.id}`);
    if (result.replayed) void reply.header('idempotent-replayed', 'true');
    return result.body;
  }

  @Get()
  @ApiOkResponse({ type: OrderPageDto, description: "The caller's orders, newest first; with orders:read, every order of its organization" })
  list(@CurrentPrincipal() caller: Principal, @Query() query: ListOrdersQueryDto): Promise<OrderPageDto> {
    return this.orders.list(caller, query);
  }

  @Get(':id')
  @ApiOkResponse({ type: OrderDto })
  @ApiNotFoundResponse({ description: "ORDER_NOT_FOUND, also for another user's order without orders:read, and other organizations' orders" })
  findOne(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<OrderDto> {
    return this.orders.findOne(caller, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOkResponse({ type: OrderDto, description: 'CANCELLED: reservation released; a charge already made is refunded by the saga' })
  @ApiNotFoundResponse({ description: 'ORDER_NOT_FOUND' })
  @ApiConflictResponse({ description: 'ORDER_NOT_CANCELLABLE: the order is CONFIRMED or CANCELLED already' })
  cancel(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<OrderDto> {
    return this.orders.cancel(caller, id);
  }
}
