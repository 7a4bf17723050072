import type { Kysely, Selectable } from 'kysely';
import type { Database, PasswordResetsTable } from './schema.ts';

type Db = Kysely<Database>;
export type PasswordResetRow = Selectable<PasswordResetsTable>;

export async function insertPasswordReset(db: Db, row: PasswordResetRow): Promise<void> {
  await db.insertInto('password_resets').values(row).execute();
}

export async function findPasswordResetByHash(
  db: Db,
  tokenHash: string,
): Promise<PasswordResetRow | undefined> {
  return db
    .selectFrom('password_resets')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
}

/**
 * Marks the link used, only if it is still unused and unexpired: the guarded update makes it
 * single-use even when the same link is submitted twice at once. True when this call won.
 */
export async function claimPasswordReset(db: Db, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('password_resets')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Ends every unused link of the user: a newer link, or a reset, makes the older ones worthless. */
export async function closeOpenPasswordResets(db: Db, userId: string, now: number): Promise<void> {
  await db
    .updateTable('password_resets')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .execute();
}

/** Deletes links that ended (used or expired) before `cutoff`. */
export async function deleteEndedPasswordResets(db: Db, cutoff: number): Promise<void> {
  await db
    .deleteFrom('password_resets')
    .where((eb) => eb.or([eb('expires_at', '<=', cutoff), eb('used_at', '<=', cutoff)]))
    .execute();
}
