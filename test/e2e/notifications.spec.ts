import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotificationsService } from '../../src/modules/notifications/notifications.service.js';
import type { ErrorJson } from '../helpers/api.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/jobs.js';
import { createPrincipal } from '../helpers/principals.js';
import { TestSmtpServer } from '../helpers/smtp.js';

interface NotificationJson {
  id: string;
  kind: string;
  title: string;
  readAt: string | null;
}
interface PageJson {
  data: NotificationJson[];
  nextCursor: string | null;
}

describe('notifications (queue-filled, own only, cursor paginated) and campaigns', () => {
  let t: TestApp;
  const smtp = new TestSmtpServer();
  beforeAll(async () => {
    t = await startTestApp({ SMTP_URL: await smtp.start(), MAIL_RATE_PER_SECOND: '2000' });
  });
  afterAll(async () => {
    await t?.close();
    await smtp.close();
  });

  it('notifies the owner when an export is ready; others see nothing of it', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/exports', payload: { resource: 'users', format: 'csv' } });
    const { id } = created.json<{ id: string }>();
    const notification = await waitFor(async () => {
      const page = (await t.app.inject({ method: 'GET', url: '/notifications' })).json<PageJson>();
      return page.data.find((n) => n.kind === 'export-ready');
    }, 'the export-ready notification');
    expect(notification.title).toBe('Your export is ready');
    expect(notification.readAt).toBeNull();

    const other = await createPrincipal(t.app, t.sql, { role: 'admin' });
    expect((await t.app.inject({ method: 'GET', url: '/notifications', headers: other.headers })).json<PageJson>().data).toEqual([]);
    const foreign = await t.app.inject({ method: 'POST', url: `/notifications/${notification.id}/read`, headers: other.headers });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json<ErrorJson>().error.code).toBe('NOTIFICATION_NOT_FOUND');

    const read = await t.app.inject({ method: 'POST', url: `/notifications/${notification.id}/read` });
    expect(read.statusCode).toBe(200);
    expect(read.json<NotificationJson>().readAt).not.toBeNull();
    expect(id).toBeTruthy();
  });

  it('pages with a cursor, newest first, and a notification key is delivered once', async () => {
    const user = await createPrincipal(t.app, t.sql, { role: 'user' });
    const notifications = t.app.get(NotificationsService);
    for (const n of [1, 2, 3]) await notifications.notify(user.id, { key: `page-${user.id}-${n}`, kind: 'test', title: `Note ${n}`, body: 'body' });
    await notifications.notify(user.id, { key: `page-${user.id}-3`, kind: 'test', title: 'Note 3 again', body: 'body' });
    await waitFor(async () => (await t.sql.query('SELECT 1 FROM notifications WHERE user_id = $1', [user.id])).rowCount === 3, 'three notifications');
    const first = (await t.app.inject({ method: 'GET', url: '/notifications?limit=2', headers: user.headers })).json<PageJson>();
    expect(first.data.map((n) => n.title)).toEqual(['Note 3', 'Note 2']);
    expect(first.nextCursor).not.toBeNull();
    const second = (await t.app.inject({ method: 'GET', url: `/notifications?limit=2&cursor=${first.nextCursor}`, headers: user.headers })).json<PageJson>();
    expect(second.data.map((n) => n.title)).toEqual(['Note 1']);
    expect(second.nextCursor).toBeNull();
  });

  it('sends a campaign to every active user in batches of 100, once each, with progress', async () => {
    await t.sql.query(`INSERT INTO users (id, email, name, status, organization_id)
      SELECT gen_random_uuid(), 'campaign-' || g || '@campaign.test', 'Reader ' || g, CASE WHEN g % 5 = 0 THEN 'inactive' ELSE 'active' END,
             (SELECT id FROM organizations WHERE slug = 'default')
      FROM generate_series(1, 250) AS g`);
    const user = await createPrincipal(t.app, t.sql, { role: 'user' });
    const active = (await t.sql.query<{ email: string }>("SELECT email FROM users WHERE status = 'active'")).rows.map((r) => r.email);
    expect((await t.app.inject({ method: 'POST', url: '/admin/campaigns', headers: user.headers, payload: { subject: 'x', body: 'y' } })).statusCode).toBe(403);

    const queued = await t.app.inject({ method: 'POST', url: '/admin/campaigns', payload: { subject: 'Autumn news', body: 'Hello <readers>.' } });
    expect(queued.statusCode).toBe(202);
    const { jobId } = queued.json<{ jobId: string }>();
    const job = await waitFor(async () => {
      const res = await t.app.inject({ method: 'GET', url: `/admin/jobs/email/${jobId}` });
      const body = res.json<{ state: string; progress: number }>();
      return body.state === 'completed' ? body : undefined;
    }, 'the campaign to finish', 60_000);
    expect(job.progress).toBe(100);
    const campaign = smtp.received.filter((m) => m.subject === 'Autumn news');
    expect(campaign.map((m) => m.to[0]).sort()).toEqual([...active].sort());
    expect(campaign[0]!.decoded).toContain('Hello &lt;readers&gt;.');
  });
});
