/**
 * Calendar days in one time zone, as `YYYY-MM-DD`. The day string is recomputed at most once per
 * UTC minute: every time zone's midnight falls on a whole minute, so the cache is exact.
 */
export class CalendarDays {
  private readonly format: Intl.DateTimeFormat;
  private cachedMinute = Number.NaN;
  private cachedDay = '';

  constructor(timeZone: string) {
    this.format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
  }

  dayOf(ms: number): string {
    const minute = Math.floor(ms / 60_000);
    if (minute !== this.cachedMinute) {
      this.cachedMinute = minute;
      this.cachedDay = this.format.format(ms);
    }
    return this.cachedDay;
  }

  /** The first day of the month that `ms` falls in. */
  monthStartOf(ms: number): string {
    return `${this.dayOf(ms).slice(0, 8)}01`;
  }
}
