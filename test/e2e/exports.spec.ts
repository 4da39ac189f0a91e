import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorJson } from '../helpers/api.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/jobs.js';
import { createPrincipal } from '../helpers/principals.js';

// A gc() handle without --expose-gc, so the memory check measures what is retained, not garbage
// waiting for the next collection.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface ExportJson {
  id: string;
  status: string;
  progress: number;
  rowCount: number;
  downloadUrl: string | null;
}

describe('data exports (POST /exports, progress, owner-only download)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    await t.sql.query(`INSERT INTO users (id, email, name, status, organization_id)
      VALUES (gen_random_uuid(), 'small-1@export.test', 'Small, "One"', 'active', (SELECT id FROM organizations WHERE slug = 'default')),
             (gen_random_uuid(), 'small-2@export.test', '=cmd()', 'inactive', (SELECT id FROM organizations WHERE slug = 'default'))`);
  });
  afterAll(async () => {
    await t?.close();
  });

  const awaitCompleted = (id: string, timeoutMs = 30_000): Promise<ExportJson> =>
    waitFor(async () => {
      const body = (await t.app.inject({ method: 'GET', url: `/exports/${id}` })).json<ExportJson>();
      return body.status === 'completed' ? body : undefined;
    }, 'the export to complete', timeoutMs);

  it('exports matching users as CSV (escaped, formula-safe) and as JSONL', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/exports', payload: { resource: 'users', format: 'csv', filters: { email: 'small-' } } });
    expect(created.statusCode).toBe(202);
    const { id } = created.json<ExportJson>();
    expect(created.headers.location).toBe(`/exports/${id}`);
    const done = await awaitCompleted(id);
    expect(done).toMatchObject({ progress: 100, rowCount: 2, downloadUrl: `/exports/${id}/download` });
    const file = await t.app.inject({ method: 'GET', url: `/exports/${id}/download` });
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toMatch(/^text\/csv/);
    const lines = file.body.trimEnd().split('\n');
    expect(lines[0]).toBe('id,email,name,status,role,organizationId,emailVerifiedAt,createdAt');
    expect(lines).toHaveLength(3);
    expect(file.body).toContain('"Small, ""One"""');
    expect(file.body).toContain(",'=cmd(),");

    const jsonl = await t.app.inject({ method: 'POST', url: '/exports', payload: { resource: 'users', format: 'jsonl', filters: { email: 'small-', status: 'active' } } });
    const jsonlDone = await awaitCompleted(jsonl.json<ExportJson>().id);
    expect(jsonlDone.rowCount).toBe(1);
    const jsonlFile = await t.app.inject({ method: 'GET', url: `/exports/${jsonlDone.id}/download` });
    expect(JSON.parse(jsonlFile.body.trim())).toMatchObject({ email: 'small-1@export.test', status: 'active' });
  });

  it("serves an export to its owner only, and refuses bad input", async () => {
    const created = await t.app.inject({ method: 'POST', url: '/exports', payload: { resource: 'users', format: 'csv' } });
    const { id } = created.json<ExportJson>();
    const moderator = await createPrincipal(t.app, t.sql, { role: 'moderator' });
    for (const url of [`/exports/${id}`, `/exports/${id}/download`]) {
      const res = await t.app.inject({ method: 'GET', url, headers: moderator.headers });
      expect(res.statusCode).toBe(404);
      expect(res.json<ErrorJson>().error.code).toBe('EXPORT_NOT_FOUND');
    }
    const user = await createPrincipal(t.app, t.sql, { role: 'user' });
    expect((await t.app.inject({ method: 'POST', url: '/exports', headers: user.headers, payload: { resource: 'users', format: 'csv' } })).statusCode).toBe(403);
    const bad = await t.app.inject({ method: 'POST', url: '/exports', payload: { resource: 'orders', format: 'xlsx' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ErrorJson>().error.code).toBe('VALIDATION_FAILED');
    await awaitCompleted(id);
  });

  it('exports 100,000 users: progress rises monotonically to 100, exactly the matching rows, flat memory', async () => {
    // 100,000 active users to export, and 10,000 inactive ones the filter must leave out.
    await t.sql.query(`INSERT INTO users (id, email, name, status, organization_id, created_at)
      SELECT gen_random_uuid(), 'bulk-' || g || '@export.test', 'Bulk ' || g, CASE WHEN g > 100000 THEN 'inactive' ELSE 'active' END,
             (SELECT id FROM organizations WHERE slug = 'default'), now() - g * interval '1 millisecond'
      FROM generate_series(1, 110000) AS g`);
    const expected = new Set(
      (await t.sql.query<{ email: string }>("SELECT email FROM users WHERE status = 'active'")).rows.map((row) => row.email),
    );
    expect(expected.size).toBeGreaterThanOrEqual(100_000);
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    // The heap after a full collection: what the export holds at that moment.
    const sampler = setInterval(() => {
      gc();
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }, 1000);
    const created = await t.app.inject({ method: 'POST', url: '/exports', payload: { resource: 'users', format: 'jsonl', filters: { status: 'active' } } });
    const { id } = created.json<ExportJson>();
    const seen: number[] = [];
    const done = await waitFor(async () => {
      const body = (await t.app.inject({ method: 'GET', url: `/exports/${id}` })).json<ExportJson>();
      seen.push(body.progress);
      return body.status === 'completed' ? body : undefined;
    }, 'the large export', 240_000);
    clearInterval(sampler);
    expect(done.rowCount).toBe(expected.size);
    expect(seen.at(-1)).toBe(100);
    expect(seen.some((p) => p > 0 && p < 100), `intermediate progress seen: ${seen.join(',')}`).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
    // 100,000 rows held at once would be tens of MB of objects and strings; one page is about 1 MB.
    expect(peak - baseline, `retained heap grew by ${Math.round((peak - baseline) / 1e6)} MB`).toBeLessThan(16 * 1024 * 1024);

    const file = await t.app.inject({ method: 'GET', url: `/exports/${id}/download` });
    const lines = file.body.trimEnd().split('\n');
    expect(lines).toHaveLength(expected.size);
    const emails = new Set(lines.map((line) => (JSON.parse(line) as { email: string }).email));
    expect(emails).toEqual(expected);
  }, 300_000);
});
