import { AppError } from '../errors/app-error.js';

/** Position after the last row of a page, for keyset pagination on (sortValue, id). */
export interface KeysetPosition {
  sort: string;
  direction: 'asc' | 'desc';
  value: string;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Cursors are opaque to clients: base64url of a small JSON document. */
export function encodeCursor(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([position.sort, position.direction, position.value, position.id])).toString('base64url');
}

/**
 * Decodes a cursor and checks it belongs to the requested sort. Every value is still passed to SQL
 * as a parameter; these checks only turn a tampered cursor into a 400 instead of a SQL error.
 */
export function decodeCursor(cursor: string, expectedSort: string, expectedDirection: 'asc' | 'desc'): KeysetPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new AppError('INVALID_CURSOR');
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 4 ||
    !parsed.every((part) => typeof part === 'string') ||
    parsed[0] !== expectedSort ||
    parsed[1] !== expectedDirection ||
    !UUID.test(parsed[3] as string) ||
    (parsed[2] as string).length > 1000
  ) {
    throw new AppError('INVALID_CURSOR');
  }
  const [sort, direction, value, id] = parsed as [string, 'asc' | 'desc', string, string];
  return { sort, direction, value, id };
}

/** Page size bounds shared by every list endpoint. */
export const PAGE_SIZE = { default: 20, max: 100 } as const;
