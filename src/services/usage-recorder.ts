import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { CalendarDays } from '../core/calendar.ts';
import type { Clock } from '../core/clock.ts';
import { applyUsageDeltas } from '../storage/api-keys-repository.ts';
import type { StoreHealth } from '../storage/database.ts';
import type { Database, UsageOutcome } from '../storage/schema.ts';
import { touchTokens } from '../storage/tokens-repository.ts';
import {
  addRollups,
  appendRequestLog,
  type LogEntry,
  pruneRequestLog,
  type RollupDelta,
  sumValidUsage,
} from '../storage/usage-repository.ts';

export interface UsageEvent {
  keyId: string;
  ownerId: string;
  outcome: UsageOutcome;
  /** The cost charged (valid requests) or asked for (refused ones). */
  cost: number;
  at: number;
  ip: string | null;
  method: string | null;
  path: string | null;
}

export interface UsageTotals {
  requests: number;
  amount: number;
}

interface Bucket {
  ownerId: string;
  day: string;
  hour: number;
  requests: number;
  amount: number;
}

interface KeyCount {
  count: number;
  lastUsedAt: number;
}

const HOUR_MS = 3_600_000;
/** Past this many unflushed log entries (a database outage), further entries are dropped and counted. */
const MAX_PENDING_LOG = 200_000;
/** Pauses between the attempts of the last flush at shutdown, doubling up to the longest. */
const FINAL_RETRY_FIRST_MS = 100;
const FINAL_RETRY_LONGEST_MS = 2000;

/**
 * Counts usage in memory and writes it in one transaction per interval: the verification path
 * never waits on, or writes to, the database. Per key it keeps the valid-use count and last use,
 * open hourly/daily buckets per outcome, and the request log. A failed flush keeps everything for
 * the next one.
 */
export class UsageRecorder {
  private counts = new Map<string, KeyCount>();
  private buckets = new Map<string, Map<UsageOutcome, Bucket>>();
  private closed: RollupDelta[] = [];
  private log: LogEntry[] = [];
  private tokenUses = new Map<string, number>();
  private loggedPerKey = new Map<string, number>();
  private droppedLog = 0;
  private readonly db: Kysely<Database>;
  private readonly clock: Clock;
  private readonly days: CalendarDays;
  private readonly logRetentionMs: number;
  private readonly logMaxPerKey: number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;
  private readonly health: StoreHealth | undefined;

  constructor(options: {
    db: Kysely<Database>;
    /** Told of failed and successful flushes, so an outage seen only here still counts. */
    health?: StoreHealth;
    clock: Clock;
    timeZone: string;
    logRetentionMs: number;
    /** Request-log entries kept per key per flush interval (a hot key would otherwise flood it). */
    logMaxPerKey?: number;
  }) {
    this.db = options.db;
    this.health = options.health;
    this.clock = options.clock;
    this.days = new CalendarDays(options.timeZone);
    this.logRetentionMs = options.logRetentionMs;
    this.logMaxPerKey = options.logMaxPerKey ?? Number.POSITIVE_INFINITY;
  }

  get calendar(): CalendarDays {
    return this.days;
  }

  /** Entries dropped because the database was unreachable for too long. */
  get droppedLogEntries(): number {
    return this.droppedLog;
  }

  record(event: UsageEvent): void {
    const { keyId, outcome, cost, at } = event;
    if (outcome === 'VALID') {
      const count = this.counts.get(keyId);
      if (count === undefined) this.counts.set(keyId, { count: 1, lastUsedAt: at });
      else {
        count.count += 1;
        if (at > count.lastUsedAt) count.lastUsedAt = at;
      }
    }
    const day = this.days.dayOf(at);
    const hour = at - (at % HOUR_MS);
    let perOutcome = this.buckets.get(keyId);
    if (perOutcome === undefined) {
      perOutcome = new Map();
      this.buckets.set(keyId, perOutcome);
    }
    const bucket = perOutcome.get(outcome);
    if (bucket !== undefined && bucket.day === day && bucket.hour === hour) {
      bucket.requests += 1;
      bucket.amount += cost;
    } else {
      if (bucket !== undefined) this.closed.push({ keyId, outcome, ...bucket });
      perOutcome.set(outcome, { ownerId: event.ownerId, day, hour, requests: 1, amount: cost });
    }
    const logged = this.loggedPerKey.get(keyId) ?? 0;
    // Counts and rollups above are exact; the log keeps the first entries of each interval.
    if (logged >= this.logMaxPerKey) return;
    this.loggedPerKey.set(keyId, logged + 1);
    if (this.log.length < MAX_PENDING_LOG) this.log.push(event);
    else this.droppedLog += 1;
  }

  /**
   * Adds amount to a key's valid usage without counting a request: a usage-billing settlement
   * reporting more (or, negative, less) than verification reserved.
   */
  recordAmount(keyId: string, ownerId: string, amount: number, at: number): void {
    const day = this.days.dayOf(at);
    const hour = at - (at % HOUR_MS);
    this.closed.push({ keyId, ownerId, outcome: 'VALID', day, hour, requests: 0, amount });
  }

  recordTokenUse(tokenId: string, at: number): void {
    this.tokenUses.set(tokenId, at);
  }

  /** Valid uses not yet written for a key: merged into reads so users see their last call at once. */
  pendingFor(keyId: string): { requests: number; lastUsedAt: number | null } {
    const count = this.counts.get(keyId);
    return count === undefined
      ? { requests: 0, lastUsedAt: null }
      : { requests: count.count, lastUsedAt: count.lastUsedAt };
  }

  /**
   * Valid requests and amount in the day and month of `at` (default now): stored rollups plus what
   * is pending, each count exactly once. A flush moves the pending counts out of memory before its
   * transaction commits, so the rollups are read while no flush runs, and read again when one
   * started meanwhile (it replaces the pending maps).
   */
  totals(
    keyId: string,
    at: number = this.clock.now(),
  ): Promise<{ today: UsageTotals; month: UsageTotals }> {
    return this.sumTotals(keyId, 'key_id', at);
  }

  /** The same over all of an owner's keys (deleted ones too): an owner quota's usage so far. */
  ownerTotals(
    ownerId: string,
    at: number = this.clock.now(),
  ): Promise<{ today: UsageTotals; month: UsageTotals }> {
    return this.sumTotals(ownerId, 'owner_id', at);
  }

  private async sumTotals(
    id: string,
    by: 'key_id' | 'owner_id',
    at: number,
  ): Promise<{ today: UsageTotals; month: UsageTotals }> {
    const todayDay = this.days.dayOf(at);
    const monthStart = this.days.monthStartOf(at);
    let today: UsageTotals;
    let month: UsageTotals;
    for (;;) {
      if (this.flushing !== undefined) await this.flushing.catch(() => {});
      const { buckets, closed } = this;
      [today, month] = await Promise.all([
        sumValidUsage(this.db, id, todayDay, todayDay, by),
        sumValidUsage(this.db, id, monthStart, todayDay, by),
      ]);
      if (this.buckets === buckets && this.closed === closed) break;
    }
    const add = (day: string, requests: number, amount: number) => {
      if (day === todayDay) {
        today.requests += requests;
        today.amount += amount;
      }
      if (day >= monthStart && day <= todayDay) {
        month.requests += requests;
        month.amount += amount;
      }
    };
    const byOwner = by === 'owner_id';
    for (const delta of this.closed)
      if ((byOwner ? delta.ownerId : delta.keyId) === id && delta.outcome === 'VALID')
        add(delta.day, delta.requests, delta.amount);
    if (byOwner) {
      for (const perOutcome of this.buckets.values()) {
        const open = perOutcome.get('VALID');
        if (open !== undefined && open.ownerId === id) add(open.day, open.requests, open.amount);
      }
    } else {
      const open = this.buckets.get(id)?.get('VALID');
      if (open !== undefined) add(open.day, open.requests, open.amount);
    }
    return { today, month };
  }

  /** Keys and requests counted but not written yet. */
  get pending(): { keys: number; requests: number } {
    let requests = 0;
    for (const perOutcome of this.buckets.values())
      for (const bucket of perOutcome.values()) requests += bucket.requests;
    for (const delta of this.closed) requests += delta.requests;
    const keys = new Set([...this.buckets.keys(), ...this.closed.map((delta) => delta.keyId)]);
    return { keys: keys.size, requests };
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.flush().catch((error: unknown) => {
        this.health?.failed(error);
      });
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

  /**
   * Stops the timer and writes what is pending. With `until`, a failed write is tried again
   * (`onRetry` hears of the first failure) until that signal aborts; then, or without it, the
   * failure is thrown and the counts are lost with the process. Later calls do nothing.
   */
  async stop(
    options: { until?: AbortSignal; onRetry?: (error: unknown) => void } = {},
  ): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    if (this.flushing) await this.flushing.catch(() => {});
    let pause = FINAL_RETRY_FIRST_MS;
    for (;;) {
      try {
        await this.flush();
        return;
      } catch (error) {
        if (options.until === undefined || options.until.aborted) throw error;
        this.health?.failed(error);
        if (pause === FINAL_RETRY_FIRST_MS) options.onRetry?.(error);
        await sleep(pause, undefined, { signal: options.until }).catch(() => {});
        pause = Math.min(pause * 2, FINAL_RETRY_LONGEST_MS);
      }
    }
  }

  /** Deletes request-log entries older than the retention. */
  async prune(): Promise<void> {
    await pruneRequestLog(this.db, this.clock.now() - this.logRetentionMs);
  }

  private async write(): Promise<void> {
    if (
      this.counts.size === 0 &&
      this.buckets.size === 0 &&
      this.closed.length === 0 &&
      this.tokenUses.size === 0
    )
      return;
    const counts = this.counts;
    const rollups = this.closed;
    for (const [keyId, perOutcome] of this.buckets) {
      for (const [outcome, bucket] of perOutcome) rollups.push({ keyId, outcome, ...bucket });
    }
    const log = this.log;
    const tokenUses = this.tokenUses;
    this.counts = new Map();
    this.buckets = new Map();
    this.closed = [];
    this.log = [];
    this.tokenUses = new Map();
    this.loggedPerKey = new Map();
    try {
      await this.db.transaction().execute(async (trx) => {
        await applyUsageDeltas(
          trx,
          [...counts].map(([keyId, c]) => ({ keyId, count: c.count, lastUsedAt: c.lastUsedAt })),
        );
        await addRollups(trx, rollups);
        await appendRequestLog(trx, log);
        await touchTokens(trx, tokenUses);
      });
      this.health?.succeeded();
    } catch (error) {
      this.restore(counts, rollups, log, tokenUses);
      throw error;
    }
  }

  private restore(
    counts: Map<string, KeyCount>,
    rollups: RollupDelta[],
    log: LogEntry[],
    tokenUses: Map<string, number>,
  ): void {
    for (const [keyId, c] of counts) {
      const current = this.counts.get(keyId);
      if (current === undefined) this.counts.set(keyId, c);
      else {
        current.count += c.count;
        current.lastUsedAt = Math.max(current.lastUsedAt, c.lastUsedAt);
      }
    }
    this.closed.push(...rollups);
    const room = Math.max(0, MAX_PENDING_LOG - this.log.length);
    this.droppedLog += Math.max(0, log.length - room);
    this.log = log.slice(0, room).concat(this.log);
    for (const [id, at] of tokenUses) if (!this.tokenUses.has(id)) this.tokenUses.set(id, at);
  }
}
