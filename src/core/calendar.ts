const DAY_MS = 86_400_000;

/**
 * Calendar days and months in one time zone. `dayOf` is recomputed at most once per UTC minute:
 * every time zone's midnight falls on a whole minute, so the cache is exact.
 */
export class CalendarDays {
  private readonly dayFormat: Intl.DateTimeFormat;
  private readonly wallFormat: Intl.DateTimeFormat;
  private cachedMinute = Number.NaN;
  private cachedDay = '';
  private readonly nextStart = new Map<string, number>();

  constructor(timeZone: string) {
    this.dayFormat = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    this.wallFormat = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** `YYYY-MM-DD` of the local day that `ms` falls in. */
  dayOf(ms: number): string {
    const minute = Math.floor(ms / 60_000);
    if (minute !== this.cachedMinute) {
      this.cachedMinute = minute;
      this.cachedDay = this.dayFormat.format(ms);
    }
    return this.cachedDay;
  }

  /** `YYYY-MM` of the local month that `ms` falls in. */
  monthOf(ms: number): string {
    return this.dayOf(ms).slice(0, 7);
  }

  /** The first day (`YYYY-MM-01`) of the month that `ms` falls in. */
  monthStartOf(ms: number): string {
    return `${this.monthOf(ms)}-01`;
  }

  /** The instant (epoch ms) the local day containing `ms` ends. */
  dayEnd(ms: number): number {
    const day = this.dayOf(ms);
    const key = `d${day}`;
    let end = this.nextStart.get(key);
    if (end === undefined) {
      const [y, m, d] = day.split('-').map(Number) as [number, number, number];
      end = this.localMidnight(Date.UTC(y, m - 1, d + 1), ms);
      this.remember(key, end);
    }
    return end;
  }

  /** The instant (epoch ms) the local month containing `ms` ends. */
  monthEnd(ms: number): number {
    const month = this.monthOf(ms);
    const key = `m${month}`;
    let end = this.nextStart.get(key);
    if (end === undefined) {
      const [y, m] = month.split('-').map(Number) as [number, number];
      end = this.localMidnight(Date.UTC(y, m, 1), ms);
      this.remember(key, end);
    }
    return end;
  }

  private remember(key: string, value: number): void {
    if (this.nextStart.size > 64) this.nextStart.clear();
    this.nextStart.set(key, value);
  }

  /** Offset of local wall time from UTC at `ms`, in ms (east positive). */
  private offsetAt(ms: number): number {
    const parts: Record<string, number> = {};
    for (const part of this.wallFormat.formatToParts(ms))
      if (part.type !== 'literal') parts[part.type] = Number(part.value);
    const wall = Date.UTC(
      parts.year as number,
      (parts.month as number) - 1,
      parts.day as number,
      parts.hour,
      parts.minute,
      parts.second,
    );
    return wall - (ms - (ms % 1000));
  }

  /** The UTC instant of a local wall-clock midnight (given as if it were UTC), near `hint`. */
  private localMidnight(wallAsUtc: number, hint: number): number {
    let guess = wallAsUtc - this.offsetAt(hint);
    // Once more with the offset at the guess itself, in case a DST change lies in between.
    guess = wallAsUtc - this.offsetAt(guess);
    return guess < hint ? hint + DAY_MS : guess;
  }
}
