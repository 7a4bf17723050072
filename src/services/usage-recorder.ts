import type { Kysely } from 'kysely';
import { CalendarDays } from '../core/calendar.ts';
import type { Clock } from '../core/clock.ts';
import { applyUsageDeltas } from '../storage/api-keys-repository.ts';
import type { Database } from '../storage/schema.ts';
import { touchTokens } from '../storage/tokens-repository.ts';
import { addDailyUsage, sumUsage } from '../storage/usage-repository.ts';

interface Pending {
  keyId: string;
  ownerId: string;
  day: string;
  requests: number;
  amount: number;
  lastUsedAt: number;
}

export interface UsageTotals {
  requests: number;
  amount: number;
}

/**
 * Counts key usage in memory and writes it in one transaction per interval: the verification
 * path never waits on, or writes to, the database. A failed flush keeps its counts for the next.
 */
export class UsageRecorder {
  private pending = new Map<string, Pending>();
  private tokenUses = new Map<string, number>();
  private readonly db: Kysely<Database>;
  private readonly clock: Clock;
  private readonly days: CalendarDays;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(options: { db: Kysely<Database>; clock: Clock; timeZone: string }) {
    this.db = options.db;
    this.clock = options.clock;
    this.days = new CalendarDays(options.timeZone);
  }

  get calendar(): CalendarDays {
    return this.days;
  }

  record(keyId: string, ownerId: string, amount: number, at: number): void {
    const day = this.days.dayOf(at);
    const entry = this.pending.get(keyId);
    if (entry !== undefined && entry.day === day) {
      entry.requests += 1;
      entry.amount += amount;
      if (at > entry.lastUsedAt) entry.lastUsedAt = at;
      return;
    }
    if (entry !== undefined) {
      // The day changed since the last flush: write what belongs to yesterday first.
      this.pending.delete(keyId);
      this.pending.set(`${keyId}@${entry.day}`, entry);
    }
    this.pending.set(keyId, { keyId, ownerId, day, requests: 1, amount, lastUsedAt: at });
  }

  recordTokenUse(tokenId: string, at: number): void {
    this.tokenUses.set(tokenId, at);
  }

  /** Counts not yet written for a key: merged into reads so users see their last call at once. */
  pendingFor(keyId: string): {
    requests: number;
    lastUsedAt: number | null;
    day: string | null;
    amount: number;
  } {
    const entry = this.pending.get(keyId);
    return entry === undefined
      ? { requests: 0, lastUsedAt: null, day: null, amount: 0 }
      : {
          requests: entry.requests,
          lastUsedAt: entry.lastUsedAt,
          day: entry.day,
          amount: entry.amount,
        };
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.flush().catch(() => {});
    }, intervalMs);
    this.timer.unref();
  }

  /** Writes everything pending; concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.flushing) await this.flushing;
    await this.flush();
  }

  /** Today's and this month's usage of a key: stored rollups plus what is still pending. */
  async totals(keyId: string): Promise<{ today: UsageTotals; month: UsageTotals }> {
    const now = this.clock.now();
    const today = this.days.dayOf(now);
    const monthStart = this.days.monthStartOf(now);
    const [todayStored, monthStored] = await Promise.all([
      sumUsage(this.db, keyId, today, today),
      sumUsage(this.db, keyId, monthStart, today),
    ]);
    const todayTotals = { ...todayStored };
    const monthTotals = { ...monthStored };
    for (const entry of this.pending.values()) {
      if (entry.keyId !== keyId) continue;
      if (entry.day === today) {
        todayTotals.requests += entry.requests;
        todayTotals.amount += entry.amount;
      }
      if (entry.day >= monthStart) {
        monthTotals.requests += entry.requests;
        monthTotals.amount += entry.amount;
      }
    }
    return { today: todayTotals, month: monthTotals };
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0 && this.tokenUses.size === 0) return;
    const batch = this.pending;
    const tokenUses = this.tokenUses;
    this.pending = new Map();
    this.tokenUses = new Map();
    const entries = [...batch.values()];
    try {
      await this.db.transaction().execute(async (trx) => {
        await applyUsageDeltas(
          trx,
          entries.map((e) => ({ keyId: e.keyId, count: e.requests, lastUsedAt: e.lastUsedAt })),
        );
        await addDailyUsage(
          trx,
          entries.map((e) => ({
            keyId: e.keyId,
            ownerId: e.ownerId,
            day: e.day,
            requests: e.requests,
            amount: e.amount,
          })),
        );
        await touchTokens(trx, tokenUses);
      });
    } catch (error) {
      this.restore(entries, tokenUses);
      throw error;
    }
  }

  private restore(entries: Pending[], tokenUses: Map<string, number>): void {
    for (const entry of entries) {
      const slot = `${entry.keyId}@${entry.day}`;
      const current = this.pending.get(slot);
      if (current === undefined) {
        this.pending.set(slot, entry);
      } else {
        current.requests += entry.requests;
        current.amount += entry.amount;
        current.lastUsedAt = Math.max(current.lastUsedAt, entry.lastUsedAt);
      }
    }
    for (const [id, at] of tokenUses) {
      if (!this.tokenUses.has(id)) this.tokenUses.set(id, at);
    }
  }
}
