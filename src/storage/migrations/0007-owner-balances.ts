import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Owner balances (SPEC §2): an account's own limits and credits, shared by all its keys. Stored on
 * the users row like a key's (`limits` null = none; `credits_remaining` null = unlimited) so that
 * one guarded UPDATE spends them. A reservation remembers whether the owner's credits were debited
 * too, so its settlement moves the owner's balance as well. Owner quotas are rebuilt from the
 * daily rollups by owner, hence the index.
 */
export function ownerBalances(dialect: 'sqlite' | 'postgres'): Migration {
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('users').addColumn('limits', 'text').execute();
      await db.schema.alterTable('users').addColumn('credits_remaining', big).execute();
      await db.schema.alterTable('users').addColumn('credits_refill', 'text').execute();
      await db.schema.alterTable('users').addColumn('credits_refill_period', 'text').execute();
      await db.schema.alterTable('credit_reservations').addColumn('owner_id', 'text').execute();
      await db.schema
        .createIndex('usage_daily_owner_day')
        .on('usage_daily')
        .columns(['owner_id', 'day'])
        .execute();
    },
  };
}
