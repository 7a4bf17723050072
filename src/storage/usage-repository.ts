import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export interface DailyUsageDelta {
  keyId: string;
  ownerId: string;
  day: string;
  requests: number;
  amount: number;
}

/** Upserts daily rollups; both dialects support `on conflict … do update`. */
export async function addDailyUsage(db: Db, deltas: readonly DailyUsageDelta[]): Promise<void> {
  for (const d of deltas) {
    await db
      .insertInto('usage_daily')
      .values({
        key_id: d.keyId,
        owner_id: d.ownerId,
        day: d.day,
        requests: d.requests,
        amount: d.amount,
      })
      .onConflict((oc) =>
        oc.columns(['key_id', 'day']).doUpdateSet({
          requests: sql<number>`usage_daily.requests + ${d.requests}`,
          amount: sql<number>`usage_daily.amount + ${d.amount}`,
        }),
      )
      .execute();
  }
}

export async function sumUsage(
  db: Db,
  keyId: string,
  fromDay: string,
  toDay: string,
): Promise<{ requests: number; amount: number }> {
  const row = await db
    .selectFrom('usage_daily')
    .select((eb) => [
      eb.fn.coalesce(eb.fn.sum<number>('requests'), sql<number>`0`).as('requests'),
      eb.fn.coalesce(eb.fn.sum<number>('amount'), sql<number>`0`).as('amount'),
    ])
    .where('key_id', '=', keyId)
    .where('day', '>=', fromDay)
    .where('day', '<=', toDay)
    .executeTakeFirstOrThrow();
  return { requests: Number(row.requests), amount: Number(row.amount) };
}
