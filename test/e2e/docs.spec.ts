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
      [
        '/.well-known/jwks.json',
        '/auth/login',
        '/auth/logout',
        '/auth/logout-all',
        '/auth/me',
        '/auth/password',
        '/auth/refresh',
        '/auth/register',
        '/auth/verify-email',
        '/admin/campaigns',
        '/admin/jobs/{queue}/dead-letters',
        '/admin/jobs/{queue}/dead-letters/redrive',
        '/admin/jobs/{queue}/{id}',
        '/exports',
        '/exports/{id}',
        '/exports/{id}/download',
        '/notifications',
        '/notifications/{id}/read',
        '/users/{id}/verify-email',
        '/health',
        '/health/live',
        '/health/ready',
        '/organizations',
        '/organizations/{id}',
        '/organizations/{id}/stats',
        '/orders',
        '/orders/{id}',
        '/orders/{id}/cancel',
        '/products',
        '/products/prices',
        '/products/{id}',
        '/products/{id}/inventory',
        '/users',
        '/users/batch',
        '/users/lookup',
        '/users/{id}',
      ].sort(),
    );
    expect(Object.keys(doc.paths['/users/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
    expect(doc.paths['/users/{id}']?.get?.responses).toHaveProperty('404');
    expect(doc.paths['/users/batch']?.post?.responses).toHaveProperty('207');
  });

  it('declares the bearer scheme and puts it on exactly the routes that need an access token', async () => {
    type Operation = { security?: Array<Record<string, unknown>>; responses: Record<string, unknown> };
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, Record<string, Operation>>;
      components: { securitySchemes?: Record<string, { type: string; scheme: string; bearerFormat: string }> };
    }>();
    expect(doc.components.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    const secured = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.security?.some((requirement) => 'bearer' in requirement))
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    // Everything but the deliberately public routes (see test/e2e/route-access.spec.ts).
    expect(secured.sort()).toEqual(
      [
        'GET /auth/me',
        'POST /auth/logout-all',
        'POST /auth/password',
        'GET /users',
        'POST /users',
        'POST /users/batch',
        'GET /users/lookup',
        'GET /users/{id}',
        'PATCH /users/{id}',
        'DELETE /users/{id}',
        'POST /organizations',
        'GET /organizations/{id}',
        'GET /organizations/{id}/stats',
        'POST /products',
        'PATCH /products/prices',
        'PATCH /products/{id}',
        'PUT /products/{id}/inventory',
        'GET /orders',
        'POST /orders',
        'GET /orders/{id}',
        'POST /orders/{id}/cancel',
        'GET /admin/jobs/{queue}/dead-letters',
        'GET /admin/jobs/{queue}/{id}',
        'POST /admin/jobs/{queue}/dead-letters/redrive',
        'POST /admin/campaigns',
        'POST /exports',
        'GET /exports/{id}',
        'GET /exports/{id}/download',
        'GET /notifications',
        'POST /notifications/{id}/read',
        'POST /users/{id}/verify-email',
      ].sort(),
    );
    // A route that needs a permission documents both refusals.
    expect(doc.paths['/users']?.post?.responses).toHaveProperty('401');
    expect(doc.paths['/users']?.post?.responses).toHaveProperty('403');
  });
});
