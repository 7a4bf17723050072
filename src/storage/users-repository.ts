import { type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import type { Credits, OwnerLimits, Role, User } from '../core/models.ts';
import { refilledBalance } from './api-keys-repository.ts';
import type { Database, UsersTable } from './schema.ts';

type Db = Kysely<Database>;

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    email: row.email,
    role: row.role,
    plan: row.plan,
    disabled: row.disabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    limits: row.limits === null ? {} : JSON.parse(row.limits),
    credits: {
      remaining: row.credits_remaining,
      refill: row.credits_refill === null ? null : JSON.parse(row.credits_refill),
    },
  };
}

export interface UserWithPassword {
  user: User;
  passwordHash: string;
}

export async function insertUser(
  db: Db,
  row: { id: string; email: string; passwordHash: string; role: Role; plan: string; now: number },
): Promise<User> {
  const inserted = await db
    .insertInto('users')
    .values({
      id: row.id,
      email: row.email,
      password_hash: row.passwordHash,
      role: row.role,
      plan: row.plan,
      disabled: 0,
      created_at: row.now,
      updated_at: row.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toUser(inserted);
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toUser(row);
}

export async function findUserByEmail(
  db: Db,
  email: string,
): Promise<UserWithPassword | undefined> {
  const row = await db
    .selectFrom('users')
    .selectAll()
    .where('email', '=', email)
    .executeTakeFirst();
  return row && { user: toUser(row), passwordHash: row.password_hash };
}

export async function findPasswordHash(db: Db, id: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('users')
    .select('password_hash')
    .where('id', '=', id)
    .executeTakeFirst();
  return row?.password_hash;
}

export async function updatePassword(
  db: Db,
  id: string,
  passwordHash: string,
  now: number,
): Promise<void> {
  await db
    .updateTable('users')
    .set({ password_hash: passwordHash, updated_at: now })
    .where('id', '=', id)
    .execute();
}

export async function updateUser(
  db: Db,
  id: string,
  changes: { plan?: string; disabled?: boolean; role?: Role },
  now: number,
): Promise<User | undefined> {
  const row = await db
    .updateTable('users')
    .set({
      ...(changes.plan !== undefined && { plan: changes.plan }),
      ...(changes.disabled !== undefined && { disabled: changes.disabled ? 1 : 0 }),
      ...(changes.role !== undefined && { role: changes.role }),
      updated_at: now,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toUser(row);
}

export async function countUsers(db: Db): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listUsers(
  db: Db,
  options: { limit: number; after?: string },
): Promise<User[]> {
  let query = db.selectFrom('users').selectAll().orderBy('id').limit(options.limit);
  if (options.after !== undefined) query = query.where('id', '>', options.after);
  return (await query.execute()).map(toUser);
}

/**
 * Locks the user's row until the transaction ends (PostgreSQL), so that checks such as the plan's
 * key count and the insert they guard cannot interleave. SQLite transactions are already serial.
 */
export async function lockUser(
  db: Db,
  dialect: 'sqlite' | 'postgres',
  id: string,
): Promise<User | undefined> {
  let query = db.selectFrom('users').selectAll().where('id', '=', id);
  if (dialect === 'postgres') query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row && toUser(row);
}

/** Deletes the account; its sessions, keys and tokens go with it (ON DELETE CASCADE). */
export async function deleteUser(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Which of `ids` are accounts that exist. */
export async function existingUserIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('users').select('id').where('id', 'in', ids).execute();
  return new Set(rows.map((row) => row.id));
}

/** Account ids by (normalised) email, for the emails that have an account. */
export async function userIdsByEmail(
  db: Db,
  emails: readonly string[],
): Promise<Map<string, string>> {
  if (emails.length === 0) return new Map();
  const rows = await db
    .selectFrom('users')
    .select(['id', 'email'])
    .where('email', 'in', emails)
    .execute();
  return new Map(rows.map((row) => [row.email, row.id]));
}

/**
 * Sets an account's own limits and/or credits (owner balances). Empty limits are stored as null,
 * which the verification lookup reads as "no owner limits".
 * @param refillPeriod the refill period a balance set now counts as (see insertApiKey).
 */
export async function updateUserBalances(
  db: Db,
  id: string,
  changes: { limits?: OwnerLimits; credits?: Credits },
  now: number,
  refillPeriod: string | null,
): Promise<User | undefined> {
  const set: Updateable<UsersTable> = { updated_at: now };
  if (changes.limits !== undefined)
    set.limits = Object.keys(changes.limits).length === 0 ? null : JSON.stringify(changes.limits);
  if (changes.credits !== undefined) {
    set.credits_remaining = changes.credits.remaining;
    set.credits_refill =
      changes.credits.refill === null ? null : JSON.stringify(changes.credits.refill);
    set.credits_refill_period = refillPeriod;
  }
  const row = await db
    .updateTable('users')
    .set(set)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toUser(row);
}

/**
 * Spends an account's credits in one guarded UPDATE, exactly as spendCredits does for a key:
 * the balance never goes below zero, a refill due for a new period is applied in the same
 * statement. Returns the balance after the spend, or null when it does not cover `cost`.
 */
export async function spendOwnerCredits(
  db: Db,
  spend: { ownerId: string; cost: number; refill: { period: string; amount: number } | null },
): Promise<number | null> {
  const balance = refilledBalance(spend.refill);
  const row = await db
    .updateTable('users')
    .set({
      credits_remaining: sql<number>`${balance} - ${spend.cost}`,
      ...(spend.refill !== null && { credits_refill_period: spend.refill.period }),
    })
    .where('id', '=', spend.ownerId)
    .where('credits_remaining', 'is not', null)
    .where(sql<boolean>`${balance} >= ${spend.cost}`)
    .returning('credits_remaining')
    .executeTakeFirst();
  return row === undefined ? null : Number(row.credits_remaining);
}

/**
 * Adds `delta` to an account's credits (a refund when positive, an extra charge when negative),
 * clamping at zero; null when the account's credits are unlimited. Call after lockUser.
 */
export async function adjustOwnerCredits(
  db: Db,
  ownerId: string,
  delta: number,
): Promise<{ remaining: number; applied: number } | null> {
  const before = await db
    .selectFrom('users')
    .select('credits_remaining')
    .where('id', '=', ownerId)
    .executeTakeFirst();
  if (before === undefined || before.credits_remaining === null) return null;
  const row = await db
    .updateTable('users')
    .set({
      credits_remaining: sql<number>`case when credits_remaining + ${delta} < 0 then 0 else credits_remaining + ${delta} end`,
    })
    .where('id', '=', ownerId)
    .where('credits_remaining', 'is not', null)
    .returning('credits_remaining')
    .executeTakeFirst();
  if (row === undefined || row.credits_remaining === null) return null;
  return {
    remaining: Number(row.credits_remaining),
    applied: Number(row.credits_remaining) - Number(before.credits_remaining),
  };
}

/** Locks an account's row until the transaction ends (PostgreSQL only; SQLite is serial). */
export async function lockUserRow(db: Db, id: string): Promise<void> {
  await db.selectFrom('users').select('id').where('id', '=', id).forUpdate().execute();
}
