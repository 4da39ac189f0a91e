import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import type { DbExecutor } from '../../platform/database/database.service.js';
import type { StockLine } from './products.dto.js';

/** A product joined with its stock, as every read returns it. */
export interface ProductRecord {
  id: string;
  sku: string;
  name: string;
  price: string;
  currency: string;
  active: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
  on_hand: number;
  reserved: number;
}

export interface NewProduct {
  id: string;
  sku: string;
  name: string;
  price: number;
  currency: string;
}

export interface ProductChanges {
  name?: string;
  price?: number;
  active?: boolean;
}


/** Products with their inventory row; a product without one has zero stock. */
function productsWithStock(db: DbExecutor) {
  return db
    .selectFrom('products')
    .leftJoin('inventory', 'inventory.product_id', 'products.id')
    .select([
      'products.id',
      'products.sku',
      'products.name',
      'products.price',
      'products.currency',
      'products.active',
      'products.version',
      'products.created_at',
      'products.updated_at',
      sql<number>`coalesce(inventory.on_hand, 0)`.as('on_hand'),
      sql<number>`coalesce(inventory.reserved, 0)`.as('reserved'),
    ]);
}

@Injectable()
export class ProductsRepository {
  /** Inserts the product and its (empty) inventory row; undefined when the SKU is taken. */
  async insert(db: DbExecutor, product: NewProduct): Promise<ProductRecord | undefined> {
    const inserted = await db.insertInto('products').values(product).onConflict((oc) => oc.column('sku').doNothing()).returning('id').executeTakeFirst();
    if (!inserted) return undefined;
    await db.insertInto('inventory').values({ product_id: product.id }).execute();
    return this.findById(db, product.id);
  }

  findById(db: DbExecutor, id: string): Promise<ProductRecord | undefined> {
    return productsWithStock(db).where('products.id', '=', id).executeTakeFirst();
  }

  /** Active products in (created_at, id) order after the given position. */
  listActive(db: DbExecutor, limit: number, after?: { createdAt: string; id: string }): Promise<ProductRecord[]> {
    let query = productsWithStock(db).where('products.active', '=', true);
    if (after) {
      query = query.where(sql<boolean>`(products.created_at, products.id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)`);
    }
    return query.orderBy('products.created_at').orderBy('products.id').limit(limit).execute();
  }

  /** created_at with all six fractional digits, for a cursor that neither repeats nor skips rows. */
  async createdAtText(db: DbExecutor, id: string): Promise<string | undefined> {
    const row = await db
      .selectFrom('products')
      .select(sql<string>`to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('created_at'))
      .where('id', '=', id)
      .executeTakeFirst();
    return row?.created_at;
  }

  /** Applies the changes and bumps the version; false when no such product. */
  async update(db: DbExecutor, id: string, changes: ProductChanges): Promise<boolean> {
    const result = await db
      .updateTable('products')
      .set({ ...changes, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Sets many prices with one statement (UPDATE ... FROM (VALUES ...)); returns the ids changed.
   * Unchanged prices are skipped so their version and ETag stay.
   */
  async updatePrices(db: DbExecutor, updates: ReadonlyArray<{ productId: string; price: number }>): Promise<string[]> {
    if (updates.length === 0) return [];
    const values = sql.join(updates.map((update) => sql`(${update.productId}::uuid, ${update.price}::bigint)`));
    const result = await sql<{ id: string }>`
      UPDATE products AS p
         SET price = v.price, version = p.version + 1, updated_at = now()
        FROM (VALUES ${values}) AS v(id, price)
       WHERE p.id = v.id AND p.price <> v.price
      RETURNING p.id`.execute(db);
    return result.rows.map((row) => row.id);
  }

  async existingIds(db: DbExecutor, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await db.selectFrom('products').select('id').where('id', 'in', ids).execute();
    return new Set(rows.map((row) => row.id));
  }

  /**
   * Sets on_hand. The CHECK (reserved <= on_hand) refuses a value below what is reserved; the
   * caller turns that 23514 into a client error. Undefined when the product does not exist.
   */
  async setOnHand(db: DbExecutor, productId: string, onHand: number): Promise<{ on_hand: number; reserved: number } | undefined> {
    return db
      .updateTable('inventory')
      .set({ on_hand: onHand, updated_at: sql<Date>`now()` })
      .where('product_id', '=', productId)
      .returning(['on_hand', 'reserved'])
      .executeTakeFirst();
  }

  /** Price, currency, active flag and stock of the given products, in product id order. */
  forOrder(db: DbExecutor, ids: readonly string[]): Promise<ProductRecord[]> {
    return productsWithStock(db).where('products.id', 'in', ids).orderBy('products.id').execute();
  }

  /**
   * Reserves `quantity` units if that many are available; false otherwise. The condition and the
   * CHECK constraints both stand between a race and a negative stock.
   */
  async reserve(db: DbExecutor, line: StockLine): Promise<boolean> {
    const result = await db
      .updateTable('inventory')
      .set({ reserved: sql<number>`reserved + ${line.quantity}`, updated_at: sql<Date>`now()` })
      .where('product_id', '=', line.productId)
      .where(sql<boolean>`on_hand - reserved >= ${line.quantity}`)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Gives reserved units back to the available stock. */
  async release(db: DbExecutor, line: StockLine): Promise<void> {
    await db
      .updateTable('inventory')
      .set({ reserved: sql<number>`reserved - ${line.quantity}`, updated_at: sql<Date>`now()` })
      .where('product_id', '=', line.productId)
      .execute();
  }

  /** Turns reserved units into a sale: they leave both the reservation and the stock on hand. */
  async commitSale(db: DbExecutor, line: StockLine): Promise<void> {
    await db
      .updateTable('inventory')
      .set({ reserved: sql<number>`reserved - ${line.quantity}`, on_hand: sql<number>`on_hand - ${line.quantity}`, updated_at: sql<Date>`now()` })
      .where('product_id', '=', line.productId)
      .execute();
  }
}
