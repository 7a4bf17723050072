import type { Kysely } from 'kysely';
import type { AuditEntry } from '../core/models.ts';
import {
  insertAuditEntries,
  insertAuditEntry,
  listAuditEntries,
  tokensOwnedBy,
} from '../storage/audit-repository.ts';
import type { Database } from '../storage/schema.ts';
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
