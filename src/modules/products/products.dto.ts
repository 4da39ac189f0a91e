import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { HasNoNulCharacter, IsOptionalNotNull } from '../../platform/errors/validators.js';

/** Largest price in minor units (10 million in a two-decimal currency); keeps totals exact in a double. */
export const MAX_PRICE = 1_000_000_000;
/** Largest stock a product may hold; keeps reserved and on_hand far from integer overflow. */
export const MAX_STOCK = 100_000_000;
export const PRODUCT_PAGE_SIZE = 20;
export const MAX_PRODUCT_PAGE_SIZE = 100;
/** Items per batch price update request; the service applies them in transactions of PRICE_CHUNK_SIZE. */
export const MAX_PRICE_UPDATES = 10_000;

export class CreateProductDto {
  @ApiProperty({ example: 'MUG-001', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' })
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'sku must be 1-64 letters, digits, dots, dashes or underscores' })
  @IsString()
  sku!: string;

  @ApiProperty({ example: 'Coffee mug', minLength: 1, maxLength: 200 })
  @HasNoNulCharacter()
  @Length(1, 200)
  @IsString()
  name!: string;

  @ApiProperty({ example: 1299, description: 'Price in minor units (cents)', minimum: 0, maximum: MAX_PRICE })
  @Max(MAX_PRICE)
  @Min(0)
  @IsInt()
  price!: number;

  @ApiProperty({ example: 'EUR', pattern: '^[A-Z]{3}$', description: 'ISO 4217 currency code' })
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be an ISO 4217 code such as EUR' })
  @IsString()
  currency!: string;
}

export class UpdateProductDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200 })
  @IsOptionalNotNull()
  @HasNoNulCharacter()
  @Length(1, 200)
  @IsString()
  name?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_PRICE })
  @IsOptionalNotNull()
  @Max(MAX_PRICE)
  @Min(0)
  @IsInt()
  price?: number;

  @ApiPropertyOptional({ description: 'Inactive products are hidden from the public catalog and cannot be ordered' })
  @IsOptionalNotNull()
  @IsBoolean()
  active?: boolean;
}

export class PriceUpdateItem {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  productId!: string;

  @ApiProperty({ minimum: 0, maximum: MAX_PRICE })
  @Max(MAX_PRICE)
  @Min(0)
  @IsInt()
  price!: number;
}

export class BatchPriceUpdateDto {
  @ApiProperty({ type: [PriceUpdateItem], maxItems: MAX_PRICE_UPDATES })
  @ValidateNested({ each: true })
  @Type(() => PriceUpdateItem)
  @ArrayMaxSize(MAX_PRICE_UPDATES)
  @ArrayMinSize(1)
  @IsArray()
  updates!: PriceUpdateItem[];
}

export class BatchPriceUpdateResultDto {
  @ApiProperty({ description: 'Products whose price was changed' }) updated!: number;
  @ApiProperty({ description: 'Transactions the update ran in (one per chunk)' }) chunks!: number;
  @ApiProperty({ type: [String], description: 'Ids that name no product; nothing was changed for them' }) notFound!: string[];
}

export class SetInventoryDto {
  @ApiProperty({ minimum: 0, maximum: MAX_STOCK, description: 'Units physically in stock; may not go below what is reserved' })
  @Max(MAX_STOCK)
  @Min(0)
  @IsInt()
  onHand!: number;
}

export class ListProductsQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PRODUCT_PAGE_SIZE, default: PRODUCT_PAGE_SIZE })
  @IsOptional()
  @Type(() => Number)
  @Max(MAX_PRODUCT_PAGE_SIZE)
  @Min(1)
  @IsInt()
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @Length(1, 500)
  @IsString()
  cursor?: string;
}

export class ProductDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() sku!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'Minor units' }) price!: number;
  @ApiProperty() currency!: string;
  @ApiProperty() active!: boolean;
  @ApiProperty({ description: 'Units that can still be ordered: on hand minus reserved' }) available!: number;
  @ApiProperty() version!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class InventoryDto {
  @ApiProperty({ format: 'uuid' }) productId!: string;
  @ApiProperty() onHand!: number;
  @ApiProperty() reserved!: number;
  @ApiProperty() available!: number;
}

export class ProductPageDto {
  @ApiProperty({ type: [ProductDto] }) data!: ProductDto[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as ?cursor= for the next page; null on the last page' })
  nextCursor!: string | null;
}

/** A quantity of one product, as reservations, releases and sales take it. */
export interface StockLine {
  productId: string;
  quantity: number;
}
