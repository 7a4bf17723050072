import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export async function insertReservation(
  db: Db,
  row: { id: string; keyId: string; reserved: number; createdAt: number; ownerId: string | null },
): Promise<void> {
  await db
    .insertInto('credit_reservations')
    .values({
      id: row.id,
      key_id: row.keyId,
      reserved: row.reserved,
      created_at: row.createdAt,
      settled_at: null,
      owner_id: row.ownerId,
    })
    .execute();
}

/**
 * Marks a reservation settled; returns it only the first time, so a settlement cannot be replayed.
 * `ownerId` is set when the reservation debited the owner's credits too.
 */
export async function claimReservation(
  db: Db,
  id: string,
  now: number,
): Promise<{ keyId: string; reserved: number; ownerId: string | null } | undefined> {
  const row = await db
    .updateTable('credit_reservations')
    .set({ settled_at: now })
    .where('id', '=', id)
    .where('settled_at', 'is', null)
    .returning(['key_id', 'reserved', 'owner_id'])
    .executeTakeFirst();
  return row && { keyId: row.key_id, reserved: Number(row.reserved), ownerId: row.owner_id };
}

export async function deleteReservationsBefore(db: Db, cutoff: number): Promise<void> {
  await db.deleteFrom('credit_reservations').where('created_at', '<', cutoff).execute();
}
