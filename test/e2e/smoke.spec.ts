import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates and reads a user', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/users', payload: { email: 'ada@example.com', name: 'Ada' } });
    expect(created.statusCode).toBe(201);
    const id = created.json<{ id: string }>().id;
    const read = await t.app.inject({ method: 'GET', url: `/users/${id}` });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ id, email: 'ada@example.com' });
    const rows = await t.sql.query('SELECT email FROM users WHERE id <> $1', [t.admin.id]);
    expect(rows.rows).toEqual([{ email: 'ada@example.com' }]);
  });
});
