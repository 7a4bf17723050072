import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  promoteToAdmin,
} from '../helpers/harness.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.ts';

const HOUR = 3_600_000;

describe.each(DATABASES)('notification mail on $name', (kind) => {
  let h: Harness;
  let smtp: TestSmtpServer;
  let owner: Account;
  let reporter: string;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    h = await createHarness(kind, {
      SMTP_URL: smtp.url,
      MAIL_FROM: 'Keyward <keyward@example.com>',
      PUBLIC_URL: 'https://keys.example.com',
    });
    owner = await h.signup();
    const admin = await h.signup();
    await promoteToAdmin(h, admin);
    reporter = (
      await h.request({
        method: 'POST',
        url: '/v1/tokens',
        as: admin,
        body: { name: 'scanner', scopes: ['leaks:report'] },
      })
    ).json().token;
  });
  afterAll(async () => {
    await h.close();
    await smtp.close();
  });

  const pendingMail = () =>
    h.services.store.db
      .selectFrom('events')
      .select(['type', 'mail_attempts'])
      .where('mail_done_at', 'is', null)
      .execute();
  const runJobs = async () => {
    for (const name of h.services.jobs.names) await h.services.jobs.run(name);
  };

  it('mails key.expiring, key.leaked and usage.threshold to the owner in text and HTML, escaping the key name', async () => {
    const name = '<script>alert("x")</script> & co';
    const expiring = await createKey(h, owner, {
      name,
      expires_at: new Date(h.clock.now() + 20 * HOUR).toISOString(),
    });
    await runJobs();
    const leaked = await createKey(h, owner, { name: 'leaked one' });
    const report = await h.request({
      method: 'POST',
      url: '/v1/leaks',
      bearer: reporter,
      body: [{ token: leaked.key, type: 'keyward_api_key', url: 'https://gist.example/1' }],
    });
    expect(report.statusCode).toBe(200);
    const quota = await createKey(h, owner, { name: 'busy', credits: { remaining: 10 } });
    await h.services.store.db
      .updateTable('api_keys')
      .set({ credits_remaining: 1 })
      .where('id', '=', quota.id)
      .execute();
    await runJobs();
    const mails = await smtp.waitFor(3);
    expect(mails.map((m) => m.to)).toEqual([[owner.email], [owner.email], [owner.email]]);
    for (const mail of mails) expect(mail.from).toContain('keyward@example.com');
    const [expiry, leak, threshold] = mails as [
      (typeof mails)[0],
      (typeof mails)[0],
      (typeof mails)[0],
    ];

    expect(expiry.subject).toBe(`Your API key "${name}" expires within a day`);
    expect(expiry.text).toContain(`Your API key "${name}"`);
    expect(expiry.text).toContain('expires on 2026-06-02 08:00 UTC');
    expect(expiry.text).toContain(`https://keys.example.com/keys/${expiring.id}`);
    expect(expiry.html).not.toContain('<script>');
    expect(expiry.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co');
    expect(expiry.html).toContain(`href="https://keys.example.com/keys/${expiring.id}"`);

    expect(leak.subject).toBe('Your API key "leaked one" was found in public and has been revoked');
    expect(leak.text).toContain('https://gist.example/1');
    expect(leak.text).not.toContain(leaked.key);
    expect(leak.html).toContain('has been revoked');

    expect(threshold.subject).toBe('Your API key "busy" has used 80% of its credits');
    expect(threshold.text).toContain('9 of 10');
    expect(threshold.html).toContain('9 of 10');
    expect(await pendingMail()).toEqual([]);
  });

  it('sends nothing for a kind the owner switched off, and reports the switches', async () => {
    const before = await h.request({ method: 'GET', url: '/v1/account/notifications', as: owner });
    expect(before.json()).toEqual({
      mail_configured: true,
      email: { 'key.expiring': true, 'key.leaked': true, 'usage.threshold': true },
    });
    const patched = await h.request({
      method: 'PATCH',
      url: '/v1/account/notifications',
      as: owner,
      body: { 'key.expiring': false },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().email).toEqual({
      'key.expiring': false,
      'key.leaked': true,
      'usage.threshold': true,
    });
    for (const body of [{}, { 'key.created': true }, { 'key.expiring': 'no' }]) {
      const bad = await h.request({
        method: 'PATCH',
        url: '/v1/account/notifications',
        as: owner,
        body,
      });
      expect(bad.statusCode).toBe(400);
    }
    const noCsrf = await h.request({
      method: 'PATCH',
      url: '/v1/account/notifications',
      as: owner,
      headers: { 'x-csrf-token': 'wrong' },
      body: { 'key.expiring': true },
    });
    expect(noCsrf.statusCode).toBe(403);

    const sent = smtp.received.length;
    await createKey(h, owner, {
      name: 'quiet',
      expires_at: new Date(h.clock.now() + 5 * HOUR).toISOString(),
    });
    await runJobs();
    expect(smtp.received.length).toBe(sent);
    expect(await pendingMail()).toEqual([]);
  });
});

describe.each(DATABASES)('failing mail on $name', (kind) => {
  it('keeps an event whose mail could not be sent for a later attempt', async () => {
    // A port nothing listens on: the SMTP connection is refused.
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const h = await createHarness(kind, {
      SMTP_URL: `smtp://127.0.0.1:${closed}`,
      MAIL_FROM: 'keyward@example.com',
    });
    try {
      const owner = await h.signup();
      await createKey(h, owner, {
        name: 'unsent',
        expires_at: new Date(h.clock.now() + 3 * HOUR).toISOString(),
      });
      const pending = () =>
        h.services.store.db
          .selectFrom('events')
          .select(['type', 'mail_attempts'])
          .where('mail_done_at', 'is', null)
          .execute();
      for (const name of h.services.jobs.names) await h.services.jobs.run(name);
      expect(await pending()).toEqual([{ type: 'key.expiring', mail_attempts: 1 }]);
      // Left alone for a minute after the failure, then tried again.
      await h.services.jobs.run('mail');
      expect(await pending()).toEqual([{ type: 'key.expiring', mail_attempts: 1 }]);
      h.clock.advance(61_000);
      await h.services.jobs.run('mail');
      expect(await pending()).toEqual([{ type: 'key.expiring', mail_attempts: 2 }]);
    } finally {
      await h.close();
    }
  });
});

describe.each(DATABASES)('notifications without mail on $name', (kind) => {
  it('says mail is not configured and marks events done without sending', async () => {
    const h = await createHarness(kind);
    try {
      const owner = await h.signup();
      const settings = await h.request({
        method: 'GET',
        url: '/v1/account/notifications',
        as: owner,
      });
      expect(settings.json().mail_configured).toBe(false);
      await createKey(h, owner, {
        name: 'x',
        expires_at: new Date(h.clock.now() + HOUR).toISOString(),
      });
      for (const name of h.services.jobs.names) await h.services.jobs.run(name);
      const pending = await h.services.store.db
        .selectFrom('events')
        .select('type')
        .where('mail_done_at', 'is', null)
        .execute();
      expect(pending).toEqual([]);
    } finally {
      await h.close();
    }
  });
});
