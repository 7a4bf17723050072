/** What the account-recovery services need from the mailer: one message to one address. */
export interface MailSender {
  send(message: { to: string; subject: string; text: string }): Promise<unknown>;
}
