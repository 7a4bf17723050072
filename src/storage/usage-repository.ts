import { type Kysely, sql } from 'kysely';
import { executeInChunks } from './chunked.ts';
import type { Database, UsageOutcome } from './schema.ts';

type Db = Kysely<Database>;

export interface RollupDelta {
  keyId: string;
  ownerId: string;
  outcome: UsageOutcome;
  /** `YYYY-MM-DD` in the deployment's time zone. */
  day: string;
  /** Start of the UTC hour, epoch ms. */
  hour: number;
  requests: number;
  amount: number;
}

export interface LogEntry {
  keyId: string;
  ownerId: string;
  at: number;
  outcome: UsageOutcome;
  ip: string | null;
  method: string | null;
  path: string | null;
  cost: number;
}

/** Rows per multi-row statement: far below both dialects' limits on bound parameters. */
const ROLLUP_CHUNK = 500;

/**
 * Sums deltas that land on the same row: one multi-row upsert may not touch a row twice on
 * PostgreSQL ("ON CONFLICT DO UPDATE command cannot affect row a second time").
 */
function merge(deltas: readonly RollupDelta[], period: 'day' | 'hour'): RollupDelta[] {
  const rows = new Map<string, RollupDelta>();
  for (const d of deltas) {
    const id = `${d.keyId} ${d[period]} ${d.outcome}`;
    const row = rows.get(id);
    if (row === undefined) rows.set(id, { ...d });
    else {
      row.requests += d.requests;
      row.amount += d.amount;
    }
  }
  return [...rows.values()];
}

const rollupRow = (d: RollupDelta) => ({
  key_id: d.keyId,
  owner_id: d.ownerId,
  outcome: d.outcome,
  requests: d.requests,
  amount: d.amount,
});

/**
 * Upserts hourly and daily rollups, a few hundred rows per statement (the usage flush writes one
 * row per active key and outcome; a statement each made the flush the cost of a busy server).
 * Both dialects support multi-row `insert … on conflict … do update` with `excluded`.
 */
export async function addRollups(db: Db, deltas: readonly RollupDelta[]): Promise<void> {
  const row = (d: RollupDelta) => [d.keyId, d.ownerId, d.outcome, d.requests, d.amount];
  await executeInChunks(
    db,
    'usage_daily',
    merge(deltas, 'day'),
    ROLLUP_CHUNK,
    (chunk) =>
      db
        .insertInto('usage_daily')
        .values(chunk.map((d) => ({ ...rollupRow(d), day: d.day })))
        .onConflict((oc) =>
          oc.columns(['key_id', 'day', 'outcome']).doUpdateSet({
            requests: sql<number>`usage_daily.requests + excluded.requests`,
            amount: sql<number>`usage_daily.amount + excluded.amount`,
          }),
        )
        .compile(),
    (d) => [...row(d), d.day],
  );
  await executeInChunks(
    db,
    'usage_hourly',
    merge(deltas, 'hour'),
    ROLLUP_CHUNK,
    (chunk) =>
      db
        .insertInto('usage_hourly')
        .values(chunk.map((d) => ({ ...rollupRow(d), hour: d.hour })))
        .onConflict((oc) =>
          oc.columns(['key_id', 'hour', 'outcome']).doUpdateSet({
            requests: sql<number>`usage_hourly.requests + excluded.requests`,
            amount: sql<number>`usage_hourly.amount + excluded.amount`,
          }),
        )
        .compile(),
    (d) => [...row(d), d.hour],
  );
}

const LOG_CHUNK = 500;

export async function appendRequestLog(db: Db, entries: readonly LogEntry[]): Promise<void> {
  await executeInChunks(
    db,
    'request_log',
    entries,
    LOG_CHUNK,
    (chunk) =>
      db
        .insertInto('request_log')
        .values(
          chunk.map((e) => ({
            key_id: e.keyId,
            owner_id: e.ownerId,
            at: e.at,
            outcome: e.outcome,
            ip: e.ip,
            method: e.method,
            path: e.path,
            cost: e.cost,
          })),
        )
        .compile(),
    (e) => [e.keyId, e.ownerId, e.at, e.outcome, e.ip, e.method, e.path, e.cost],
  );
}

/** Valid requests and their summed cost between two days (inclusive): what quotas count. */
/** Valid requests and amount of one key (or, with `by: 'owner_id'`, of all an owner's keys). */
export async function sumValidUsage(
  db: Db,
  id: string,
  fromDay: string,
  toDay: string,
  by: 'key_id' | 'owner_id' = 'key_id',
): Promise<{ requests: number; amount: number }> {
  const row = await db
    .selectFrom('usage_daily')
    .select((eb) => [
      eb.fn.coalesce(eb.fn.sum<number>('requests'), sql<number>`0`).as('requests'),
      eb.fn.coalesce(eb.fn.sum<number>('amount'), sql<number>`0`).as('amount'),
    ])
    .where(by, '=', id)
    .where('outcome', '=', 'VALID')
    .where('day', '>=', fromDay)
    .where('day', '<=', toDay)
    .executeTakeFirstOrThrow();
  return { requests: Number(row.requests), amount: Number(row.amount) };
}

export interface UsageBucket {
  bucket: string;
  outcome: UsageOutcome;
  requests: number;
  amount: number;
}

export async function dailyUsage(
  db: Db,
  keyId: string,
  fromDay: string,
  toDay: string,
): Promise<UsageBucket[]> {
  const rows = await db
    .selectFrom('usage_daily')
    .select(['day', 'outcome', 'requests', 'amount'])
    .where('key_id', '=', keyId)
    .where('day', '>=', fromDay)
    .where('day', '<=', toDay)
    .orderBy('day')
    .orderBy('outcome')
    .execute();
  return rows.map((r) => ({
    bucket: r.day,
    outcome: r.outcome,
    requests: Number(r.requests),
    amount: Number(r.amount),
  }));
}

export async function hourlyUsage(
  db: Db,
  keyId: string,
  from: number,
  to: number,
): Promise<UsageBucket[]> {
  const rows = await db
    .selectFrom('usage_hourly')
    .select(['hour', 'outcome', 'requests', 'amount'])
    .where('key_id', '=', keyId)
    .where('hour', '>=', from)
    .where('hour', '<=', to)
    .orderBy('hour')
    .orderBy('outcome')
    .execute();
  return rows.map((r) => ({
    bucket: new Date(Number(r.hour)).toISOString(),
    outcome: r.outcome,
    requests: Number(r.requests),
    amount: Number(r.amount),
  }));
}

export interface LoggedRequest extends LogEntry {
  seq: number;
}

export async function readRequestLog(
  db: Db,
  keyId: string,
  limit: number,
  beforeSeq?: number,
): Promise<LoggedRequest[]> {
  let query = db
    .selectFrom('request_log')
    .selectAll()
    .where('key_id', '=', keyId)
    .orderBy('seq', 'desc')
    .limit(limit + 1);
  if (beforeSeq !== undefined) query = query.where('seq', '<', beforeSeq);
  const rows = await query.execute();
  return rows.map((r) => ({
    seq: Number(r.seq),
    keyId: r.key_id,
    ownerId: r.owner_id,
    at: Number(r.at),
    outcome: r.outcome,
    ip: r.ip,
    method: r.method,
    path: r.path,
    cost: Number(r.cost),
  }));
}

export async function pruneRequestLog(db: Db, cutoff: number): Promise<void> {
  await db.deleteFrom('request_log').where('at', '<', cutoff).execute();
}

/** Deletes an account's request log (client addresses and paths): when the account is deleted. */
export async function deleteRequestLogOfOwner(db: Db, ownerId: string): Promise<void> {
  await db.deleteFrom('request_log').where('owner_id', '=', ownerId).execute();
}

export interface OwnerDailyUsage {
  keyId: string;
  day: string;
  outcome: UsageOutcome;
  requests: number;
  amount: number;
}

/** An account's daily rollups, oldest first: for the account's data export. */
export async function dailyUsageOfOwner(db: Db, ownerId: string): Promise<OwnerDailyUsage[]> {
  const rows = await db
    .selectFrom('usage_daily')
    .select(['key_id', 'day', 'outcome', 'requests', 'amount'])
    .where('owner_id', '=', ownerId)
    .orderBy('day')
    .orderBy('key_id')
    .orderBy('outcome')
    .execute();
  return rows.map((r) => ({
    keyId: r.key_id,
    day: r.day,
    outcome: r.outcome,
    requests: Number(r.requests),
    amount: Number(r.amount),
  }));
}
