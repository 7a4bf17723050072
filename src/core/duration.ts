const UNIT_MS = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
} as const;

const DURATION = /^(\d{1,6})(s|m|h|d|w)$/;
const CALENDAR = /^(\d{1,3})(mo|y)$/;

/**
 * Parses `30s`, `15m`, `1h`, `7d`, `2w` into milliseconds; `null` when malformed.
 * Months and years are calendar based and need a start: see {@link addCalendarDuration}.
 */
export function parseDurationMs(text: string): number | null {
  const match = DURATION.exec(text);
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/**
 * Adds a duration that may be calendar based (`6mo`, `1y`, also the fixed units) to a time.
 * Calendar months clamp to the end of the shorter month (Jan 31 + 1mo = Feb 28/29), in UTC.
 */
export function addCalendarDuration(start: number, text: string): number | null {
  const fixed = parseDurationMs(text);
  if (fixed !== null) return start + fixed;
  const match = CALENDAR.exec(text);
  if (!match) return null;
  const months = Number(match[1]) * (match[2] === 'y' ? 12 : 1);
  const date = new Date(start);
  const day = date.getUTCDate();
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
  date.setUTCDate(Math.min(day, lastDay));
  return date.getTime();
}
