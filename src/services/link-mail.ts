import type { MailMessage } from './mailer.ts';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/**
 * A short mail around one link (an invitation, a password reset), as plain text and as HTML with
 * the link as a button. Every paragraph is escaped: emails and URLs come from outside.
 */
export function linkMail(input: {
  to: string;
  subject: string;
  before: string[];
  action: string;
  url: string;
  after: string[];
}): MailMessage {
  const text = [...input.before, '', input.url, '', ...input.after].join('\n\n');
  const paragraphs = (lines: string[]) =>
    lines.map((line) => `<p>${escapeHtml(line)}</p>`).join('\n');
  const url = escapeHtml(input.url);
  const html = `<!doctype html>
<html><body style="font-family: system-ui, sans-serif; line-height: 1.5">
${paragraphs(input.before)}
<p><a href="${url}" style="display: inline-block; padding: 8px 16px; background: #2453d6; color: #fff; text-decoration: none; border-radius: 6px">${escapeHtml(input.action)}</a></p>
<p>Or paste this address into your browser: <a href="${url}">${url}</a></p>
${paragraphs(input.after)}
</body></html>
`;
  return { to: input.to, subject: input.subject, text, html };
}
