import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

type Dialect = 'sqlite' | 'postgres';

/**
 * Scheduled events and the mailer (docs/EVENTS.md): indexes the scans use, what a credit balance
 * was set to and in which period (the base of the credit thresholds, and how a refill is told
 * from a balance set by hand), and the mailer's claim and attempt count per outbox row.
 */
export function scheduled(dialect: Dialect): Migration {
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('api_keys')
        // The balance the key was given when its credits were last set (create, update, rotate).
        .addColumn('credits_granted', big)
        .execute();
      await db.schema.alterTable('api_keys').addColumn('credits_granted_at', big).execute();
      // The refill period the balance was set in: a later credits_refill_period means a refill.
      await db.schema.alterTable('api_keys').addColumn('credits_set_period', 'text').execute();
      await sql`update api_keys set credits_granted = credits_remaining, credits_granted_at = updated_at, credits_set_period = credits_refill_period where credits_remaining is not null`.execute(
        db,
      );
      await db.schema
        .createIndex('api_keys_expires_at')
        .on('api_keys')
        .column('expires_at')
        .where(sql.ref('revoked_at'), 'is', null)
        .execute();
      await db.schema
        .createIndex('api_keys_idle_since')
        .on('api_keys')
        .expression(sql`coalesce(last_used_at, created_at)`)
        .where(sql.ref('revoked_at'), 'is', null)
        .execute();

      await db.schema
        .alterTable('events')
        .addColumn('mail_attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      // A node's claim on mailing the event: no other node takes it before this instant.
      await db.schema.alterTable('events').addColumn('mail_claimed_until', big).execute();
    },
  };
}
