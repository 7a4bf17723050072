import { type Kysely, sql } from 'kysely';
import type { Clock } from '../core/clock.ts';
import type { Mailer } from '../services/mailer.ts';
import type { Database } from '../storage/schema.ts';
import type { EventEnvelope } from './events.ts';
import { mailFor } from './mail-templates.ts';

/** Events claimed per query. */
const CLAIM_BATCH = 20;
/** Claims per run, so one run ends even with a large backlog (the next tick goes on). */
const MAX_BATCHES_PER_RUN = 25;
/** How long a node's claim keeps other nodes off an event while it sends. */
const CLAIM_MS = 2 * 60_000;
/** Attempts before an event is given up (marked done, logged). */
export const MAIL_MAX_ATTEMPTS = 5;
/** Wait after the n-th failed attempt: 1, 2, 4, 8 minutes. */
const RETRY_BASE_MS = 60_000;

interface ClaimedRow {
  seq: number;
  type: string;
  owner_id: string | null;
  payload: string;
  mail_attempts: number;
}

export interface MailWorkerLog {
  gaveUp(eventType: string, attempts: number): void;
}

/**
 * Mails owners the events of the outbox that concern them (key.expiring, key.leaked,
 * usage.threshold) unless they switched that kind off. Each event is claimed by one node at a
 * time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, then a short lease), sent, and marked done: at
 * least once. A failed send is retried with a growing pause, up to MAIL_MAX_ATTEMPTS attempts.
 * Without mail configured, events are marked done without sending.
 */
export class MailWorker {
  private readonly db: Kysely<Database>;
  private readonly dialect: 'sqlite' | 'postgres';
  private readonly clock: Clock;
  private readonly mailer: Mailer | null;
  private readonly dashboardUrl: string;
  private readonly log: MailWorkerLog;

  constructor(deps: {
    db: Kysely<Database>;
    dialect: 'sqlite' | 'postgres';
    clock: Clock;
    mailer: Mailer | null;
    dashboardUrl: string;
    log: MailWorkerLog;
  }) {
    this.db = deps.db;
    this.dialect = deps.dialect;
    this.clock = deps.clock;
    this.mailer = deps.mailer;
    this.dashboardUrl = deps.dashboardUrl;
    this.log = deps.log;
  }

  /** Handles what is pending now; returns how many mails were sent. */
  async run(): Promise<number> {
    let sent = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch += 1) {
      const rows = await this.claim();
      for (const row of rows) if (await this.handle(row)) sent += 1;
      if (rows.length < CLAIM_BATCH) break;
    }
    return sent;
  }

  private async claim(): Promise<ClaimedRow[]> {
    const now = this.clock.now();
    const lock = this.dialect === 'postgres' ? sql`for update skip locked` : sql``;
    const { rows } = await sql<ClaimedRow>`update events set mail_claimed_until = ${now + CLAIM_MS}
      where seq in (select seq from events where mail_done_at is null
        and (mail_claimed_until is null or mail_claimed_until < ${now})
        order by seq limit ${CLAIM_BATCH} ${lock})
      returning seq, type, owner_id, payload, mail_attempts`.execute(this.db);
    return rows
      .map((r) => ({ ...r, seq: Number(r.seq), mail_attempts: Number(r.mail_attempts) }))
      .sort((a, b) => a.seq - b.seq);
  }

  /** Sends one event's mail (or decides none is due) and records the outcome. */
  private async handle(row: ClaimedRow): Promise<boolean> {
    const message = await this.messageFor(row);
    if (message === null) {
      await this.done(row.seq);
      return false;
    }
    try {
      await (this.mailer as Mailer).send(message);
    } catch {
      const attempts = row.mail_attempts + 1;
      if (attempts >= MAIL_MAX_ATTEMPTS) {
        this.log.gaveUp(row.type, attempts);
        await this.done(row.seq, attempts);
      } else {
        await this.db
          .updateTable('events')
          .set({
            mail_attempts: attempts,
            mail_claimed_until: this.clock.now() + RETRY_BASE_MS * 2 ** (attempts - 1),
          })
          .where('seq', '=', row.seq)
          .execute();
      }
      return false;
    }
    await this.done(row.seq);
    return true;
  }

  /** The mail for a claimed event, or null when none is to be sent. */
  private async messageFor(row: ClaimedRow) {
    if (this.mailer === null || row.owner_id === null) return null;
    const owner = await this.db
      .selectFrom('users')
      .select(['email', 'disabled'])
      .where('id', '=', row.owner_id)
      .executeTakeFirst();
    if (owner === undefined || owner.disabled === 1) return null;
    const setting = await this.db
      .selectFrom('notification_settings')
      .select('email')
      .where('user_id', '=', row.owner_id)
      .where('kind', '=', row.type)
      .executeTakeFirst();
    if (setting !== undefined && setting.email === 0) return null;
    const content = mailFor(JSON.parse(row.payload) as EventEnvelope, this.dashboardUrl);
    return content === null ? null : { to: owner.email, ...content };
  }

  private async done(seq: number, attempts?: number): Promise<void> {
    await this.db
      .updateTable('events')
      .set({
        mail_done_at: this.clock.now(),
        mail_claimed_until: null,
        ...(attempts !== undefined && { mail_attempts: attempts }),
      })
      .where('seq', '=', seq)
      .execute();
  }
}
