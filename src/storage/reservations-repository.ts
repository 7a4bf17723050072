import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export async function insertReservation(
  db: Db,
  row: { id: string; keyId: string; reserved: number; createdAt: number },
): Promise<void> {
  await db
    .insertInto('credit_reservations')
    .values({
      id: row.id,
      key_id: row.keyId,
      reserved: row.reserved,
      created_at: row.createdAt,
      settled_at: null,
    })
    .execute();
}

/** Marks a reservation settled; returns it only the first time, so a settlement cannot be replayed. */
export async function claimReservation(
  db: Db,
  id: string,
  now: number,
): Promise<{ keyId: string; reserved: number } | undefined> {
  const row = await db
    .updateTable('credit_reservations')
    .set({ settled_at: now })
    .where('id', '=', id)
    .where('settled_at', 'is', null)
    .returning(['key_id', 'reserved'])
    .executeTakeFirst();
  return row && { keyId: row.key_id, reserved: Number(row.reserved) };
}

export async function deleteReservationsBefore(db: Db, cutoff: number): Promise<void> {
  await db.deleteFrom('credit_reservations').where('created_at', '<', cutoff).execute();
}
