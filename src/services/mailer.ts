import type { FastifyBaseLogger } from 'fastify';
import nodemailer from 'nodemailer';
import type { MailConfig } from '../config.ts';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Sends mail over SMTP (SMTP_URL) from MAIL_FROM; one pooled transport per process. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

const SEND_TIMEOUT_MS = 15_000;

/** A mailer for the configured SMTP server, or null when mail is not configured. */
export function createMailer(config: MailConfig | null, log: FastifyBaseLogger): Mailer | null {
  if (config === null) return null;
  const transport = nodemailer.createTransport({
    url: config.smtpUrl,
    pool: true,
    maxConnections: 2,
    connectionTimeout: SEND_TIMEOUT_MS,
    greetingTimeout: SEND_TIMEOUT_MS,
    socketTimeout: SEND_TIMEOUT_MS,
  });
  return {
    async send(message) {
      try {
        await transport.sendMail({ from: config.from, ...message });
      } catch (err) {
        // The SMTP URL may hold a password, and nodemailer's errors can quote the server's reply;
        // log the code and the subject, not the message text or the URL.
        const code = (err as { code?: string }).code ?? 'unknown';
        log.warn({ code, subject: message.subject }, 'mail could not be sent');
        throw new Error(`mail could not be sent (${code})`);
      }
    },
    close() {
      transport.close();
    },
  };
}
