import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailService } from '../../src/platform/mail/mail.service.js';
import type { ErrorJson } from '../helpers/api.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { registerUser, strongPassword, uniqueEmail } from '../helpers/auth.js';
import { waitFor } from '../helpers/jobs.js';
import { createPrincipal } from '../helpers/principals.js';
import { TestSmtpServer } from '../helpers/smtp.js';

describe('email over real SMTP: welcome, verify-email, retries and the dead-letter queue', () => {
  let t: TestApp;
  const smtp = new TestSmtpServer();

  beforeAll(async () => {
    const url = await smtp.start();
    t = await startTestApp({ SMTP_URL: url, PUBLIC_URL: 'https://app.example.test' });
  });
  afterAll(async () => {
    await t?.close();
    await smtp.close();
  });

  it('sends the welcome email of a new user, queued in the transaction that created it', async () => {
    const email = uniqueEmail('welcome');
    await registerUser(t, { email, name: 'Ada Welcome' });
    const [mail] = await waitFor(() => (smtp.to(email).length > 0 ? smtp.to(email) : undefined), 'the welcome email');
    expect(mail!.subject).toBe('Welcome to Groundwork');
    expect(mail!.from).toBe('no-reply@groundwork.local');
    expect(mail!.decoded).toContain('Hello Ada Welcome,');
    expect(mail!.raw).toMatch(/Content-Type: text\/html/);

    // A creation that fails (duplicate email) rolls its email back with it.
    const duplicate = await t.anonymous({ method: 'POST', url: '/auth/register', payload: { email, name: 'Ada Again', password: strongPassword() } });
    expect(duplicate.statusCode).toBe(409);
    await sleep(1000);
    expect(smtp.to(email)).toHaveLength(1);
  });

  it('verifies an address end to end with the emailed single-use link; bad tokens get distinct errors', async () => {
    const email = uniqueEmail('verify');
    const session = await registerUser(t, { email, name: 'Vera Verify' });
    const auth = { authorization: `Bearer ${session.accessToken}` };
    const requested = await t.app.inject({ method: 'POST', url: `/users/${session.user.id}/verify-email`, headers: auth });
    expect(requested.statusCode).toBe(202);
    expect(new Date(requested.json<{ expiresAt: string }>().expiresAt).getTime()).toBeGreaterThan(Date.now());

    const mail = await waitFor(() => smtp.to(email).find((m) => m.subject === 'Verify your email address'), 'the verification email');
    const link = /https:\/\/app\.example\.test\/verify-email\?token=([A-Za-z0-9_-]{43})/.exec(mail.decoded);
    expect(link, 'the email carries the link').not.toBeNull();
    const token = link![1]!;
    // Only the hash is stored.
    const stored = await t.sql.query<{ token_hash: Buffer }>('SELECT token_hash FROM email_verification_tokens WHERE user_id = $1', [session.user.id]);
    expect(stored.rows[0]!.token_hash.toString('hex')).not.toContain(Buffer.from(token).toString('hex'));

    const verified = await t.anonymous({ method: 'POST', url: '/auth/verify-email', payload: { token } });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({ userId: session.user.id });
    const user = await t.app.inject({ method: 'GET', url: `/users/${session.user.id}` });
    expect(user.json<{ emailVerifiedAt: string | null }>().emailVerifiedAt).not.toBeNull();

    const reused = await t.anonymous({ method: 'POST', url: '/auth/verify-email', payload: { token } });
    expect(reused.statusCode).toBe(409);
    expect(reused.json<ErrorJson>().error.code).toBe('VERIFICATION_TOKEN_USED');

    const unknown = await t.anonymous({ method: 'POST', url: '/auth/verify-email', payload: { token: 'A'.repeat(43) } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json<ErrorJson>().error.code).toBe('VERIFICATION_TOKEN_INVALID');

    const malformed = await t.anonymous({ method: 'POST', url: '/auth/verify-email', payload: { token: 'short' } });
    expect(malformed.json<ErrorJson>().error.code).toBe('VALIDATION_FAILED');

    const again = await t.app.inject({ method: 'POST', url: `/users/${session.user.id}/verify-email`, headers: auth });
    expect(again.statusCode).toBe(409);
    expect(again.json<ErrorJson>().error.code).toBe('EMAIL_ALREADY_VERIFIED');
  });

  it('refuses an expired token with its own code, and another user cannot request a link for someone else', async () => {
    const email = uniqueEmail('expired');
    const session = await registerUser(t, { email, name: 'Eve Expired' });
    const requested = await t.app.inject({ method: 'POST', url: `/users/${session.user.id}/verify-email` });
    expect(requested.statusCode).toBe(202);
    const mail = await waitFor(() => smtp.to(email).find((m) => m.subject === 'Verify your email address'), 'the verification email');
    const token = /verify-email\?token=([A-Za-z0-9_-]{43})/.exec(mail.decoded)![1]!;
    await t.sql.query("UPDATE email_verification_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1", [session.user.id]);
    const expired = await t.anonymous({ method: 'POST', url: '/auth/verify-email', payload: { token } });
    expect(expired.statusCode).toBe(410);
    expect(expired.json<ErrorJson>().error.code).toBe('VERIFICATION_TOKEN_EXPIRED');

    const stranger = await createPrincipal(t.app, t.sql, { role: 'user' });
    const foreign = await t.app.inject({ method: 'POST', url: `/users/${session.user.id}/verify-email`, headers: stranger.headers });
    expect(foreign.statusCode).toBe(403);
  });

  it('retries a transient SMTP failure with backoff, then delivers exactly once', async () => {
    const email = uniqueEmail('transient');
    let refusals = 0;
    smtp.reject = (to) => (to.includes(email) && refusals++ < 1 ? 451 : undefined);
    await registerUser(t, { email, name: 'Tim Transient' });
    await waitFor(() => smtp.to(email).length === 1, 'delivery after the retry', 30_000);
    expect(refusals).toBe(2);
    await sleep(500);
    expect(smtp.to(email)).toHaveLength(1);
    smtp.reject = () => undefined;
  });

  it('dead-letters a permanent SMTP failure, and the admin re-drive delivers it', async () => {
    const email = uniqueEmail('permanent');
    let refuse = true;
    smtp.reject = (to) => (to.includes(email) && refuse ? 550 : undefined);
    await registerUser(t, { email, name: 'Pat Permanent' });
    const dead = await waitFor(async () => {
      const res = await t.app.inject({ method: 'GET', url: '/admin/jobs/email/dead-letters' });
      return res.json<{ data: Array<{ id: string; data: { to: string }; error: string }> }>().data.find((job) => job.data.to === email);
    }, 'the dead letter');
    expect(dead.error).toMatch(/refused/);
    expect(smtp.to(email)).toHaveLength(0);

    const user = await createPrincipal(t.app, t.sql, { role: 'user' });
    const forbidden = await t.app.inject({ method: 'POST', url: '/admin/jobs/email/dead-letters/redrive', headers: user.headers, payload: {} });
    expect(forbidden.statusCode).toBe(403);

    refuse = false;
    const redriven = await t.app.inject({ method: 'POST', url: '/admin/jobs/email/dead-letters/redrive', payload: { ids: [dead.id] } });
    expect(redriven.statusCode).toBe(200);
    expect(redriven.json()).toEqual({ redriven: 1 });
    await waitFor(() => smtp.to(email).length === 1, 'delivery after the re-drive');
    smtp.reject = () => undefined;
  });

  it('never sends a second copy of an accepted message, however often the job runs', async () => {
    const mail = t.app.get(MailService);
    const email = uniqueEmail('idempotent');
    const message = { key: `test:${email}`, to: email, template: 'welcome' as const, data: { name: 'Ida' } };
    const first = await mail.deliver(message);
    const second = await mail.deliver(message);
    expect(second).toEqual({ messageId: first.messageId, duplicate: true });
    expect(smtp.to(email)).toHaveLength(1);
  });
});
