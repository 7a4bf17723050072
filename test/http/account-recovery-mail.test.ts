// "Forgot password?" and mailed invitations with mail configured: a real SMTP server started by
// the test receives what Keyward sends. No account enumeration: the answer is the same whether or
// not the account exists, and only an existing account gets mail.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  createHarness,
  type Harness,
  promoteToAdmin,
  SECRETS_SEEN,
  uniqueEmail,
} from '../helpers/harness.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.ts';

const LINK = /https?:\/\/\S+\/(reset-password|invite)\/([0-9a-f]{64})/;

function linkToken(text: string): string {
  const token = LINK.exec(text)?.[2];
  if (token === undefined) throw new Error(`no link in: ${text}`);
  SECRETS_SEEN.add(token);
  return token;
}

/** The parts of an answer a caller can compare: status, body and every header but the date. */
function visible(response: LightMyRequestResponse) {
  const { date: _date, ...headers } = response.headers;
  return { status: response.statusCode, body: response.body, headers };
}

describe.each(DATABASES)('account recovery by mail on $name', (kind) => {
  let h: Harness;
  let smtp: TestSmtpServer;

  const forgot = (email: string, ip = '127.0.0.1') =>
    h.request({ method: 'POST', url: '/v1/auth/forgot-password', body: { email }, ip });

  async function resetRows(): Promise<number> {
    const rows = await h.services.store.db.selectFrom('password_resets').select('id').execute();
    return rows.length;
  }

  beforeAll(async () => {
    smtp = await startSmtpServer();
    h = await createHarness(kind, {
      SMTP_URL: smtp.url,
      MAIL_FROM: 'Keyward <keyward@example.com>',
      PUBLIC_URL: 'https://keys.example.com',
    });
  });
  afterAll(async () => {
    await h.close();
    await smtp.close();
  });

  it('the options offer reset by email', async () => {
    const options = await h.request({ method: 'GET', url: '/v1/auth/options' });
    expect(options.json()).toEqual({ signup: 'open', password_reset_by_email: true });
  });

  it('mails a working link to an existing account, and nothing for an unknown email, with the same answer', async () => {
    const account = await h.signup();
    const before = smtp.received.length;
    const rowsBefore = await resetRows();

    const known = await forgot(account.email.toUpperCase(), '192.0.2.10');
    const unknown = await forgot(uniqueEmail('nobody'), '192.0.2.10');
    expect(known.statusCode).toBe(202);
    expect(visible(unknown)).toEqual(visible(known));
    await h.services.passwordResets.idle();

    expect(smtp.received.length).toBe(before + 1);
    expect(await resetRows()).toBe(rowsBefore + 1);
    const mail = smtp.received.at(-1);
    expect(mail?.to).toEqual([account.email]);
    expect(mail?.from).toContain('keyward@example.com');
    expect(mail?.subject).toBe('Reset your Keyward password');
    expect(mail?.text).toMatch(/https:\/\/keys\.example\.com\/reset-password\/[0-9a-f]{64}/);
    const token = linkToken(mail?.text ?? '');
    expect(mail?.html).toContain(`/reset-password/${token}`);

    const used = await h.request({
      method: 'POST',
      url: '/v1/auth/password-reset',
      body: { token, new_password: 'the mailed link passphrase' },
    });
    expect(used.statusCode).toBe(204);
    const login = await h.request({
      method: 'POST',
      url: '/v1/auth/login',
      body: { email: account.email, password: 'the mailed link passphrase' },
    });
    expect(login.statusCode).toBe(200);
    const via = await h.services.store.db
      .selectFrom('password_resets')
      .select('requested_via')
      .where('user_id', '=', account.id)
      .execute();
    expect(via).toEqual([{ requested_via: 'email' }]);
    expect(h.logs.join('')).not.toContain(token);
  });

  it('a disabled account gets no mail', async () => {
    const account = await h.signup();
    await h.services.accounts.update(CLI_ACTOR, account.id, { disabled: true });
    const before = smtp.received.length;
    expect((await forgot(account.email, '192.0.2.11')).statusCode).toBe(202);
    await h.services.passwordResets.idle();
    expect(smtp.received.length).toBe(before);
  });

  it('throttles per email silently and per address with 429', async () => {
    const account = await h.signup();
    const before = smtp.received.length;
    for (let i = 0; i < 5; i += 1)
      expect((await forgot(account.email, `192.0.2.${20 + i}`)).statusCode).toBe(202);
    await h.services.passwordResets.idle();
    // Three mails an hour per email, whoever asks: a stranger cannot flood an inbox.
    expect(smtp.received.length).toBe(before + 3);

    const ip = '198.51.100.77';
    for (let i = 0; i < 10; i += 1)
      expect((await forgot(uniqueEmail('flood'), ip)).statusCode).toBe(202);
    const blocked = await forgot(uniqueEmail('flood'), ip);
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);

    h.clock.advance(3_600_000);
    expect((await forgot(uniqueEmail('flood'), ip)).statusCode).toBe(202);
    expect((await forgot(account.email, '192.0.2.30')).statusCode).toBe(202);
    await h.services.passwordResets.idle();
    expect(smtp.received.length).toBe(before + 4);
  });

  it('bad input is a 400', async () => {
    for (const body of [
      {},
      { email: '' },
      { email: 'a@b.c', extra: true },
      { email: 42 },
      { email: 'not an email' },
    ]) {
      const answer = await h.request({ method: 'POST', url: '/v1/auth/forgot-password', body });
      expect(answer.statusCode).toBe(400);
    }
  });

  it('an invitation naming an email is mailed', async () => {
    const admin = await h.signup();
    await promoteToAdmin(h, admin);
    const email = uniqueEmail('invited');
    const before = smtp.received.length;
    const created = await h.request({
      method: 'POST',
      url: '/v1/admin/invitations',
      as: admin,
      body: { email },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().mailed).toBe(true);
    expect(smtp.received.length).toBe(before + 1);
    const mail = smtp.received.at(-1);
    expect(mail?.to).toEqual([email]);
    expect(mail?.subject).toBe('You are invited to Keyward');
    const token = linkToken(mail?.text ?? '');
    expect(created.json().url).toBe(`https://keys.example.com/invite/${token}`);
    const accepted = await h.request({
      method: 'POST',
      url: '/v1/auth/invitations/accept',
      body: { token, password: 'the invited person passphrase' },
    });
    expect(accepted.statusCode).toBe(201);
  });
});

describe.each(DATABASES)('mail that cannot be sent on $name', (kind) => {
  let h: Harness;

  beforeAll(async () => {
    // A port nobody listens on: the SMTP connection is refused.
    const smtp = await startSmtpServer();
    const url = smtp.url;
    await smtp.close();
    h = await createHarness(kind, { SMTP_URL: url, MAIL_FROM: 'keyward@example.com' });
  });
  afterAll(async () => {
    await h.close();
  });

  it('an invitation is still created, with mailed: false; forgot-password still answers 202', async () => {
    const admin = await h.signup();
    await promoteToAdmin(h, admin);
    const created = await h.request({
      method: 'POST',
      url: '/v1/admin/invitations',
      as: admin,
      body: { email: uniqueEmail('unmailed') },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().mailed).toBe(false);
    expect(created.json().url).toMatch(/\/invite\/[0-9a-f]{64}$/);
    SECRETS_SEEN.add(linkToken(created.json().url));
    const forgot = await h.request({
      method: 'POST',
      url: '/v1/auth/forgot-password',
      body: { email: admin.email },
    });
    expect(forgot.statusCode).toBe(202);
    await h.services.passwordResets.idle();
  });
});
