import { type Kysely, type Selectable, type SelectQueryBuilder, sql } from 'kysely';
import type { CalendarDays } from '../core/calendar.ts';
import type { Clock } from '../core/clock.ts';
import type { ApiKey } from '../core/models.ts';
import { findApiKeyById, toApiKey } from '../storage/api-keys-repository.ts';
import type { ApiKeysTable, Database } from '../storage/schema.ts';
import { keyEventData } from './events.ts';
import { claimOccurrence, raiseOnce } from './occurrences.ts';

const DAY_MS = 86_400_000;
/** When a key was last used, or created if never: what migration 0009's idle index holds. */
const IDLE_SINCE = sql<number>`coalesce(api_keys.last_used_at, api_keys.created_at)`;
/** Keys read per query while scanning. */
export const SCAN_BATCH = 500;
/** How far back an expiry still raises key.expired (a node down for days catches up; older ones are history). */
export const EXPIRED_LOOKBACK_MS = 7 * DAY_MS;
/** The notices before expiry, nearest first: a key already inside a window gets only that one. */
export const EXPIRY_NOTICES = [
  { notice: '1d', from: 0, to: DAY_MS },
  { notice: '7d', from: DAY_MS, to: 7 * DAY_MS },
] as const;
/** Percentages of a quota or of a credit balance at which usage.threshold fires, highest first. */
export const THRESHOLDS = [100, 80] as const;

export interface IdlePolicy {
  /** Days without use after which key.idle fires; 0 = off. */
  days: number;
  action: 'notify' | 'disable';
}

/** Disables an idle key through the key service (audit, key.updated, caches on every node). */
export type DisableIdleKey = (
  keyId: string,
  idleSince: number,
  data: (key: ApiKey, now: number) => Record<string, unknown>,
) => Promise<boolean>;

type KeyRow = Selectable<ApiKeysTable>;

/**
 * The scans behind key.expiring, key.expired, key.idle, usage.threshold and credits.refilled.
 * Each candidate is found with an indexed query that already leaves out occurrences raised
 * before, and raised in its own transaction through `raiseOnce`, so every node may run every
 * scan: each occurrence fires once whatever the number of nodes and restarts.
 */
export class ScheduledEvents {
  private readonly db: Kysely<Database>;
  private readonly clock: Clock;
  private readonly calendar: CalendarDays;
  private readonly idle: IdlePolicy;
  private readonly disableIdleKey: DisableIdleKey;

  constructor(deps: {
    db: Kysely<Database>;
    clock: Clock;
    calendar: CalendarDays;
    idle: IdlePolicy;
    disableIdleKey: DisableIdleKey;
  }) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.calendar = deps.calendar;
    this.idle = deps.idle;
    this.disableIdleKey = deps.disableIdleKey;
  }

  /** key.expiring: 7 days and 1 day before expires_at, only the nearest notice for a key inside a window. */
  async expiring(): Promise<number> {
    const now = this.clock.now();
    let raised = 0;
    for (const { notice, from, to } of EXPIRY_NOTICES) {
      const periodOf = sql<string>`${`${notice}:`} || cast(api_keys.expires_at as text)`;
      raised += await this.scan(
        (q) =>
          q
            .where('revoked_at', 'is', null)
            // A rotated-away key's expiry is its grace period, announced by key.rotated.
            .where('rotated_to', 'is', null)
            .where('expires_at', '>', now + from)
            .where('expires_at', '<=', now + to)
            .where(notRaised('key.expiring', periodOf)),
        'expires_at',
        async (row) => {
          const expiresAt = row.expires_at as number;
          return this.raiseForKey(
            row.id,
            (key) => key.revokedAt === null && key.expiresAt === expiresAt,
            { kind: 'key.expiring', period: `${notice}:${expiresAt}` },
            (key, at) => ({
              key: keyEventData(key, at),
              notice,
              expires_at: new Date(expiresAt).toISOString(),
            }),
          );
        },
      );
    }
    return raised;
  }

  /** key.expired: once per key and expiry, for expiries in the last EXPIRED_LOOKBACK_MS. */
  async expired(): Promise<number> {
    const now = this.clock.now();
    return this.scan(
      (q) =>
        q
          .where('revoked_at', 'is', null)
          .where('expires_at', '<=', now)
          .where('expires_at', '>', now - EXPIRED_LOOKBACK_MS)
          .where(notRaised('key.expired', sql<string>`cast(api_keys.expires_at as text)`)),
      'expires_at',
      async (row) => {
        const expiresAt = row.expires_at as number;
        return this.raiseForKey(
          row.id,
          (key) => key.revokedAt === null && key.expiresAt === expiresAt,
          { kind: 'key.expired', period: String(expiresAt) },
          (key, at) => ({
            key: keyEventData(key, at),
            expires_at: new Date(expiresAt).toISOString(),
          }),
        );
      },
    );
  }

  /**
   * key.idle: an active key unused (last_used_at, or created_at if never used) for IDLE_KEY_DAYS;
   * once per idle stretch (a key used again and idle again fires again). With IDLE_KEY_ACTION=disable
   * the key is disabled in the same transaction.
   */
  async idleKeys(): Promise<number> {
    if (this.idle.days <= 0) return 0;
    const now = this.clock.now();
    const cutoff = now - this.idle.days * DAY_MS;
    const idleSince = IDLE_SINCE;
    return this.scan(
      (q) =>
        q
          .where('revoked_at', 'is', null)
          .where('enabled', '=', 1)
          .where('rotated_to', 'is', null)
          .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
          .where(idleSince, '<=', cutoff)
          .where(notRaised('key.idle', sql<string>`cast(${idleSince} as text)`)),
      'idle_since',
      async (row) => {
        const since = row.last_used_at ?? row.created_at;
        const data = (key: ApiKey, at: number) => ({
          key: keyEventData(key, at),
          idle_days: this.idle.days,
          last_used_at: key.lastUsedAt === null ? null : new Date(key.lastUsedAt).toISOString(),
          action: this.idle.action === 'disable' ? 'disabled' : 'none',
        });
        if (this.idle.action === 'disable') return this.disableIdleKey(row.id, since, data);
        return this.raiseForKey(
          row.id,
          (key) =>
            key.revokedAt === null && key.enabled && (key.lastUsedAt ?? key.createdAt) === since,
          { kind: 'key.idle', period: String(since) },
          data,
        );
      },
    );
  }

  /**
   * usage.threshold for quotas: the valid requests or amount counted in the quota's day or month
   * (the usage rollups every node flushes) reaching 80 % or 100 % of `limits.daily` /
   * `limits.monthly`. Only the highest threshold reached fires; a lower one not yet raised is
   * marked as passed with it.
   */
  async usageThresholds(): Promise<number> {
    const now = this.clock.now();
    const today = this.calendar.dayOf(now);
    const month = this.calendar.monthOf(now);
    const monthStart = this.calendar.monthStartOf(now);
    let raised = 0;
    let after = '';
    for (;;) {
      const rows = await this.db
        .selectFrom('api_keys')
        .selectAll()
        .where('revoked_at', 'is', null)
        .where((eb) =>
          eb.or([eb('limits', 'like', '%"daily"%'), eb('limits', 'like', '%"monthly"%')]),
        )
        .where('id', '>', after)
        .orderBy('id')
        .limit(SCAN_BATCH)
        .execute();
      if (rows.length === 0) break;
      after = (rows.at(-1) as KeyRow).id;
      const usage = await this.periodUsage(
        rows.map((r) => r.id),
        monthStart,
        today,
      );
      const candidates: Array<{ key: ApiKey; quota: QuotaState }> = [];
      for (const row of rows) {
        const key = toApiKey(row);
        const used = usage.get(key.id) ?? { day: ZERO, month: ZERO };
        for (const [scope, period, totals] of [
          ['daily', today, used.day],
          ['monthly', month, used.month],
        ] as const) {
          const quota = key.limits[scope];
          if (quota === undefined) continue;
          for (const measure of ['requests', 'amount'] as const) {
            const limit = quota[measure];
            if (limit === undefined || limit <= 0) continue;
            const state = quotaState(`${scope}.${measure}`, period, limit, totals[measure]);
            if (state !== null) candidates.push({ key, quota: state });
          }
        }
      }
      raised += await this.raiseThresholds(candidates);
      if (rows.length < SCAN_BATCH) break;
    }
    return raised;
  }

  /**
   * usage.threshold for credits: the share of the balance the key started its period with that
   * is spent. With a refill, the period is the refill period and the base the refill amount;
   * without one (or in the period the balance was set in), the period starts when the balance
   * was set and the base is the balance it was set to.
   */
  async creditThresholds(): Promise<number> {
    let raised = 0;
    let after = '';
    for (;;) {
      const rows = await this.db
        .selectFrom('api_keys')
        .selectAll()
        .where('revoked_at', 'is', null)
        .where('credits_remaining', 'is not', null)
        // A balance without refill needs reading only once 80 % of what it was set to is spent.
        .where((eb) =>
          eb.or([
            eb('credits_refill', 'is not', null),
            eb(sql<number>`credits_remaining * 5`, '<=', sql<number>`credits_granted`),
          ]),
        )
        .where('id', '>', after)
        .orderBy('id')
        .limit(SCAN_BATCH)
        .execute();
      if (rows.length === 0) break;
      after = (rows.at(-1) as KeyRow).id;
      const candidates: Array<{ key: ApiKey; quota: QuotaState }> = [];
      for (const row of rows) {
        const base = creditBase(row);
        if (base === null) continue;
        const used = base.amount - (row.credits_remaining as number);
        const state = quotaState('credits', base.period, base.amount, used);
        if (state !== null) candidates.push({ key: toApiKey(row), quota: state });
      }
      raised += await this.raiseThresholds(candidates);
      if (rows.length < SCAN_BATCH) break;
    }
    return raised;
  }

  /**
   * credits.refilled: a refill is applied by the first verification of a new refill period (in
   * the same guarded update that spends, so it is never applied twice); this scan sees the
   * balance's period move past the one it was set in and raises the event once per refill.
   */
  async creditRefills(): Promise<number> {
    return this.scan(
      (q) =>
        q
          .where('revoked_at', 'is', null)
          .where('credits_refill', 'is not', null)
          .where('credits_refill_period', 'is not', null)
          .where(
            sql<boolean>`api_keys.credits_refill_period <> coalesce(api_keys.credits_set_period, '')`,
          )
          .where(notRaised('credits.refilled', sql<string>`api_keys.credits_refill_period`)),
      'id',
      async (row) => {
        const period = row.credits_refill_period as string;
        return this.raiseForKey(
          row.id,
          () => true,
          { kind: 'credits.refilled', period },
          (key, at) => ({
            key: keyEventData(key, at),
            period,
            amount: key.credits.refill?.amount ?? null,
            interval: key.credits.refill?.interval ?? null,
            remaining: key.credits.remaining,
          }),
          (current) => current.credits_refill_period === period,
        );
      },
    );
  }

  /**
   * Pages through the keys `filter` selects, in the order of an indexed value (`expires_at`, or
   * the idle-since expression) then id, and handles each.
   */
  private async scan(
    filter: (q: KeyQuery) => KeyQuery,
    order: 'expires_at' | 'idle_since' | 'id',
    handle: (row: KeyRow) => Promise<boolean>,
  ): Promise<number> {
    const value =
      order === 'expires_at'
        ? sql<number>`api_keys.expires_at`
        : order === 'idle_since'
          ? IDLE_SINCE
          : null;
    let raised = 0;
    let cursor: { value: number; id: string } | null = null;
    for (;;) {
      let query = filter(this.db.selectFrom('api_keys').selectAll());
      if (cursor !== null) {
        const { id } = cursor;
        const at = cursor.value;
        query =
          value === null
            ? query.where('id', '>', id)
            : query.where((eb) =>
                eb.or([eb(value, '>', at), eb.and([eb(value, '=', at), eb('id', '>', id)])]),
              );
      }
      const rows = await (value === null ? query : query.orderBy(value))
        .orderBy('id')
        .limit(SCAN_BATCH)
        .execute();
      for (const row of rows) if (await handle(row)) raised += 1;
      const last = rows.at(-1);
      if (last === undefined || rows.length < SCAN_BATCH) return raised;
      cursor = {
        value:
          order === 'expires_at'
            ? (last.expires_at as number)
            : (last.last_used_at ?? last.created_at),
        id: last.id,
      };
    }
  }

  /**
   * Raises one event for a key in its own transaction, after reading the key again in it and
   * checking it is still in the state the scan saw.
   */
  private async raiseForKey(
    keyId: string,
    still: (key: ApiKey) => boolean,
    occurrence: { kind: string; period: string },
    data: (key: ApiKey, now: number) => Record<string, unknown>,
    stillRow?: (row: KeyRow) => boolean,
  ): Promise<boolean> {
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', keyId)
        .executeTakeFirst();
      if (row === undefined) return false;
      const key = toApiKey(row);
      if (!still(key) || (stillRow !== undefined && !stillRow(row))) return false;
      return raiseOnce(
        trx,
        { subjectId: keyId, ...occurrence },
        {
          type: occurrence.kind as 'key.expiring',
          ownerId: key.ownerId,
          keyId,
          data: data(key, now),
        },
        now,
      );
    });
  }

  /** Raises the highest threshold of each candidate not raised before, marking lower ones passed. */
  private async raiseThresholds(
    candidates: Array<{ key: ApiKey; quota: QuotaState }>,
  ): Promise<number> {
    if (candidates.length === 0) return 0;
    const seen = new Set(
      (
        await this.db
          .selectFrom('event_occurrences')
          .select(['subject_id', 'period'])
          .where('kind', '=', 'usage.threshold')
          .where('subject_id', 'in', [...new Set(candidates.map((c) => c.key.id))])
          .where('period', 'in', [
            ...new Set(candidates.map((c) => thresholdPeriod(c.quota, c.quota.threshold))),
          ])
          .execute()
      ).map((r) => `${r.subject_id} ${r.period}`),
    );
    let raised = 0;
    for (const { key, quota } of candidates) {
      const period = thresholdPeriod(quota, quota.threshold);
      if (seen.has(`${key.id} ${period}`)) continue;
      const now = this.clock.now();
      const fired = await this.db.transaction().execute(async (trx) => {
        const current = await findApiKeyById(trx, key.id);
        if (current === undefined || current.revokedAt !== null) return false;
        const done = await raiseOnce(
          trx,
          { subjectId: key.id, kind: 'usage.threshold', period },
          {
            type: 'usage.threshold',
            ownerId: current.ownerId,
            keyId: key.id,
            data: {
              key: keyEventData(current, now),
              threshold: quota.threshold,
              quota: {
                name: quota.name,
                period: quota.period,
                limit: quota.limit,
                used: quota.used,
                percent: quota.percent,
              },
            },
          },
          now,
        );
        if (done)
          for (const lower of THRESHOLDS)
            if (lower < quota.threshold)
              await claimOccurrence(
                trx,
                {
                  subjectId: key.id,
                  kind: 'usage.threshold',
                  period: thresholdPeriod(quota, lower),
                },
                now,
              );
        return done;
      });
      if (fired) raised += 1;
    }
    return raised;
  }

  /** Valid requests and amount per key for today and for the month so far, from the rollups. */
  private async periodUsage(
    keyIds: string[],
    monthStart: string,
    today: string,
  ): Promise<Map<string, { day: Totals; month: Totals }>> {
    const rows = await this.db
      .selectFrom('usage_daily')
      .select((eb) => [
        'key_id',
        eb.fn.sum<number>('requests').as('month_requests'),
        eb.fn.sum<number>('amount').as('month_amount'),
        sql<number>`sum(case when day = ${today} then requests else 0 end)`.as('day_requests'),
        sql<number>`sum(case when day = ${today} then amount else 0 end)`.as('day_amount'),
      ])
      .where('key_id', 'in', keyIds)
      .where('outcome', '=', 'VALID')
      .where('day', '>=', monthStart)
      .where('day', '<=', today)
      .groupBy('key_id')
      .execute();
    return new Map(
      rows.map((r) => [
        r.key_id,
        {
          day: { requests: Number(r.day_requests), amount: Number(r.day_amount) },
          month: { requests: Number(r.month_requests), amount: Number(r.month_amount) },
        },
      ]),
    );
  }
}

type KeyQuery = SelectQueryBuilder<Database, 'api_keys', KeyRow>;

interface Totals {
  requests: number;
  amount: number;
}

const ZERO: Totals = { requests: 0, amount: 0 };

export interface QuotaState {
  /** `daily.requests`, `daily.amount`, `monthly.requests`, `monthly.amount` or `credits`. */
  name: string;
  /** The day (`2026-06-01`), month (`2026-06`), refill period, or `set:<ms>` for a balance set then. */
  period: string;
  limit: number;
  used: number;
  /** Whole percent used, rounded down. */
  percent: number;
  /** The highest threshold reached. */
  threshold: (typeof THRESHOLDS)[number];
}

/** The state of a quota when it has reached a threshold, else null. */
export function quotaState(
  name: string,
  period: string,
  limit: number,
  used: number,
): QuotaState | null {
  const percent = Math.floor((used * 100) / limit);
  const threshold = THRESHOLDS.find((t) => used * 100 >= t * limit);
  if (threshold === undefined) return null;
  return { name, period, limit, used, percent, threshold };
}

function thresholdPeriod(quota: QuotaState, threshold: number): string {
  return `${quota.name}:${quota.period}:${threshold}`;
}

/**
 * What a credit balance is measured against: the refill amount in a period reached by a refill,
 * else the balance it was set to, from when it was set. Null when there is nothing to measure.
 */
export function creditBase(row: KeyRow): { amount: number; period: string } | null {
  const refill =
    row.credits_refill === null ? null : (JSON.parse(row.credits_refill) as { amount: number });
  const refilled =
    refill !== null &&
    row.credits_refill_period !== null &&
    row.credits_refill_period !== row.credits_set_period;
  if (refilled)
    return refill.amount > 0
      ? { amount: refill.amount, period: row.credits_refill_period as string }
      : null;
  if (row.credits_granted === null || row.credits_granted <= 0 || row.credits_granted_at === null)
    return null;
  return { amount: Number(row.credits_granted), period: `set:${row.credits_granted_at}` };
}

/** No occurrence of `kind` with the period `period` (an SQL expression over the key row) yet. */
function notRaised(kind: string, period: ReturnType<typeof sql<string>>) {
  return sql<boolean>`not exists (select 1 from event_occurrences o where o.subject_id = api_keys.id and o.kind = ${kind} and o.period = ${period})`;
}
