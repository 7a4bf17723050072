import type { Insertable, Kysely } from 'kysely';
import type { AuditEntry } from '../core/models.ts';
import { executeInChunks } from './chunked.ts';
import type { AuditLogTable, Database } from './schema.ts';

type Db = Kysely<Database>;

export async function insertAuditEntry(db: Db, entry: Insertable<AuditLogTable>): Promise<void> {
  await db.insertInto('audit_log').values(entry).execute();
}

/** Many entries with multi-row statements (an import), in the caller's transaction. */
export async function insertAuditEntries(
  db: Db,
  entries: readonly Insertable<AuditLogTable>[],
): Promise<void> {
  await executeInChunks(
    db,
    'insert_audit_entries',
    entries,
    1000,
    (chunk) => db.insertInto('audit_log').values(chunk).compile(),
    (entry) => Object.values(entry),
  );
}

export async function listAuditEntries(
  db: Db,
  q: { ownerId?: string; limit: number; beforeSeq?: number; targetId?: string },
): Promise<AuditEntry[]> {
  let query = db
    .selectFrom('audit_log')
    .selectAll()
    .orderBy('seq', 'desc')
    .limit(q.limit + 1);
  if (q.ownerId !== undefined) query = query.where('owner_id', '=', q.ownerId);
  if (q.beforeSeq !== undefined) query = query.where('seq', '<', q.beforeSeq);
  if (q.targetId !== undefined) query = query.where('target_id', '=', q.targetId);
  const rows = await query.execute();
  return rows.map((row) => ({
    seq: Number(row.seq),
    createdAt: row.created_at,
    actorType: row.actor_type,
    actorId: row.actor_id,
    ownerId: row.owner_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    ip: row.ip,
    details: JSON.parse(row.details),
  }));
}

/** Which of `ids` are (or were) tokens of `ownerId`: live ones, and deleted ones by their audit entry. */
export async function tokensOwnedBy(db: Db, ownerId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const live = await db
    .selectFrom('tokens')
    .select('id')
    .where('owner_id', '=', ownerId)
    .where('id', 'in', ids)
    .execute();
  const created = await db
    .selectFrom('audit_log')
    .select('target_id')
    .where('owner_id', '=', ownerId)
    .where('action', '=', 'token.created')
    .where('target_id', 'in', ids)
    .execute();
  const owned = new Set(live.map((row) => row.id));
  for (const row of created) if (row.target_id !== null) owned.add(row.target_id);
  return owned;
}

/** Entries deleted per statement, so pruning a large backlog never holds a long write lock. */
const PRUNE_BATCH = 1000;

/**
 * Deletes entries written before `cutoff`, oldest first in batches. `seq` grows with time, so
 * it walks the primary key from the start and stops at the first batch holding a newer entry:
 * no scan of the whole table, and no index on created_at needed.
 */
export async function pruneAuditEntries(db: Db, cutoff: number): Promise<number> {
  let deleted = 0;
  for (;;) {
    const batch = await db
      .selectFrom('audit_log')
      .select(['seq', 'created_at'])
      .orderBy('seq')
      .limit(PRUNE_BATCH)
      .execute();
    const old = batch.filter((row) => row.created_at < cutoff).map((row) => Number(row.seq));
    if (old.length > 0) {
      await db.deleteFrom('audit_log').where('seq', 'in', old).execute();
      deleted += old.length;
    }
    if (old.length < batch.length || batch.length < PRUNE_BATCH) return deleted;
  }
}
