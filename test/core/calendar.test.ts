import { describe, expect, it } from 'vitest';
import { CalendarDays } from '../../src/core/calendar.ts';

describe('calendar periods', () => {
  it('UTC days and months, with exact ends', () => {
    const c = new CalendarDays('UTC');
    const t = Date.UTC(2026, 5, 30, 23, 59, 59, 999);
    expect(c.dayOf(t)).toBe('2026-06-30');
    expect(c.monthOf(t)).toBe('2026-06');
    expect(c.dayEnd(t)).toBe(Date.UTC(2026, 6, 1));
    expect(c.monthEnd(t)).toBe(Date.UTC(2026, 6, 1));
    expect(c.dayOf(t + 1)).toBe('2026-07-01');
    expect(c.monthEnd(Date.UTC(2026, 11, 15))).toBe(Date.UTC(2027, 0, 1));
  });

  it('local midnight in another time zone, across a DST change', () => {
    const c = new CalendarDays('Europe/Berlin');
    // 2026-03-29 is the spring-forward day in Berlin: midnight is 23:00 UTC before, 22:00 UTC after.
    const evening = Date.UTC(2026, 2, 28, 22, 30);
    expect(c.dayOf(evening)).toBe('2026-03-28');
    expect(c.dayEnd(evening)).toBe(Date.UTC(2026, 2, 28, 23, 0));
    const next = Date.UTC(2026, 2, 29, 12, 0);
    expect(c.dayOf(next)).toBe('2026-03-29');
    expect(c.dayEnd(next)).toBe(Date.UTC(2026, 2, 29, 22, 0));
    expect(c.monthEnd(next)).toBe(Date.UTC(2026, 2, 31, 22, 0));
    const ny = new CalendarDays('America/New_York');
    expect(ny.dayOf(Date.UTC(2026, 0, 1, 4, 59))).toBe('2025-12-31');
    expect(ny.dayEnd(Date.UTC(2026, 0, 1, 4, 59))).toBe(Date.UTC(2026, 0, 1, 5, 0));
  });
});
