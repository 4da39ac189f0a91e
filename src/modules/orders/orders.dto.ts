import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Max, Min, ValidateNested } from 'class-validator';
import type { OrderCancelReason, OrderStatus } from '../../platform/database/database.types.js';

export const ORDER_STATUSES: readonly OrderStatus[] = ['PENDING', 'CONFIRMED', 'CANCELLED'];
export const MAX_ORDER_LINES = 50;
export const MAX_LINE_QUANTITY = 1000;
export const ORDER_PAGE_SIZE = 20;

export class OrderItemInput {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  productId!: string;

  @ApiProperty({ minimum: 1, maximum: MAX_LINE_QUANTITY, example: 1 })
  @Max(MAX_LINE_QUANTITY)
  @Min(1)
  @IsInt()
  quantity!: number;
}

/** Only what is ordered: prices and totals come from the catalog, never from the client. */
export class CreateOrderDto {
  @ApiProperty({ type: [OrderItemInput], minItems: 1, maxItems: MAX_ORDER_LINES })
  @ValidateNested({ each: true })
  @Type(() => OrderItemInput)
  @ArrayMaxSize(MAX_ORDER_LINES)
  @ArrayMinSize(1)
  @IsArray()
  items!: OrderItemInput[];
}

export class ListOrdersQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: ORDER_PAGE_SIZE })
  @IsOptional()
  @Type(() => Number)
  @Max(100)
  @Min(1)
  @IsInt()
  limit?: number;

  @ApiPropertyOptional({ enum: ORDER_STATUSES })
  @IsOptional()
  @IsIn(ORDER_STATUSES)
  status?: OrderStatus;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @Length(1, 500)
  @IsString()
  cursor?: string;
}

export class OrderItemDto {
  @ApiProperty({ format: 'uuid' }) productId!: string;
  @ApiProperty() quantity!: number;
  @ApiProperty({ description: 'Catalog price when the order was placed, minor units' }) unitPrice!: number;
  @ApiProperty({ description: 'unitPrice x quantity' }) lineTotal!: number;
}

export class OrderDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) userId!: string;
  @ApiProperty({ format: 'uuid', type: String, nullable: true }) organizationId!: string | null;
  @ApiProperty({ enum: ORDER_STATUSES, description: 'PENDING until the payment saga confirms or cancels it' }) status!: OrderStatus;
  @ApiProperty() currency!: string;
  @ApiProperty({ description: 'Sum of the line totals, computed by the server, minor units' }) total!: number;
  @ApiProperty({ type: String, nullable: true }) paymentId!: string | null;
  @ApiProperty({ type: String, nullable: true, enum: ['payment_declined', 'payment_failed', 'cancelled_by_user', 'cancelled_by_admin'] })
  cancelReason!: OrderCancelReason | null;
  @ApiProperty({ type: [OrderItemDto] }) items!: OrderItemDto[];
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class OrderPageDto {
  @ApiProperty({ type: [OrderDto] }) data!: OrderDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}
