import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createMailer } from '../../src/services/mailer.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.ts';

describe('mailer', () => {
  let smtp: TestSmtpServer;
  beforeAll(async () => {
    smtp = await startSmtpServer();
  });
  afterAll(async () => {
    await smtp.close();
  });

  it('is off without SMTP_URL and MAIL_FROM', () => {
    expect(loadConfig({}).mail).toBeNull();
    expect(createMailer(null, pino({ level: 'silent' }))).toBeNull();
  });

  it('refuses half a configuration and a bad URL without echoing it', () => {
    expect(() => loadConfig({ SMTP_URL: 'smtp://localhost:25' })).toThrow(/go together/);
    let message = '';
    try {
      loadConfig({ SMTP_URL: 'http://user:hunter2@x', MAIL_FROM: 'a@b.example' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/SMTP_URL must be an smtp/);
    expect(message).not.toContain('hunter2');
    expect(() => loadConfig({ SMTP_URL: 'smtp://h:25', MAIL_FROM: 'not an address' })).toThrow(
      /MAIL_FROM/,
    );
  });

  it('delivers plain text and HTML to a real SMTP server', async () => {
    const config = loadConfig({ SMTP_URL: smtp.url, MAIL_FROM: 'Keyward <keyward@example.com>' });
    const mailer = createMailer(config.mail, pino({ level: 'silent' }));
    expect(mailer).not.toBeNull();
    await mailer?.send({
      to: 'owner@example.com',
      subject: 'Your key expires tomorrow',
      text: 'plain body',
      html: '<p>html body</p>',
    });
    const [mail] = await smtp.waitFor(1);
    expect(mail?.to).toEqual(['owner@example.com']);
    expect(mail?.from).toContain('keyward@example.com');
    expect(mail?.subject).toBe('Your key expires tomorrow');
    expect(mail?.text.trim()).toBe('plain body');
    expect(mail?.html).toContain('<p>html body</p>');
    mailer?.close();
  });

  it('reports an unreachable server as an error that names no secret', async () => {
    const config = loadConfig({
      SMTP_URL: 'smtp://user:s3cret-pass@127.0.0.1:1',
      MAIL_FROM: 'keyward@example.com',
    });
    const mailer = createMailer(config.mail, pino({ level: 'silent' }));
    await expect(
      mailer?.send({ to: 'a@example.com', subject: 's', text: 't', html: 'h' }),
    ).rejects.toThrow(/^mail could not be sent \(E[A-Z]+\)$/);
    mailer?.close();
  });
});
