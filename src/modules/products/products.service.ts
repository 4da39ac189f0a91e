import { Injectable } from '@nestjs/common';
import type { Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { DatabaseService } from '../../platform/database/database.service.js';
import type { Database } from '../../platform/database/database.types.js';
import { decodeCursor, encodeCursor } from '../../platform/database/pagination.js';
import { sqlstateOf } from '../../platform/database/transaction.js';
import { AppError } from '../../platform/errors/app-error.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { ResourceAccessService } from '../access/access.service.js';
import {
  PRODUCT_PAGE_SIZE,
  type BatchPriceUpdateDto,
  type BatchPriceUpdateResultDto,
  type CreateProductDto,
  type InventoryDto,
  type ListProductsQueryDto,
  type ProductDto,
  type ProductPageDto,
  type SetInventoryDto,
  type StockLine,
  type UpdateProductDto,
} from './products.dto.js';
import { ProductsRepository, type ProductRecord } from './products.repository.js';

/** Prices changed per transaction by the batch update: short transactions, few round trips. */
export const PRICE_CHUNK_SIZE = 500;

function toDto(row: ProductRecord): ProductDto {
  return {
    id: row.id,
    sku: row.sku,
    name: row.name,
    price: Number(row.price),
    currency: row.currency,
    active: row.active,
    available: row.on_hand - row.reserved,
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

const productNotFound = (): AppError => new AppError('PRODUCT_NOT_FOUND');

/** Lines in product id order: every transaction touching several inventory rows locks them in this order. */
function byProduct<T extends StockLine>(lines: readonly T[]): T[] {
  return [...lines].sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
}

/** One order line priced from the catalog. */
export interface PricedLine {
  productId: string;
  quantity: number;
  unitPrice: number;
  lineTotal: number;
}

/** What quoting an order's lines came to; `reserved` means priced and in stock, ready for reserve(). */
export type ReservationOutcome =
  | { kind: 'reserved'; currency: string; total: number; lines: PricedLine[] }
  | { kind: 'unavailable'; productIds: string[] }
  | { kind: 'currency-mismatch'; currencies: string[] }
  | { kind: 'insufficient'; shortages: Array<{ productId: string; requested: number; available: number }> };

/**
 * The catalog and its stock. Anyone may read active products; changing them needs
 * `products:manage` (the operator's admins: the catalog is one for the whole platform).
 * Orders reserve, release and sell stock through the methods taking a transaction.
 */
@Injectable()
export class ProductsService {
  constructor(
    private readonly database: DatabaseService,
    private readonly products: ProductsRepository,
    private readonly access: ResourceAccessService,
  ) {}

  private assertManager(caller: Principal): void {
    if (!this.access.holds(caller, 'products:manage')) throw new AppError('FORBIDDEN');
  }

  async create(caller: Principal, input: CreateProductDto): Promise<ProductDto> {
    this.assertManager(caller);
    const row = await this.database.transaction((trx) =>
      this.products.insert(trx, { id: uuidv7(), sku: input.sku, name: input.name, price: input.price, currency: input.currency }),
    );
    if (!row) throw new AppError('DUPLICATE_SKU', { details: [{ field: 'sku', message: 'sku is already used by another product' }] });
    return toDto(row);
  }

  async update(caller: Principal, id: string, input: UpdateProductDto): Promise<ProductDto> {
    this.assertManager(caller);
    const row = await this.database.transaction(async (trx) => {
      if (!(await this.products.update(trx, id, input))) return undefined;
      return this.products.findById(trx, id);
    });
    if (!row) throw productNotFound();
    return toDto(row);
  }

  /**
   * The guideline's batchUpdate: many prices, applied in chunks of PRICE_CHUNK_SIZE, each chunk one
   * short transaction with one UPDATE ... FROM (VALUES ...). A failing chunk rolls back alone;
   * earlier chunks stay applied (the response says how many). Unknown ids are reported, not fatal.
   */
  async batchUpdatePrices(caller: Principal, input: BatchPriceUpdateDto): Promise<BatchPriceUpdateResultDto> {
    this.assertManager(caller);
    const seen = new Set<string>();
    input.updates.forEach((update, index) => {
      if (seen.has(update.productId)) {
        throw AppError.validation([{ field: `updates[${index}].productId`, message: 'productId appears more than once' }]);
      }
      seen.add(update.productId);
    });
    const existing = await this.products.existingIds(this.database.db, [...seen]);
    const known = input.updates.filter((update) => existing.has(update.productId));
    let updated = 0;
    let chunks = 0;
    for (let start = 0; start < known.length; start += PRICE_CHUNK_SIZE) {
      const chunk = known.slice(start, start + PRICE_CHUNK_SIZE);
      updated += (await this.database.transaction((trx) => this.products.updatePrices(trx, chunk))).length;
      chunks += 1;
    }
    return { updated, chunks, notFound: input.updates.filter((update) => !existing.has(update.productId)).map((update) => update.productId) };
  }

  async setInventory(caller: Principal, id: string, input: SetInventoryDto): Promise<InventoryDto> {
    this.assertManager(caller);
    let row: { on_hand: number; reserved: number } | undefined;
    try {
      row = await this.products.setOnHand(this.database.db, id, input.onHand);
    } catch (error) {
      // inventory_reserved_within_on_hand: stock may not drop below what open orders hold.
      if (sqlstateOf(error) === '23514') {
        throw new AppError('INVENTORY_BELOW_RESERVED', { details: [{ field: 'onHand', message: 'onHand may not be below the units reserved by open orders' }] });
      }
      throw error;
    }
    if (!row) throw productNotFound();
    return { productId: id, onHand: row.on_hand, reserved: row.reserved, available: row.on_hand - row.reserved };
  }

  /** The public catalog: active products, keyset-paged by creation. */
  async list(query: ListProductsQueryDto): Promise<ProductPageDto> {
    const limit = query.limit ?? PRODUCT_PAGE_SIZE;
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, 'createdAt', 'asc');
    const rows = await this.products.listActive(this.database.db, limit + 1, after && { createdAt: after.value, id: after.id });
    const page = rows.slice(0, limit);
    let nextCursor: string | null = null;
    const last = page.at(-1);
    if (rows.length > limit && last) {
      const createdAt = await this.products.createdAtText(this.database.db, last.id);
      if (createdAt !== undefined) nextCursor = encodeCursor({ sort: 'createdAt', direction: 'asc', value: createdAt, id: last.id });
    }
    return { data: page.map(toDto), nextCursor };
  }

  /** One active product; inactive and unknown ones are PRODUCT_NOT_FOUND alike. */
  async findPublic(id: string): Promise<ProductDto> {
    const row = await this.products.findById(this.database.db, id);
    if (!row || !row.active) throw productNotFound();
    return toDto(row);
  }

  /**
   * Prices the lines from the catalog and checks their stock, inside the caller's transaction,
   * without writing. Every line is checked, so a shortage names every short product. The caller
   * reserves with reserve() as late as it can: the reservation is the write concurrent orders of
   * the same product collide on, and its row lock is held from that UPDATE until the commit.
   */
  async quote(trx: Transaction<Database>, lines: readonly StockLine[]): Promise<ReservationOutcome> {
    const ordered = byProduct(lines);
    const rows = await this.products.forOrder(
      trx,
      ordered.map((line) => line.productId),
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    const unavailable = ordered.filter((line) => !byId.get(line.productId)?.active).map((line) => line.productId);
    if (unavailable.length > 0) return { kind: 'unavailable', productIds: unavailable };
    const currencies = [...new Set(rows.map((row) => row.currency))];
    if (currencies.length > 1) return { kind: 'currency-mismatch', currencies };
    const shortages = ordered
      .map((line) => {
        const row = byId.get(line.productId)!;
        return { productId: line.productId, requested: line.quantity, available: row.on_hand - row.reserved };
      })
      .filter((shortage) => shortage.available < shortage.requested);
    if (shortages.length > 0) return { kind: 'insufficient', shortages };
    const priced = ordered.map((line) => {
      const unitPrice = Number(byId.get(line.productId)!.price);
      return { productId: line.productId, quantity: line.quantity, unitPrice, lineTotal: unitPrice * line.quantity };
    });
    return { kind: 'reserved', currency: currencies[0]!, total: priced.reduce((sum, line) => sum + line.lineTotal, 0), lines: priced };
  }

  /**
   * Reserves the quoted lines, in product id order so concurrent orders lock rows in the same order.
   * Under SERIALIZABLE a concurrent reservation of the same product makes this fail with 40001 (the
   * whole transaction is retried); the condition and the CHECKs still stand guard, and a line that
   * no longer fits throws, rolling back the lines reserved before it.
   */
  async reserve(trx: Transaction<Database>, lines: readonly StockLine[]): Promise<void> {
    for (const line of byProduct(lines)) {
      if (!(await this.products.reserve(trx, line))) {
        throw new AppError('INSUFFICIENT_INVENTORY', { details: [{ field: 'items', message: `product ${line.productId}: requested ${line.quantity}, no longer available` }] });
      }
    }
  }

  /** Returns reserved units to the available stock (an order cancelled before it was paid). */
  async releaseReservation(trx: Transaction<Database>, lines: readonly StockLine[]): Promise<void> {
    for (const line of byProduct(lines)) await this.products.release(trx, line);
  }

  /** Turns an order's reservation into a sale (the order was paid). */
  async commitSale(trx: Transaction<Database>, lines: readonly StockLine[]): Promise<void> {
    for (const line of byProduct(lines)) await this.products.commitSale(trx, line);
  }
}
