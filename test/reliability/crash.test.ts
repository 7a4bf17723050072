import SQLite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { runCrashHarness } from '../../bench/crash.ts';
import { DATABASES } from '../helpers/databases.ts';

/**
 * R3, the short variant of `node bench/crash.ts` (20 kills per database, recorded in
 * docs/RELIABILITY.md): real `keyward serve` processes under load, killed with SIGKILL three times
 * and restarted on the same database. The harness checks every acknowledged write after each
 * kill; the test asserts it found nothing wrong, and that the load did exercise every kind.
 */
describe.each(DATABASES)('kill -9 under load on $name (R3)', (kind) => {
  it('3 kills: every acknowledged write survives, no credit spent twice, usage within a flush', async () => {
    const report = await runCrashHarness({
      db: kind.name,
      kills: 3,
      seed: 3,
      workers: 6,
      minRunMs: 800,
      maxRunMs: 2000,
    });
    expect(report.violations).toEqual([]);
    expect(report.kills).toBe(3);
    expect(report.serverErrors).toBe(0);
    for (const op of ['create', 'revoke', 'rotate', 'delete', 'spend', 'verify'] as const)
      expect(report.acknowledged[op], op).toBeGreaterThan(0);
  }, 90_000);
});

describe('the crash harness checks', () => {
  it('report acknowledged writes that the database lost', async () => {
    const report = await runCrashHarness({
      db: 'sqlite',
      kills: 1,
      seed: 3,
      workers: 6,
      minRunMs: 1500,
      maxRunMs: 1500,
      // What a lost commit would look like: revokes and rotations undone, a credit handed back.
      afterKill: async (url) => {
        const db = new SQLite(url.slice('sqlite:'.length));
        try {
          db.exec(
            'update api_keys set revoked_at = null, rotated_to = null, credits_remaining = credits_remaining + 1',
          );
        } finally {
          db.close();
        }
      },
    });
    const found = (text: string) => report.violations.some((v) => v.includes(text));
    expect(found('acknowledged revoke of')).toBe(true);
    expect(found('acknowledged rotation of')).toBe(true);
    expect(found('spendable twice')).toBe(true);
  }, 60_000);
});
