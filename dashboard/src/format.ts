// Dates and numbers as a person reads them.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const dateFormat = new Intl.DateTimeFormat('en', { dateStyle: 'medium' });
const dateTimeFormat = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });
const timeFormat = new Intl.DateTimeFormat('en', {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const relativeFormat = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const numberFormat = new Intl.NumberFormat('en');

export function formatDate(iso: string): string {
  return dateFormat.format(new Date(iso));
}

export function formatDateTime(iso: string): string {
  return dateTimeFormat.format(new Date(iso));
}

export function formatLogTime(iso: string): string {
  return timeFormat.format(new Date(iso));
}

export function formatNumber(value: number): string {
  return numberFormat.format(value);
}

/** "just now", "2 minutes ago", "in 3 days", "5 months ago". */
export function relativeTime(iso: string, now = Date.now()): string {
  const diff = new Date(iso).getTime() - now;
  const abs = Math.abs(diff);
  if (abs < 45_000) return diff <= 0 ? 'just now' : 'in a few seconds';
  if (abs < HOUR) return relativeFormat.format(Math.round(diff / MINUTE), 'minute');
  if (abs < DAY) return relativeFormat.format(Math.round(diff / HOUR), 'hour');
  if (abs < 45 * DAY) return relativeFormat.format(Math.round(diff / DAY), 'day');
  if (abs < 365 * DAY) return relativeFormat.format(Math.round(diff / (30 * DAY)), 'month');
  return relativeFormat.format(Math.round(diff / (365 * DAY)), 'year');
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}

const WINDOW_UNITS: Record<string, [string, string]> = {
  s: ['second', 'seconds'],
  m: ['minute', 'minutes'],
  h: ['hour', 'hours'],
  d: ['day', 'days'],
};

/**
 * An account's own limits and credits in words, e.g. "1,000 requests/day shared by all keys,
 * 4,200 of 5,000 credits left"; null when it has none.
 */
export function describeAccountLimits(user: {
  limits: { rate?: { limit: number; window: string }[]; daily?: Quota; monthly?: Quota };
  credits: { remaining: number | null; refill?: { amount: number } | null };
}): string | null {
  const parts: string[] = [];
  for (const rule of user.limits.rate ?? [])
    parts.push(`${plural(rule.limit, 'request')} per ${describeWindow(rule.window)}`);
  for (const [period, quota] of [
    ['day', user.limits.daily],
    ['month', user.limits.monthly],
  ] as const) {
    if (quota?.requests !== undefined)
      parts.push(`${formatNumber(quota.requests)} requests/${period}`);
    if (quota?.amount !== undefined)
      parts.push(`${formatNumber(quota.amount)} cost units/${period}`);
  }
  const limits = parts.length === 0 ? null : `${parts.join(', ')} shared by all keys`;
  const { remaining, refill } = user.credits;
  const credits =
    remaining === null
      ? null
      : refill
        ? `${formatNumber(remaining)} of ${formatNumber(refill.amount)} credits left`
        : `${plural(remaining, 'credit')} left`;
  if (limits === null && credits === null) return null;
  if (limits === null) return `${credits}, shared by all keys`;
  return credits === null ? limits : `${limits}, ${credits}`;
}

interface Quota {
  requests?: number;
  amount?: number;
}

/** "1m" → "minute", "10s" → "10 seconds". */
export function describeWindow(window: string): string {
  const match = /^(\d+)([smhd])$/.exec(window);
  if (!match) return window;
  const count = Number(match[1]);
  const unit = WINDOW_UNITS[match[2] ?? 's'] ?? ['second', 'seconds'];
  return count === 1 ? unit[0] : `${count} ${unit[1]}`;
}

/** Keys expiring within this are flagged in the keys list and on the key page. */
export const EXPIRY_CUE_MS = 7 * DAY;

/** "Expires in 3 days", "Expires in 5 hours", "Expires in 20 minutes" for a time left in ms. */
export function expiresIn(leftMs: number): string {
  const unit = (count: number, one: string) => `${count} ${count === 1 ? one : `${one}s`}`;
  if (leftMs >= DAY) return `Expires in ${unit(Math.floor(leftMs / DAY), 'day')}`;
  if (leftMs >= HOUR) return `Expires in ${unit(Math.floor(leftMs / HOUR), 'hour')}`;
  if (leftMs >= MINUTE) return `Expires in ${unit(Math.floor(leftMs / MINUTE), 'minute')}`;
  return 'Expires in less than a minute';
}
