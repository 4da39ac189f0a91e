import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

describe('OpenAPI documentation', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves the Swagger UI at /docs', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('swagger-ui');
  });

  it('serves at /docs/json exactly the contract committed in contracts/openapi.json', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const committed: unknown = JSON.parse(await readFile('contracts/openapi.json', 'utf8'));
    expect(res.json()).toEqual(committed);
  });

  it('documents every users and organizations route with its error responses', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>();
    expect(Object.keys(doc.paths).sort()).toEqual(
      ['/health', '/health/live', '/health/ready', '/organizations', '/organizations/{id}', '/organizations/{id}/stats', '/users', '/users/batch', '/users/{id}'].sort(),
    );
    expect(Object.keys(doc.paths['/users/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
    expect(doc.paths['/users/{id}']?.get?.responses).toHaveProperty('404');
    expect(doc.paths['/users/batch']?.post?.responses).toHaveProperty('207');
  });
});
