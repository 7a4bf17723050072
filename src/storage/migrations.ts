import type { Kysely } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import { normaliseEmail } from '../core/email.ts';
import { events } from './migrations/0003-events.ts';
import { accountRecovery } from './migrations/0004-account-recovery.ts';
import { ownerBalances } from './migrations/0007-owner-balances.ts';
import { scheduled } from './migrations/0009-scheduled.ts';
import type { Database } from './schema.ts';

type Dialect = 'sqlite' | 'postgres';

/**
 * One migration set for both dialects. Types are chosen so both read back the same JavaScript
 * values: bigint times (parsed to numbers for PostgreSQL in postgres.ts), text JSON.
 */
function initial(dialect: Dialect): Migration {
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('plan', 'text', (c) => c.notNull())
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('last_seen_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .execute();
      await db.schema.createIndex('sessions_user_id').on('sessions').column('user_id').execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('owner_id', 'text', (c) =>
          c.notNull().references('users.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('start', 'text', (c) => c.notNull())
        .addColumn('last4', 'text', (c) => c.notNull())
        .addColumn('permissions', 'text', (c) => c.notNull())
        .addColumn('ip_allowlist', 'text', (c) => c.notNull())
        .addColumn('allowed_resources', 'text', (c) => c.notNull())
        .addColumn('expires_at', big)
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('revoked_at', big)
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addColumn('last_used_at', big)
        .addColumn('usage_count', big, (c) => c.notNull().defaultTo(0))
        .addColumn('limits', 'text', (c) => c.notNull())
        .addColumn('credits_remaining', big)
        .addColumn('credits_refill', 'text')
        .addColumn('credits_refill_period', 'text')
        .addColumn('billing', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('rotated_from', 'text')
        .addColumn('rotated_to', 'text')
        .execute();
      await db.schema
        .createIndex('api_keys_owner_created')
        .on('api_keys')
        .columns(['owner_id', 'created_at', 'id'])
        .execute();

      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('owner_id', 'text', (c) =>
          c.notNull().references('users.id').onDelete('cascade'),
        )
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('start', 'text', (c) => c.notNull())
        .addColumn('last4', 'text', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big)
        .addColumn('last_used_at', big)
        .execute();
      await db.schema.createIndex('tokens_owner').on('tokens').column('owner_id').execute();

      await db.schema
        .createTable('audit_log')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('actor_type', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('owner_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target_type', 'text')
        .addColumn('target_id', 'text')
        .addColumn('ip', 'text')
        .addColumn('details', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('audit_log_owner')
        .on('audit_log')
        .columns(['owner_id', 'seq'])
        .execute();

      await db.schema
        .createTable('usage_daily')
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('requests', big, (c) => c.notNull().defaultTo(0))
        .addColumn('amount', big, (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('usage_daily_pk', ['key_id', 'day', 'outcome'])
        .execute();

      await db.schema
        .createTable('usage_hourly')
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('hour', big, (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('requests', big, (c) => c.notNull().defaultTo(0))
        .addColumn('amount', big, (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('usage_hourly_pk', ['key_id', 'hour', 'outcome'])
        .execute();

      await db.schema
        .createTable('request_log')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('at', big, (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('ip', 'text')
        .addColumn('method', 'text')
        .addColumn('path', 'text')
        .addColumn('cost', big, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('request_log_key_seq')
        .on('request_log')
        .columns(['key_id', 'seq'])
        .execute();
      await db.schema.createIndex('request_log_at').on('request_log').column('at').execute();

      await db.schema
        .createTable('credit_reservations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('reserved', big, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('settled_at', big)
        .execute();
      await db.schema
        .createIndex('credit_reservations_created')
        .on('credit_reservations')
        .column('created_at')
        .execute();
    },
  };
}

/** Accounts whose emails normalise to the same address: look-alikes nobody can tell apart. */
export interface LookalikeGroup {
  normalised: string;
  accounts: Array<{ id: string; email: string }>;
}

/** Every group of two or more accounts whose stored emails normalise to one address. */
export async function findLookalikeAccounts(db: Kysely<Database>): Promise<LookalikeGroup[]> {
  const users = await db.selectFrom('users').select(['id', 'email']).orderBy('id').execute();
  const byNormalised = new Map<string, Array<{ id: string; email: string }>>();
  for (const user of users) {
    const key = normaliseEmail(user.email);
    const group = byNormalised.get(key);
    if (group === undefined) byNormalised.set(key, [user]);
    else group.push(user);
  }
  return [...byNormalised]
    .filter(([, accounts]) => accounts.length > 1)
    .map(([normalised, accounts]) => ({ normalised, accounts }));
}

/**
 * Stores every email in its normalised form (core/email.ts), so lookups and the unique index
 * compare what a person sees. Accounts that would collide are left exactly as they are, and
 * reported: which of them is the real owner is the operator's call, not a migration's.
 */
function normaliseEmails(found: LookalikeGroup[]): Migration {
  return {
    async up(untyped: Kysely<unknown>) {
      const db = untyped as Kysely<Database>;
      const groups = await findLookalikeAccounts(db);
      found.push(...groups);
      const colliding = new Set(groups.flatMap((g) => g.accounts.map((a) => a.id)));
      const users = await db.selectFrom('users').select(['id', 'email']).execute();
      for (const user of users) {
        const normalised = normaliseEmail(user.email);
        if (normalised !== user.email && !colliding.has(user.id)) {
          await db
            .updateTable('users')
            .set({ email: normalised })
            .where('id', '=', user.id)
            .execute();
        }
      }
    },
  };
}

function provider(dialect: Dialect, lookalikes: LookalikeGroup[]): MigrationProvider {
  return {
    async getMigrations() {
      return {
        '0001_initial': initial(dialect),
        '0002_normalised_emails': normaliseEmails(lookalikes),
        '0003_events': events(dialect),
        '0004_account_recovery': accountRecovery(dialect),
        '0007_owner_balances': ownerBalances(dialect),
        '0009_scheduled': scheduled(dialect),
      };
    },
  };
}

function migrator(
  db: Kysely<Database>,
  dialect: Dialect,
  lookalikes: LookalikeGroup[] = [],
): Migrator {
  return new Migrator({
    db,
    provider: provider(dialect, lookalikes),
    migrationTableName: 'keyward_migrations',
    migrationLockTableName: 'keyward_migrations_lock',
  });
}

export interface MigrationReport {
  applied: string[];
  /** Look-alike accounts 0002 found and left unchanged, when it ran now. */
  lookalikes: LookalikeGroup[];
}

/** Applies every pending migration; throws with the failing migration's error. */
export async function migrateToLatest(
  db: Kysely<Database>,
  dialect: Dialect,
): Promise<MigrationReport> {
  const lookalikes: LookalikeGroup[] = [];
  const { error, results } = await migrator(db, dialect, lookalikes).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return {
    applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName),
    lookalikes,
  };
}

/**
 * Applies the migrations up to and including `target` and no further: a database as an older
 * release left it, for upgrade tests.
 */
export async function migrateUpTo(
  db: Kysely<Database>,
  dialect: Dialect,
  target: string,
): Promise<string[]> {
  const { error, results } = await migrator(db, dialect).migrateTo(target);
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Names of migrations not yet applied: for `keyward doctor` and readiness. */
export async function pendingMigrations(db: Kysely<Database>, dialect: Dialect): Promise<string[]> {
  const all = await migrator(db, dialect).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}

/** Every migration this release knows, in order: `keyward restore` checks a backup against them. */
export async function knownMigrations(): Promise<string[]> {
  return Object.keys(await provider('sqlite', []).getMigrations()).sort();
}
