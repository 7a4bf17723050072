import type { Kysely } from 'kysely';
import { maskKey } from '../core/api-key.ts';
import { keyStatus } from '../core/key-status.ts';
import type { ApiKey } from '../core/models.ts';
import { newId } from '../core/secrets.ts';
import type { Database } from '../storage/schema.ts';

/** Every event Keyward raises (SPEC §6); docs/EVENTS.md describes each payload. */
export const EVENT_TYPES = [
  'key.created',
  'key.updated',
  'key.revoked',
  'key.rotated',
  'key.deleted',
  'key.expiring',
  'key.expired',
  'key.idle',
  'key.leaked',
  'usage.threshold',
  'credits.refilled',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** The kinds an owner can be mailed about, each with its own switch on the account page. */
export const MAILED_EVENT_TYPES: readonly EventType[] = [
  'key.expiring',
  'key.leaked',
  'usage.threshold',
];

const mailed = new Set<string>(MAILED_EVENT_TYPES);

/** The key as every event shows it: never the secret or its hash. */
export function keyEventData(key: ApiKey, now: number) {
  return {
    id: key.id,
    owner_id: key.ownerId,
    name: key.name,
    environment: key.environment,
    masked: maskKey(key.start, key.last4),
    status: keyStatus(key, now),
    expires_at: key.expiresAt === null ? null : new Date(key.expiresAt).toISOString(),
  };
}

export interface NewEvent {
  type: EventType;
  /** The account the event belongs to: its endpoints and its mail get it. */
  ownerId: string | null;
  keyId: string | null;
  data: Record<string, unknown>;
}

export interface EventEnvelope {
  type: EventType;
  timestamp: string;
  data: Record<string, unknown>;
}

/**
 * Writes one event to the outbox. Call it with the transaction of the change that causes the
 * event, so that both land or neither does: a crash after the commit loses no event, because the
 * webhook dispatcher and the mailer read the outbox, not memory.
 */
export async function recordEvent(
  db: Kysely<Database>,
  event: NewEvent,
  now: number,
): Promise<string> {
  const id = newId('evt');
  const envelope: EventEnvelope = {
    type: event.type,
    timestamp: new Date(now).toISOString(),
    data: event.data,
  };
  await db
    .insertInto('events')
    .values({
      id,
      type: event.type,
      owner_id: event.ownerId,
      key_id: event.keyId,
      payload: JSON.stringify(envelope),
      created_at: now,
      webhooks_done_at: null,
      // Kinds that are never mailed are done for the mailer from the start.
      mail_done_at: mailed.has(event.type) && event.ownerId !== null ? null : now,
    })
    .execute();
  return id;
}
