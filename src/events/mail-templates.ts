import type { EventEnvelope } from './events.ts';

export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

interface KeyData {
  id: string;
  name: string;
  masked: string;
  environment: string;
  expires_at: string | null;
}

/** Escapes text for HTML element content and attribute values: key names are the user's own text. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

/** A subject line carries no line breaks (header injection) and stays short. */
function subjectLine(text: string): string {
  const flat = text.replace(/[\r\n\t\u2028\u2029]+/g, ' ');
  return flat.length > 150 ? `${flat.slice(0, 149)}…` : flat;
}

/** `2026-06-02 08:00 UTC`: unambiguous for every reader, whatever their time zone. */
function readableTime(iso: unknown): string {
  const ms = typeof iso === 'string' ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(ms)) return String(iso);
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function describeKey(key: KeyData): string {
  return `"${key.name}" (${key.masked}, ${key.environment})`;
}

/**
 * The mail for an event an owner is told about (key.expiring, key.leaked, usage.threshold), as
 * plain text and HTML; null for kinds that are never mailed.
 */
export function mailFor(event: EventEnvelope, dashboardUrl: string): MailContent | null {
  const data = event.data as { key: KeyData } & Record<string, unknown>;
  const key = data.key;
  const link = `${dashboardUrl}/keys/${encodeURIComponent(key.id)}`;
  let subject: string;
  let lines: string[];
  switch (event.type) {
    case 'key.expiring': {
      const when = data.notice === '1d' ? 'within a day' : 'within 7 days';
      subject = `Your API key "${key.name}" expires ${when}`;
      lines = [
        `Your API key ${describeKey(key)} expires on ${readableTime(data.expires_at)}.`,
        'Requests made with it will be refused from then on. Rotate it, or change its expiry, before that.',
      ];
      break;
    }
    case 'key.leaked': {
      const leak = (data.leak ?? {}) as { url?: string | null; source?: string | null };
      subject = `Your API key "${key.name}" was found in public and has been revoked`;
      lines = [
        `Your API key ${describeKey(key)} was reported as exposed in public${leak.url ? ` at ${leak.url}` : ''}${leak.source ? ` (${leak.source})` : ''}.`,
        'It has been revoked and no longer works. Create a new key, update the systems that used it, and remove the exposed copy.',
      ];
      break;
    }
    case 'usage.threshold': {
      const quota = data.quota as { name: string; period: string; limit: number; used: number };
      const what =
        quota.name === 'credits' ? 'its credits' : `its ${quota.name.replace('.', ' ')} quota`;
      subject = `Your API key "${key.name}" has used ${String(data.threshold)}% of ${what}`;
      lines = [
        `Your API key ${describeKey(key)} has used ${quota.used} of ${quota.limit} (${String(data.threshold)}%) of ${what} for ${quota.period}.`,
        data.threshold === 100
          ? 'Further requests will be refused until the period ends or the limit is raised.'
          : 'Requests will be refused once the limit is reached.',
      ];
      break;
    }
    default:
      return null;
  }
  const footer = 'You can switch these emails off on your account page.';
  const text = [...lines, '', `Key: ${link}`, '', footer, ''].join('\n');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">',
    ...lines.map((line) => `<p>${escapeHtml(line)}</p>`),
    `<p><a href="${escapeHtml(link)}">Open the key in the dashboard</a></p>`,
    `<p style="color:#666;font-size:small">${escapeHtml(footer)}</p>`,
    '</body></html>',
  ].join('\n');
  return { subject: subjectLine(subject), text, html };
}
