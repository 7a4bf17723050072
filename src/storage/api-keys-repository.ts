import { type CompiledQuery, type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import type { KeyStatus } from '../core/key-status.ts';
import type { ApiKey, CreditsRefill, OwnerLimits } from '../core/models.ts';
import { executeInChunks } from './chunked.ts';
import type { ApiKeysTable, Database } from './schema.ts';

type Db = Kysely<Database>;

export function toApiKey(row: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    environment: row.environment,
    hash: row.hash,
    start: row.start,
    last4: row.last4,
    permissions: JSON.parse(row.permissions),
    ipAllowlist: JSON.parse(row.ip_allowlist),
    allowedResources: JSON.parse(row.allowed_resources),
    expiresAt: row.expires_at,
    enabled: row.enabled === 1,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastUsedAt: row.last_used_at,
    usageCount: row.usage_count,
    limits: JSON.parse(row.limits),
    credits: {
      remaining: row.credits_remaining,
      refill: row.credits_refill === null ? null : JSON.parse(row.credits_refill),
    },
    billing: row.billing,
    metadata: JSON.parse(row.metadata),
    rotatedFrom: row.rotated_from,
    rotatedTo: row.rotated_to,
  };
}

function toRow(key: ApiKey, refillPeriod: string | null): Selectable<ApiKeysTable> {
  return {
    id: key.id,
    owner_id: key.ownerId,
    name: key.name,
    environment: key.environment,
    hash: key.hash,
    start: key.start,
    last4: key.last4,
    permissions: JSON.stringify(key.permissions),
    ip_allowlist: JSON.stringify(key.ipAllowlist),
    allowed_resources: JSON.stringify(key.allowedResources),
    expires_at: key.expiresAt,
    enabled: key.enabled ? 1 : 0,
    revoked_at: key.revokedAt,
    created_at: key.createdAt,
    updated_at: key.updatedAt,
    last_used_at: key.lastUsedAt,
    usage_count: key.usageCount,
    limits: JSON.stringify(key.limits),
    credits_remaining: key.credits.remaining,
    credits_refill: key.credits.refill === null ? null : JSON.stringify(key.credits.refill),
    credits_refill_period: refillPeriod,
    credits_granted: key.credits.remaining,
    credits_granted_at: key.credits.remaining === null ? null : key.updatedAt,
    credits_set_period: refillPeriod,
    billing: key.billing,
    metadata: JSON.stringify(key.metadata),
    rotated_from: key.rotatedFrom,
    rotated_to: key.rotatedTo,
  };
}

/**
 * @param refillPeriod the credit refill period the initial balance counts as (the current one),
 *   so the first refill happens when the next period starts; null when the key has no refill.
 */
export async function insertApiKey(
  db: Db,
  key: ApiKey,
  refillPeriod: string | null = null,
): Promise<void> {
  await db.insertInto('api_keys').values(toRow(key, refillPeriod)).execute();
}

/** Rows per multi-row insert: 26 columns each, well under both drivers' parameter limits. */
const INSERT_CHUNK = 500;

/** Inserts many keys with multi-row statements (an import); call inside the caller's transaction. */
export async function insertApiKeys(
  db: Db,
  rows: readonly { key: ApiKey; refillPeriod: string | null }[],
): Promise<void> {
  await executeInChunks(
    db,
    'insert_api_keys',
    rows.map((r) => toRow(r.key, r.refillPeriod)),
    INSERT_CHUNK,
    (chunk) => db.insertInto('api_keys').values(chunk).compile(),
    (row) => Object.values(row),
  );
}

/** Of `hashes`, the ones a key already has, with that key's id. */
export async function findKeyIdsByHash(
  db: Db,
  hashes: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < hashes.length; i += INSERT_CHUNK) {
    const rows = await db
      .selectFrom('api_keys')
      .select(['id', 'hash'])
      .where('hash', 'in', hashes.slice(i, i + INSERT_CHUNK))
      .execute();
    for (const row of rows) out.set(row.hash, row.id);
  }
  return out;
}

export async function findApiKeyById(db: Db, id: string): Promise<ApiKey | undefined> {
  const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toApiKey(row);
}

/**
 * Reads a key and locks its row until the transaction ends (PostgreSQL), for changes computed
 * from what was read: a rotation moving the credit balance. SQLite transactions are already serial.
 */
export async function lockApiKey(
  db: Db,
  dialect: 'sqlite' | 'postgres',
  id: string,
): Promise<ApiKey | undefined> {
  let query = db.selectFrom('api_keys').selectAll().where('id', '=', id);
  if (dialect === 'postgres') query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row && toApiKey(row);
}

/** What verification needs of an account with its own limits or credits (owner balances). */
export interface OwnerBalances {
  limits: OwnerLimits;
  /** Whether the account's credits are limited (spent along with the key's). */
  hasCredits: boolean;
  refill: CreditsRefill | null;
}

export interface KeyLookup {
  key: ApiKey;
  ownerDisabled: boolean;
  /** null when the owner has no limits and unlimited credits: the usual case, which costs nothing. */
  ownerBalances: OwnerBalances | null;
}

function lookupByHash(db: Db, hash: string) {
  return (
    db
      .selectFrom('api_keys')
      .selectAll('api_keys')
      // Correlated subqueries, not a join: on SQLite the join costs 5x more per lookup.
      .select((eb) => [
        eb
          .selectFrom('users')
          .select('users.disabled')
          .whereRef('users.id', '=', 'api_keys.owner_id')
          .as('owner_disabled'),
        // The owner's balances in one column, as a JSON array [limits, limited credits, refill]
        // built by the database, or null when there are none (one subquery instead of three).
        eb
          .selectFrom('users')
          .select(
            sql<
              string | null
            >`case when users.limits is null and users.credits_remaining is null then null else '[' || coalesce(users.limits, '{}') || ',' || (case when users.credits_remaining is null then 'false' else 'true' end) || ',' || coalesce(users.credits_refill, 'null') || ']' end`.as(
              'balances',
            ),
          )
          .whereRef('users.id', '=', 'api_keys.owner_id')
          .as('owner_balances'),
      ])
      .where('api_keys.hash', '=', hash)
  );
}

type LookupRow = Selectable<ApiKeysTable> & {
  owner_disabled: number | null;
  owner_balances: string | null;
};

/** The lookup compiled once per database: a cache miss pays for the query, not for building it. */
const compiledLookups = new WeakMap<Db, CompiledQuery<LookupRow>>();

/** The verification lookup: by hash, with whether the owning account is disabled and its balances. */
export async function findApiKeyByHash(db: Db, hash: string): Promise<KeyLookup | undefined> {
  let compiled = compiledLookups.get(db);
  if (compiled === undefined) {
    compiled = lookupByHash(db, '').compile();
    compiledLookups.set(db, compiled);
  }
  const { rows } = await db.executeQuery<LookupRow>({ ...compiled, parameters: [hash] });
  const row = rows[0];
  if (!row || row.owner_disabled === null) return undefined;
  const { owner_disabled, owner_balances, ...keyRow } = row;
  let ownerBalances: OwnerBalances | null = null;
  if (owner_balances !== null) {
    const [limits, hasCredits, refill] = JSON.parse(owner_balances) as [
      OwnerLimits,
      boolean,
      CreditsRefill | null,
    ];
    ownerBalances = { limits, hasCredits, refill };
  }
  return { key: toApiKey(keyRow), ownerDisabled: owner_disabled === 1, ownerBalances };
}

export type ApiKeyChanges = Partial<
  Pick<
    ApiKey,
    | 'name'
    | 'permissions'
    | 'ipAllowlist'
    | 'allowedResources'
    | 'expiresAt'
    | 'enabled'
    | 'revokedAt'
    | 'limits'
    | 'credits'
    | 'billing'
    | 'metadata'
    | 'rotatedTo'
  >
>;

export async function updateApiKey(
  db: Db,
  id: string,
  changes: ApiKeyChanges,
  now: number,
  refillPeriod: string | null = null,
): Promise<ApiKey | undefined> {
  const set: Updateable<ApiKeysTable> = { updated_at: now };
  if (changes.name !== undefined) set.name = changes.name;
  if (changes.permissions !== undefined) set.permissions = JSON.stringify(changes.permissions);
  if (changes.ipAllowlist !== undefined) set.ip_allowlist = JSON.stringify(changes.ipAllowlist);
  if (changes.allowedResources !== undefined)
    set.allowed_resources = JSON.stringify(changes.allowedResources);
  if (changes.expiresAt !== undefined) set.expires_at = changes.expiresAt;
  if (changes.enabled !== undefined) set.enabled = changes.enabled ? 1 : 0;
  if (changes.revokedAt !== undefined) set.revoked_at = changes.revokedAt;
  if (changes.limits !== undefined) set.limits = JSON.stringify(changes.limits);
  if (changes.credits !== undefined) {
    set.credits_remaining = changes.credits.remaining;
    set.credits_refill =
      changes.credits.refill === null ? null : JSON.stringify(changes.credits.refill);
    set.credits_refill_period = refillPeriod;
    set.credits_granted = changes.credits.remaining;
    set.credits_granted_at = changes.credits.remaining === null ? null : now;
    set.credits_set_period = refillPeriod;
  }
  if (changes.billing !== undefined) set.billing = changes.billing;
  if (changes.metadata !== undefined) set.metadata = JSON.stringify(changes.metadata);
  if (changes.rotatedTo !== undefined) set.rotated_to = changes.rotatedTo;
  const row = await db
    .updateTable('api_keys')
    .set(set)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toApiKey(row);
}

export async function deleteApiKey(db: Db, id: string): Promise<void> {
  await db.deleteFrom('api_keys').where('id', '=', id).execute();
}

/**
 * Keys that count against a plan: not revoked and not expired (deleted rows are gone). A rotation
 * replaces a key, so a rotated-away key in its grace period does not count while its successor
 * does; should the successor be revoked, expired or deleted first, the old key counts again.
 */
export async function countLiveKeys(db: Db, ownerId: string, now: number): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('owner_id', '=', ownerId)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .where((eb) =>
      eb.or([
        eb('rotated_to', 'is', null),
        eb.not(
          eb.exists(
            eb
              .selectFrom('api_keys as successor')
              .select('successor.id')
              .whereRef('successor.id', '=', 'api_keys.rotated_to')
              .where('successor.revoked_at', 'is', null)
              .where((s) =>
                s.or([s('successor.expires_at', 'is', null), s('successor.expires_at', '>', now)]),
              ),
          ),
        ),
      ]),
    )
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface ListKeysQuery {
  ownerId?: string;
  status?: KeyStatus;
  environment?: string;
  search?: string;
  limit: number;
  cursor?: { createdAt: number; id: string };
  now: number;
}

/**
 * The filters of a key list (owner, environment, search, status), without order or paging: shared
 * by the page query and its total count. Search matches a name (case-insensitive substring), a key
 * id exactly, or the key's visible start (`sk_live_efe4`), in part or whole.
 */
function filteredKeys(db: Db, q: Omit<ListKeysQuery, 'limit' | 'cursor'>) {
  let query = db.selectFrom('api_keys');
  if (q.ownerId !== undefined) query = query.where('owner_id', '=', q.ownerId);
  if (q.environment !== undefined) query = query.where('environment', '=', q.environment);
  if (q.search !== undefined && q.search !== '') {
    const term = q.search;
    const escaped = term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
    const pattern = `%${escaped}%`;
    query = query.where((eb) =>
      eb.or([
        sql<boolean>`lower(name) like ${pattern} escape '\\'`,
        eb('id', '=', term),
        // The visible start as typed, in part or whole ("sk_live_ef"). The dashboard never sends
        // more than the start of a pasted key, so no secret reaches a URL or a log.
        sql<boolean>`start like ${`${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`} escape '\\'`,
      ]),
    );
  }
  const now = q.now;
  switch (q.status) {
    case 'revoked':
      query = query.where('revoked_at', 'is not', null);
      break;
    case 'expired':
      query = query.where('revoked_at', 'is', null).where('expires_at', '<=', now);
      break;
    case 'disabled':
    case 'active':
      query = query
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .where('enabled', '=', q.status === 'active' ? 1 : 0);
      break;
    default:
      break;
  }
  return query;
}

/** Newest first; `limit + 1` rows are read so the caller knows whether another page exists. */
export async function listApiKeys(db: Db, q: ListKeysQuery): Promise<ApiKey[]> {
  let query = filteredKeys(db, q)
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(q.limit + 1);
  if (q.cursor !== undefined) {
    const { createdAt, id } = q.cursor;
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '<', createdAt),
        eb.and([eb('created_at', '=', createdAt), eb('id', '<', id)]),
      ]),
    );
  }
  return (await query.execute()).map(toApiKey);
}

/** How many keys the list's filters match, on every page together. */
export async function countApiKeys(
  db: Db,
  q: Omit<ListKeysQuery, 'limit' | 'cursor'>,
): Promise<number> {
  const row = await filteredKeys(db, q)
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listKeyHashesByOwner(db: Db, ownerId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select('hash')
    .where('owner_id', '=', ownerId)
    .execute();
  return rows.map((row) => row.hash);
}

export interface UsageDelta {
  keyId: string;
  count: number;
  lastUsedAt: number;
}

/** Keys per statement: SQLite allows 500 terms in a compound SELECT. */
const USAGE_CHUNK = 500;

/**
 * Adds batched usage counts, up to 500 keys per statement: `update … from` a derived table of
 * `select … union all select …` rows, which both dialects accept (the casts give PostgreSQL the
 * parameters' types). Keys deleted in the meantime have no row to join and are skipped.
 */
export async function applyUsageDeltas(db: Db, deltas: readonly UsageDelta[]): Promise<void> {
  await executeInChunks(
    db,
    'usage_deltas',
    deltas,
    USAGE_CHUNK,
    (chunk) => {
      const rows = chunk.map(
        (d) =>
          sql`select cast(${d.keyId} as text) as id, cast(${d.count} as bigint) as n, cast(${d.lastUsedAt} as bigint) as last_used`,
      );
      return sql`update api_keys set usage_count = usage_count + v.n, last_used_at = case when api_keys.last_used_at is null or api_keys.last_used_at < v.last_used then v.last_used else api_keys.last_used_at end from (${sql.join(rows, sql` union all `)}) as v where api_keys.id = v.id`.compile(
        db,
      );
    },
    (d) => [d.keyId, d.count, d.lastUsedAt],
  );
}

export interface CreditSpend {
  keyId: string;
  cost: number;
  /** The current refill period, when the key refills: a balance last filled for an older one is reset first. */
  refill: { period: string; amount: number } | null;
}

/**
 * The balance as it stands once a refill due for a new period is applied (`credits_remaining`
 * when the balance has no refill): one SQL expression for the spends and checks of keys and of
 * accounts (users-repository), which both keep `credits_remaining` and `credits_refill_period`.
 */
export function refilledBalance(refill: { period: string; amount: number } | null) {
  return refill === null
    ? sql<number>`credits_remaining`
    : sql<number>`(case when credits_refill_period is not null and credits_refill_period <> ${refill.period} then ${refill.amount} else credits_remaining end)`;
}

/**
 * Spends credits in one guarded UPDATE, so concurrent spends can never take the balance below zero
 * on either dialect. Returns the balance after the spend, or null when it does not cover `cost`
 * (nothing is spent then). A refill due for a new period is applied in the same statement.
 */
export async function spendCredits(db: Db, spend: CreditSpend): Promise<number | null> {
  const balance = refilledBalance(spend.refill);
  const row = await db
    .updateTable('api_keys')
    .set({
      credits_remaining: sql<number>`${balance} - ${spend.cost}`,
      ...(spend.refill !== null && { credits_refill_period: spend.refill.period }),
    })
    .where('id', '=', spend.keyId)
    .where('credits_remaining', 'is not', null)
    .where(sql<boolean>`${balance} >= ${spend.cost}`)
    .returning('credits_remaining')
    .executeTakeFirst();
  return row === undefined ? null : Number(row.credits_remaining);
}

/** Whether the key's balance (refilled if due) covers `cost`, without spending it. */
export async function creditsCover(db: Db, spend: CreditSpend): Promise<boolean> {
  const balance = refilledBalance(spend.refill);
  const row = await db
    .selectFrom('api_keys')
    .select('id')
    .where('id', '=', spend.keyId)
    .where('credits_remaining', 'is not', null)
    .where(sql<boolean>`${balance} >= ${spend.cost}`)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Adds `delta` credits (a refund when positive, an extra charge when negative), clamping at zero.
 * Returns the new balance and what was actually charged or refunded.
 */
export async function adjustCredits(
  db: Db,
  dialect: 'sqlite' | 'postgres',
  keyId: string,
  delta: number,
): Promise<{ remaining: number; applied: number } | null> {
  // Locked (PostgreSQL) so that `applied` is measured against the balance the update changes: a
  // spend committed between an unlocked read and the update would be counted in it twice.
  let read = db.selectFrom('api_keys').select('credits_remaining').where('id', '=', keyId);
  if (dialect === 'postgres') read = read.forUpdate();
  const before = await read.executeTakeFirst();
  if (before === undefined || before.credits_remaining === null) return null;
  const row = await db
    .updateTable('api_keys')
    .set({
      credits_remaining: sql<number>`case when credits_remaining + ${delta} < 0 then 0 else credits_remaining + ${delta} end`,
    })
    .where('id', '=', keyId)
    .where('credits_remaining', 'is not', null)
    .returning('credits_remaining')
    .executeTakeFirst();
  if (row === undefined || row.credits_remaining === null) return null;
  return {
    remaining: Number(row.credits_remaining),
    applied: Number(row.credits_remaining) - Number(before.credits_remaining),
  };
}

export async function readCredits(db: Db, keyId: string): Promise<number | null | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select('credits_remaining')
    .where('id', '=', keyId)
    .executeTakeFirst();
  return row === undefined ? undefined : row.credits_remaining;
}

/** Every key of an account, newest first: for the account's data export. */
export async function listKeysOfOwner(db: Db, ownerId: string): Promise<ApiKey[]> {
  const rows = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('owner_id', '=', ownerId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return rows.map(toApiKey);
}

/** Revokes every key of an account not revoked yet; answers the ids it revoked. */
export async function revokeKeysOfOwner(db: Db, ownerId: string, now: number): Promise<string[]> {
  const rows = await db
    .updateTable('api_keys')
    .set({ revoked_at: now, updated_at: now })
    .where('owner_id', '=', ownerId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .execute();
  return rows.map((row) => row.id);
}
