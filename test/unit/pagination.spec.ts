import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/platform/errors/app-error.js';
import { decodeCursor, encodeCursor } from '../../src/platform/database/pagination.js';

const position = { sort: 'createdAt', direction: 'desc' as const, value: '2026-11-28T10:00:00.000Z', id: '01900000-0000-7000-8000-000000000000' };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof AppError ? error.code : 'not an AppError';
  }
}

describe('keyset cursors', () => {
  it('round-trips a position and is URL safe', () => {
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, 'createdAt', 'desc')).toEqual(position);
  });

  it('refuses a cursor made for another sort or direction', () => {
    const cursor = encodeCursor(position);
    expect(codeOf(() => decodeCursor(cursor, 'email', 'desc'))).toBe('INVALID_CURSOR');
    expect(codeOf(() => decodeCursor(cursor, 'createdAt', 'asc'))).toBe('INVALID_CURSOR');
  });

  it.each([
    ['not base64 json', 'not-a-cursor'],
    ['json of the wrong shape', Buffer.from('{"a":1}').toString('base64url')],
    ['non-uuid id', Buffer.from(JSON.stringify(['createdAt', 'desc', 'x', "1' OR '1'='1"])).toString('base64url')],
    ['number instead of string', Buffer.from(JSON.stringify(['createdAt', 'desc', 5, position.id])).toString('base64url')],
    ['oversized value', Buffer.from(JSON.stringify(['createdAt', 'desc', 'x'.repeat(2000), position.id])).toString('base64url')],
  ])('refuses %s with INVALID_CURSOR', (_label, cursor) => {
    expect(codeOf(() => decodeCursor(cursor, 'createdAt', 'desc'))).toBe('INVALID_CURSOR');
  });
});
