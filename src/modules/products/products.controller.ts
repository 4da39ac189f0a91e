import { Body, Controller, Get, Headers, HttpCode, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { createHash } from 'node:crypto';
import { uuidPipe } from '../../platform/errors/validation.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { RequirePermissions } from '../../platform/security/authorization.decorators.js';
import { CurrentPrincipal } from '../../platform/security/current-principal.js';
import { Public } from '../../platform/security/public.decorator.js';
import {
  BatchPriceUpdateDto,
  BatchPriceUpdateResultDto,
  CreateProductDto,
  InventoryDto,
  ListProductsQueryDto,
  ProductDto,
  ProductPageDto,
  SetInventoryDto,
  UpdateProductDto,
} from './products.dto.js';
import { ProductsService } from './products.service.js';

/**
 * Shared caches may keep catalog reads briefly; stock (`available`) moves, so the window is short
 * and revalidation with the ETag is cheap (304, no body).
 */
const CATALOG_CACHE_CONTROL = 'public, max-age=10, stale-while-revalidate=30';

/** A strong ETag over the exact body sent: any change (price, stock, name) changes it. */
function etagOf(body: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
}

/** Whether an If-None-Match header names `etag` (or is `*`); weak comparison as RFC 9110 says for it. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}

/** Sends a cacheable read: ETag and Cache-Control, or 304 when the client's copy is current. */
function cacheable<T>(reply: FastifyReply, ifNoneMatch: string | undefined, body: T): T | undefined {
  const etag = etagOf(body);
  void reply.header('etag', etag).header('cache-control', CATALOG_CACHE_CONTROL);
  if (matches(ifNoneMatch, etag)) {
    void reply.status(304);
    return undefined;
  }
  return body;
}

@ApiTags('products')
@ApiBadRequestResponse({ description: 'VALIDATION_FAILED, with one detail per field' })
@Controller('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  @Get()
  // The catalog is the shop window: readable by anyone, cacheable by shared caches.
  @Public()
  @ApiHeader({ name: 'If-None-Match', required: false })
  @ApiOkResponse({ type: ProductPageDto, description: 'Active products, oldest first. Sent with ETag and Cache-Control: public' })
  @ApiResponse({ status: 304, description: 'If-None-Match names the current ETag' })
  async list(
    @Query() query: ListProductsQueryDto,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProductPageDto | undefined> {
    return cacheable(reply, ifNoneMatch, await this.products.list(query));
  }

  @Get(':id')
  @Public()
  @ApiHeader({ name: 'If-None-Match', required: false })
  @ApiOkResponse({ type: ProductDto, description: 'Sent with ETag and Cache-Control: public' })
  @ApiResponse({ status: 304, description: 'If-None-Match names the current ETag' })
  @ApiNotFoundResponse({ description: 'PRODUCT_NOT_FOUND, also for inactive products' })
  async findOne(
    @Param('id', uuidPipe) id: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProductDto | undefined> {
    return cacheable(reply, ifNoneMatch, await this.products.findPublic(id));
  }

  @Post()
  @RequirePermissions('products:manage')
  @HttpCode(201)
  @ApiCreatedResponse({ type: ProductDto, description: 'Created with no stock; set it with PUT /products/{id}/inventory' })
  @ApiConflictResponse({ description: 'DUPLICATE_SKU' })
  create(@CurrentPrincipal() caller: Principal, @Body() body: CreateProductDto): Promise<ProductDto> {
    return this.products.create(caller, body);
  }

  @Patch('prices')
  @RequirePermissions('products:manage')
  @ApiOkResponse({ type: BatchPriceUpdateResultDto, description: 'Applied in chunks, one transaction each' })
  batchUpdatePrices(@CurrentPrincipal() caller: Principal, @Body() body: BatchPriceUpdateDto): Promise<BatchPriceUpdateResultDto> {
    return this.products.batchUpdatePrices(caller, body);
  }

  @Patch(':id')
  @RequirePermissions('products:manage')
  @ApiOkResponse({ type: ProductDto })
  @ApiNotFoundResponse({ description: 'PRODUCT_NOT_FOUND' })
  update(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string, @Body() body: UpdateProductDto): Promise<ProductDto> {
    return this.products.update(caller, id, body);
  }

  @Put(':id/inventory')
  @RequirePermissions('products:manage')
  @ApiOkResponse({ type: InventoryDto })
  @ApiNotFoundResponse({ description: 'PRODUCT_NOT_FOUND' })
  @ApiConflictResponse({ description: 'INVENTORY_BELOW_RESERVED' })
  setInventory(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string, @Body() body: SetInventoryDto): Promise<InventoryDto> {
    return this.products.setInventory(caller, id, body);
  }
}
