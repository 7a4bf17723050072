import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { type NewEvent, recordEvent } from './events.ts';

export interface Occurrence {
  /** What the event is about: a key id. */
  subjectId: string;
  kind: string;
  /** Which occurrence: e.g. `7d:<expires_at>`, `daily.requests:2026-06-01:80`. */
  period: string;
}

/**
 * Claims an occurrence: true when this call inserted its row, false when it was there already.
 * Run it in the transaction that raises the event, so the row and the event commit together: on
 * PostgreSQL a second node inserting the same row waits for the first to commit and then finds
 * it; on SQLite write transactions are serial.
 */
export async function claimOccurrence(
  trx: Kysely<Database>,
  occurrence: Occurrence,
  now: number,
): Promise<boolean> {
  const inserted = await trx
    .insertInto('event_occurrences')
    .values({
      subject_id: occurrence.subjectId,
      kind: occurrence.kind,
      period: occurrence.period,
      created_at: now,
    })
    .onConflict((oc) => oc.columns(['subject_id', 'kind', 'period']).doNothing())
    .returning('subject_id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** Raises a scheduled event once per occurrence: recorded only when the claim took effect. */
export async function raiseOnce(
  trx: Kysely<Database>,
  occurrence: Occurrence,
  event: NewEvent,
  now: number,
): Promise<boolean> {
  if (!(await claimOccurrence(trx, occurrence, now))) return false;
  await recordEvent(trx, event, now);
  return true;
}
