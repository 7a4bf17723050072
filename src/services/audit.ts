import type { Kysely } from 'kysely';
import type { AuditEntry } from '../core/models.ts';
import {
  insertAuditEntries,
  insertAuditEntry,
  listAuditEntries,
  pruneAuditEntries,
  tokensOwnedBy,
} from '../storage/audit-repository.ts';
import type { Database } from '../storage/schema.ts';
import { existingUserIds } from '../storage/users-repository.ts';
import type { Actor } from './actor.ts';

export interface AuditEvent {
  action: string;
  ownerId: string | null;
  targetType?: string;
  targetId?: string;
  details?: Record<string, unknown>;
}

/** Writes one entry, in the caller's transaction so the entry and the change land together. */
export async function recordAudit(
  db: Kysely<Database>,
  actor: Actor,
  event: AuditEvent,
  now: number,
): Promise<void> {
  await insertAuditEntry(db, {
    created_at: now,
    actor_type: actor.type,
    actor_id: actor.id,
    owner_id: event.ownerId,
    action: event.action,
    target_type: event.targetType ?? null,
    target_id: event.targetId ?? null,
    ip: actor.ip,
    details: JSON.stringify(event.details ?? {}),
  });
}

/** Writes many entries by one actor at one time (an import), in the caller's transaction. */
export async function recordAuditMany(
  db: Kysely<Database>,
  actor: Actor,
  events: readonly AuditEvent[],
  now: number,
): Promise<void> {
  await insertAuditEntries(
    db,
    events.map((event) => ({
      created_at: now,
      actor_type: actor.type,
      actor_id: actor.id,
      owner_id: event.ownerId,
      action: event.action,
      target_type: event.targetType ?? null,
      target_id: event.targetId ?? null,
      ip: actor.ip,
      details: JSON.stringify(event.details ?? {}),
    })),
  );
}

export interface AuditPage {
  entries: AuditEntry[];
  nextCursor: number | null;
}

export async function readAudit(
  db: Kysely<Database>,
  q: { ownerId?: string; limit: number; beforeSeq?: number; targetId?: string },
): Promise<AuditPage> {
  const rows = await listAuditEntries(db, q);
  const more = rows.length > q.limit;
  const entries = more ? rows.slice(0, q.limit) : rows;
  return { entries, nextCursor: more ? (entries.at(-1)?.seq ?? null) : null };
}

/**
 * The entries of `ownerId`'s log written by someone acting on the account from outside it: an
 * admin's session or service token, or the command line. The owner sees those as the work of
 * "an administrator", without who or from which address; anonymous entries (failed sign-ins)
 * keep their address, which is the owner's to know.
 */
export async function entriesByOthers(
  db: Kysely<Database>,
  ownerId: string,
  entries: AuditEntry[],
): Promise<Set<number>> {
  const tokenIds = [
    ...new Set(
      entries.filter((e) => e.actorType === 'token' && e.actorId !== null).map((e) => e.actorId),
    ),
  ] as string[];
  const ownTokens = await tokensOwnedBy(db, ownerId, tokenIds);
  const others = new Set<number>();
  for (const entry of entries) {
    const own =
      entry.actorType === 'anonymous' ||
      (entry.actorType === 'user' && entry.actorId === ownerId) ||
      (entry.actorType === 'token' && entry.actorId !== null && ownTokens.has(entry.actorId));
    if (!own) others.add(entry.seq);
  }
  return others;
}

export interface EntryNames {
  actors: Map<string, string>;
  targets: Map<string, { name: string | null; exists: boolean }>;
}

/**
 * Names for the ids a page of entries shows: keys and tokens by their name (a deleted one by the
 * name its own entries recorded), accounts by email. `ownerId` limits what is looked up to that
 * account's own keys and tokens (and its own email), so no other account's names leak.
 */
export async function namesForEntries(
  db: Kysely<Database>,
  entries: AuditEntry[],
  ownerId: string | null,
): Promise<EntryNames> {
  const ids = (prefix: string, pick: (e: AuditEntry) => (string | null)[]) => [
    ...new Set(
      entries.flatMap(pick).filter((id): id is string => id !== null && id.startsWith(prefix)),
    ),
  ];
  const keyIds = ids('key_', (e) => [e.targetId]);
  const tokenIds = ids('tok_', (e) => [e.targetId, e.actorType === 'token' ? e.actorId : null]);
  const userIds = ids('usr_', (e) => [e.targetId, e.actorType === 'user' ? e.actorId : null]);
  // Keys and tokens of this account only (all of them for an admin): their names never leak.
  const named = (table: 'api_keys' | 'tokens', ids: string[]) =>
    ids.length === 0
      ? Promise.resolve([])
      : db
          .selectFrom(table)
          .select(['id', 'name'])
          .where('id', 'in', ids)
          .$if(ownerId !== null, (q) => q.where('owner_id', '=', ownerId as string))
          .execute();
  // An account sees only its own email; the other ids it could meet are hidden already.
  const emailIds = ownerId === null ? userIds : userIds.filter((id) => id === ownerId);
  const [keys, tokens, users, recorded] = await Promise.all([
    named('api_keys', keyIds),
    named('tokens', tokenIds),
    emailIds.length === 0
      ? []
      : db.selectFrom('users').select(['id', 'email']).where('id', 'in', emailIds).execute(),
    // The names a deleted key or token had, from the entries that created or deleted it.
    keyIds.length + tokenIds.length === 0
      ? []
      : db
          .selectFrom('audit_log')
          .select(['target_id', 'details'])
          .where('target_id', 'in', [...keyIds, ...tokenIds])
          .where('action', 'in', ['key.created', 'key.deleted', 'token.created', 'token.deleted'])
          .$if(ownerId !== null, (q) => q.where('owner_id', '=', ownerId as string))
          .execute(),
  ]);
  const targets = new Map<string, { name: string | null; exists: boolean }>();
  for (const row of recorded) {
    const name = (JSON.parse(row.details) as { name?: unknown }).name;
    if (row.target_id !== null && typeof name === 'string')
      targets.set(row.target_id, { name, exists: false });
  }
  for (const id of [...keyIds, ...tokenIds])
    if (!targets.has(id)) targets.set(id, { name: null, exists: false });
  for (const row of [...keys, ...tokens]) targets.set(row.id, { name: row.name, exists: true });
  const actors = new Map<string, string>();
  for (const row of users) {
    targets.set(row.id, { name: row.email, exists: true });
    actors.set(row.id, row.email);
  }
  for (const row of tokens) actors.set(row.id, row.name);
  return { actors, targets };
}

/**
 * The entries whose actor was an account that has since been deleted: shown with actor_type
 * `deleted_account` (the id stays, so they can be matched with the `account.deleted` entry).
 */
export async function entriesByDeletedAccounts(
  db: Kysely<Database>,
  entries: AuditEntry[],
): Promise<Set<number>> {
  const ids = [
    ...new Set(
      entries.filter((e) => e.actorType === 'user' && e.actorId !== null).map((e) => e.actorId),
    ),
  ] as string[];
  const existing = await existingUserIds(db, ids);
  const deleted = new Set<number>();
  for (const entry of entries) {
    if (entry.actorType === 'user' && entry.actorId !== null && !existing.has(entry.actorId))
      deleted.add(entry.seq);
  }
  return deleted;
}

/** Deletes entries older than AUDIT_LOG_RETENTION (null: kept forever); part of the pruning job. */
export async function pruneAudit(
  db: Kysely<Database>,
  now: number,
  retentionMs: number | null,
): Promise<number> {
  if (retentionMs === null) return 0;
  return pruneAuditEntries(db, now - retentionMs);
}
