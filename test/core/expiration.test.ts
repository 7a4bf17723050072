import { describe, expect, it } from 'vitest';
import { addCalendarDuration, parseDurationMs } from '../../src/core/duration.ts';
import { resolveExpiration } from '../../src/core/expiration.ts';
import { keyStatus } from '../../src/core/key-status.ts';

const NOW = Date.UTC(2026, 0, 31, 10, 0, 0);
const DAY = 86_400_000;

describe('durations', () => {
  it('parses fixed units and refuses the rest', () => {
    expect(parseDurationMs('30s')).toBe(30_000);
    expect(parseDurationMs('15m')).toBe(900_000);
    expect(parseDurationMs('24h')).toBe(DAY);
    expect(parseDurationMs('7d')).toBe(7 * DAY);
    for (const bad of ['', '1', 'h', '1.5h', '-1h', '1y', ' 1h'])
      expect(parseDurationMs(bad), bad).toBeNull();
  });

  it('adds calendar months and years, clamping to the month end', () => {
    expect(addCalendarDuration(NOW, '1mo')).toBe(Date.UTC(2026, 1, 28, 10, 0, 0));
    expect(addCalendarDuration(NOW, '6mo')).toBe(Date.UTC(2026, 6, 31, 10, 0, 0));
    expect(addCalendarDuration(NOW, '4y')).toBe(Date.UTC(2030, 0, 31, 10, 0, 0));
    expect(addCalendarDuration(NOW, 'soon')).toBeNull();
  });
});

describe('expiration presets', () => {
  it('maps presets to times and never to null without a maximum', () => {
    expect(resolveExpiration(NOW, { preset: '30d' }, null)).toEqual({
      ok: true,
      expiresAt: NOW + 30 * DAY,
    });
    expect(resolveExpiration(NOW, { preset: '6m' }, null)).toEqual({
      ok: true,
      expiresAt: Date.UTC(2026, 6, 31, 10, 0, 0),
    });
    expect(resolveExpiration(NOW, { preset: '1y' }, null)).toEqual({
      ok: true,
      expiresAt: Date.UTC(2027, 0, 31, 10, 0, 0),
    });
    expect(resolveExpiration(NOW, { preset: 'never' }, null)).toEqual({
      ok: true,
      expiresAt: null,
    });
    expect(resolveExpiration(NOW, {}, null)).toEqual({ ok: true, expiresAt: null });
  });

  it('with a maximum lifetime, never means the maximum and longer is refused', () => {
    expect(resolveExpiration(NOW, { preset: 'never' }, '90d')).toEqual({
      ok: true,
      expiresAt: NOW + 90 * DAY,
    });
    expect(resolveExpiration(NOW, { preset: '1y' }, '90d').ok).toBe(false);
    expect(resolveExpiration(NOW, { expiresAt: NOW + 90 * DAY }, '90d')).toEqual({
      ok: true,
      expiresAt: NOW + 90 * DAY,
    });
    expect(resolveExpiration(NOW, { expiresAt: NOW + 90 * DAY + 1 }, '90d').ok).toBe(false);
  });

  it('refuses an explicit time in the past', () => {
    expect(resolveExpiration(NOW, { expiresAt: NOW }, null).ok).toBe(false);
  });
});

describe('derived status', () => {
  const base = { revokedAt: null, expiresAt: null, enabled: true };
  it('orders revoked, expired, disabled, active', () => {
    expect(keyStatus(base, NOW)).toBe('active');
    expect(keyStatus({ ...base, enabled: false }, NOW)).toBe('disabled');
    expect(keyStatus({ ...base, enabled: false, expiresAt: NOW }, NOW)).toBe('expired');
    expect(keyStatus({ ...base, enabled: false, expiresAt: NOW, revokedAt: 1 }, NOW)).toBe(
      'revoked',
    );
  });
  it('is valid at T − 1 ms and expired at T', () => {
    expect(keyStatus({ ...base, expiresAt: NOW }, NOW - 1)).toBe('active');
    expect(keyStatus({ ...base, expiresAt: NOW }, NOW)).toBe('expired');
  });
});
