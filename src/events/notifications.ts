import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.ts';
import { AppError } from '../core/errors.ts';
import type { Actor } from '../services/actor.ts';
import type { Database } from '../storage/schema.ts';
import { MAILED_EVENT_TYPES } from './events.ts';

export type NotificationSwitches = Record<string, boolean>;

/** Each account's email switches, one per mailed kind; a kind with no stored row is on. */
export class NotificationSettings {
  private readonly db: Kysely<Database>;
  private readonly clock: Clock;
  /** Whether this deployment can send mail at all (SMTP_URL and MAIL_FROM set). */
  readonly mailConfigured: boolean;

  constructor(deps: { db: Kysely<Database>; clock: Clock; mailConfigured: boolean }) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.mailConfigured = deps.mailConfigured;
  }

  async get(actor: Actor): Promise<NotificationSwitches> {
    const userId = this.userOf(actor);
    const rows = await this.db
      .selectFrom('notification_settings')
      .select(['kind', 'email'])
      .where('user_id', '=', userId)
      .execute();
    const stored = new Map(rows.map((r) => [r.kind, r.email === 1]));
    return Object.fromEntries(MAILED_EVENT_TYPES.map((kind) => [kind, stored.get(kind) ?? true]));
  }

  /** Sets the switches named in `changes` (each a mailed kind) and answers all of them. */
  async set(actor: Actor, changes: Record<string, unknown>): Promise<NotificationSwitches> {
    const userId = this.userOf(actor);
    const entries = Object.entries(changes);
    if (entries.length === 0)
      throw new AppError(
        'validation_error',
        'send at least one switch, e.g. {"key.expiring": false}',
      );
    for (const [kind, value] of entries) {
      if (!(MAILED_EVENT_TYPES as readonly string[]).includes(kind))
        throw new AppError(
          'validation_error',
          `"${kind}" is not a notification kind; choose from ${MAILED_EVENT_TYPES.join(', ')}`,
        );
      if (typeof value !== 'boolean')
        throw new AppError('validation_error', `"${kind}" must be true or false`);
    }
    const now = this.clock.now();
    await this.db
      .insertInto('notification_settings')
      .values(
        entries.map(([kind, value]) => ({
          user_id: userId,
          kind,
          email: value ? 1 : 0,
          updated_at: now,
        })),
      )
      .onConflict((oc) =>
        oc.columns(['user_id', 'kind']).doUpdateSet((eb) => ({
          email: eb.ref('excluded.email'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
    return this.get(actor);
  }

  private userOf(actor: Actor): string {
    if (actor.user === null)
      throw new AppError('validation_error', 'only an account has notification settings');
    return actor.user.id;
  }
}
