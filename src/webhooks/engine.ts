import type { FastifyBaseLogger } from 'fastify';
import { type Insertable, type Kysely, sql } from 'kysely';
import type { Agent } from 'undici';
import type { WebhookConfig } from '../config.ts';
import type { Clock } from '../core/clock.ts';
import { newId } from '../core/secrets.ts';
import type { Mailer } from '../services/mailer.ts';
import { insertAuditEntry } from '../storage/audit-repository.ts';
import type { Database, WebhookDeliveriesTable } from '../storage/schema.ts';
import { VERSION } from '../version.ts';
import type { SecretBox } from './secret-box.ts';
import { signatureHeader } from './signing.ts';
import { checkedLookup, RefusedAddressError, type Resolver, refusedLiteral } from './ssrf.ts';

/**
 * The wait after each failed attempt before the next (the Standard Webhooks / Svix schedule):
 * attempt 1 at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; 8 attempts over
 * about 27.6 hours. Each wait is jittered by ±20 %. A delivery whose last attempt fails is dead.
 */
export const RETRY_DELAYS_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
const JITTER = 0.2;

/** The wait before the next attempt after `attemptsMade` failed ones, or null: dead. */
export function retryDelayMs(attemptsMade: number, random: () => number): number | null {
  const base = RETRY_DELAYS_MS[attemptsMade - 1];
  if (base === undefined) return null;
  return Math.round(base * (1 - JITTER + 2 * JITTER * random()));
}

/** SPEC §6: a 2xx within 10 s is success; the whole attempt (connect to last byte) is bounded. */
export const ATTEMPT_TIMEOUT_MS = 10_000;
/**
 * How long a node's claim on an attempt lasts: longer than an attempt (10 s at most) and the
 * write of its result; an attempt queued on the node that could not end within its claim is not
 * made (see `next`). A node that dies holding claims delays those attempts by this much.
 */
export const CLAIM_LEASE_MS = 15_000;
/** An endpoint answering faster than this on average gets PREFETCH rounds claimed at once. */
const FAST_ENDPOINT_MS = 1000;
/** How long a wake for new events waits, gathering the commits of a burst into one fan-out. */
const EVENT_WAKE_DELAY_MS = 10;
const PREFETCH = 4;
/** The start of the receiver's answer kept in the delivery log. */
export const EXCERPT_BYTES = 1024;
/** A larger answer is cut off after this much (its connection is then not reused). */
const MAX_READ_BYTES = 64 * 1024;
/** Attempt results are written together: at most this many, or after this long. */
const RESULT_BATCH = 200;
const RESULT_DELAY_MS = 20;

type Log = Pick<FastifyBaseLogger, 'warn' | 'error' | 'info'>;

export interface EngineDeps {
  db: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  clock: Clock;
  config: WebhookConfig;
  secrets: () => SecretBox;
  resolver: Resolver;
  mailer: Mailer | null;
  log: Log;
  publicUrl: string;
  random?: () => number;
}

interface Claimed {
  /** When this node claimed it: a queued attempt whose claim is about to lapse is not made. */
  claimedAt: number;
  id: string;
  endpointId: string;
  eventId: string;
  attempts: number;
  payload: string | null;
  url: string;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: number | null;
}

interface Outcome {
  delivery: Claimed;
  attemptedAt: number;
  headers: Record<string, string>;
  status: number | null;
  excerpt: string | null;
  durationMs: number;
  error: string | null;
}

/**
 * Webhook delivery on one node: the dispatcher fans events out of the outbox into one delivery
 * per matching endpoint, the worker claims due deliveries and makes their attempts. Every node
 * runs both; the database decides who does what (docs/EVENTS.md, docs/ARCHITECTURE.md).
 */
export class WebhookEngine {
  private readonly deps: EngineDeps;
  private readonly random: () => number;
  private agent: Agent | null = null;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeQueued = false;
  private dispatchWanted = false;
  private cycle: Promise<void> | null = null;
  private cycleAgain = false;
  /** Claimed attempts held by this node (running or queued), per endpoint and in all. */
  private readonly held = new Map<string, Claimed[]>();
  private readonly active = new Map<string, number>();
  private heldTotal = 0;
  private runningTotal = 0;
  private lastClaimFull = false;
  /** The last claim got all it asked for, or a fan-out left deliveries unclaimed. */
  private moreDue = false;
  /** Recent answer time per endpoint (ms, moving average). */
  private readonly fast = new Map<string, number>();
  private readonly attempts = new Set<Promise<void>>();
  private outcomes: Outcome[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private stopController = new AbortController();
  private readonly decrypted = new Map<string, string>();

  constructor(deps: EngineDeps) {
    this.deps = deps;
    this.random = deps.random ?? Math.random;
  }

  /** Starts polling (WEBHOOK_POLL_INTERVAL) and delivering in the background. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopController = new AbortController();
    const poll = () => {
      this.wake();
      this.timer = setTimeout(poll, this.deps.config.pollIntervalMs);
      this.timer.unref();
    };
    poll();
  }

  /**
   * Looks for work now: new events in the outbox (after a local commit wrote some), or due
   * deliveries only (`dispatch` false: an attempt ended and a slot is free).
   */
  wake(dispatch = true): void {
    if (dispatch) this.dispatchWanted = true;
    if (!this.running || this.wakeQueued) return;
    this.wakeQueued = true;
    const run = () => {
      this.wakeQueued = false;
      if (!this.running) return;
      this.runCycle().catch((error: unknown) =>
        this.deps.log.error({ err: error }, 'webhook delivery cycle failed'),
      );
    };
    // New events wait a few milliseconds so that the commits of a burst are fanned out together.
    if (dispatch) setTimeout(run, EVENT_WAKE_DELAY_MS).unref();
    else setImmediate(run);
  }

  /**
   * Stops claiming; attempts in flight are cut off and their claims given back, so another node
   * (or this one after a restart) makes them at once; results already in are written.
   */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.stopController.abort();
    await this.cycle?.catch(() => {});
    await Promise.allSettled([...this.attempts]);
    await this.flush();
    const left = [...this.held.values()].flat().map((d) => d.id);
    this.held.clear();
    this.active.clear();
    this.heldTotal = 0;
    this.runningTotal = 0;
    if (left.length > 0) {
      await this.deps.db
        .updateTable('webhook_deliveries')
        .set({ claimed_until: null })
        .where('id', 'in', left)
        .where('status', '=', 'pending')
        .execute()
        .catch(() => {});
    }
    await this.agent?.close().catch(() => {});
    this.agent = null;
    // Attempts made later (runOnce) are not cut off by this stop.
    this.stopController = new AbortController();
  }

  /**
   * One full pass for tests and the CLI: fans out every pending event, then claims and attempts
   * every due delivery until none is left, waiting for the attempts and their writes.
   */
  async runOnce(): Promise<void> {
    await this.dispatchAll();
    for (;;) {
      // The fan-out may have started attempts itself; they are waited for like claimed ones.
      const claimed = await this.claim();
      if (claimed.length === 0 && this.heldTotal === 0) break;
      await Promise.allSettled([...this.attempts]);
      await this.flush();
    }
    await this.flush();
  }

  /** Deliveries not yet succeeded or dead, for the backlog gauge. */
  async pendingDeliveries(): Promise<number> {
    const row = await this.deps.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Events written to the outbox but not yet fanned out to deliveries. */
  async undispatchedEvents(): Promise<number> {
    const row = await this.deps.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('webhooks_done_at', 'is', null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  private async runCycle(): Promise<void> {
    if (this.cycle !== null) {
      this.cycleAgain = true;
      return this.cycle;
    }
    this.cycle = (async () => {
      try {
        do {
          this.cycleAgain = false;
          if (this.dispatchWanted) {
            this.dispatchWanted = false;
            await this.dispatchAll();
          }
          // Claim again only while a claim got all it asked for: there may be more.
          await this.claim();
          while (
            this.running &&
            this.lastClaimFull &&
            this.heldTotal < this.deps.config.concurrency * PREFETCH
          )
            await this.claim();
        } while (this.cycleAgain && this.running);
      } finally {
        this.cycle = null;
      }
    })();
    return this.cycle;
  }

  /** Fans out events until the outbox has none left. */
  async dispatchAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.dispatch();
      total += n;
      if (n < this.dispatchBatch()) return total;
    }
  }

  private dispatchBatch(): number {
    return Math.max(this.deps.config.batchSize, 500);
  }

  /**
   * One transaction: marks the oldest pending events as fanned out (PostgreSQL skips events
   * another node holds; SQLite's single writer serialises) and creates their deliveries. A
   * delivery is unique per endpoint and event, so nothing could be fanned out twice anyway.
   */
  async dispatch(): Promise<number> {
    const { db, dialect, clock, config } = this.deps;
    const now = clock.now();
    const lock = dialect === 'postgres' ? sql`for update skip locked` : sql``;
    const local: Claimed[] = [];
    const count = await db.transaction().execute(async (trx) => {
      const claimed = await sql<{
        seq: number;
        id: string;
        type: string;
        owner_id: string | null;
        payload: string;
      }>`
        update events set webhooks_done_at = ${now}
        where seq in (
          select seq from events where webhooks_done_at is null
          order by seq limit ${this.dispatchBatch()} ${lock}
        )
        returning seq, id, type, owner_id, payload`.execute(trx);
      const events = claimed.rows.sort((a, b) => Number(a.seq) - Number(b.seq));
      if (events.length === 0) return 0;
      const endpoints = await trx
        .selectFrom('webhook_endpoints')
        .select([
          'id',
          'owner_id',
          'scope',
          'events',
          'url',
          'secret',
          'previous_secret',
          'previous_secret_expires_at',
        ])
        .where('enabled', '=', 1)
        .execute();
      if (endpoints.length === 0) return events.length;
      const parsed = endpoints.map((e) => ({
        row: e,
        deployment: e.scope === 'deployment',
        types: new Set(JSON.parse(e.events) as string[]),
        // What this node may take on at once: the deliveries made here are claimed as they are
        // inserted, so a node with room starts them without a claim query.
        room: this.cap(e.id) - (this.held.get(e.id)?.length ?? 0),
      }));
      let room = config.concurrency * PREFETCH - this.heldTotal;
      const rows: Insertable<WebhookDeliveriesTable>[] = [];
      for (const event of events) {
        for (const endpoint of parsed) {
          const e = endpoint.row;
          if (!endpoint.deployment && e.owner_id !== event.owner_id) continue;
          if (!endpoint.types.has('*') && !endpoint.types.has(event.type)) continue;
          const delivery = newDelivery(e.id, event.id, event.type, now);
          if (room > 0 && endpoint.room > 0) {
            room -= 1;
            endpoint.room -= 1;
            delivery.claimed_until = now + CLAIM_LEASE_MS;
            local.push({
              claimedAt: now,
              id: delivery.id as string,
              endpointId: e.id,
              eventId: event.id,
              attempts: 0,
              payload: event.payload,
              url: e.url,
              secret: e.secret,
              previousSecret: e.previous_secret,
              previousSecretExpiresAt:
                e.previous_secret_expires_at === null ? null : Number(e.previous_secret_expires_at),
            });
          }
          rows.push(delivery);
        }
      }
      const inserted = new Set<string>();
      for (let i = 0; i < rows.length; i += 500) {
        const done = await trx
          .insertInto('webhook_deliveries')
          .values(rows.slice(i, i + 500))
          .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing())
          .returning('id')
          .execute();
        for (const row of done) inserted.add(row.id);
      }
      // Only rows this transaction inserted are this node's to attempt.
      const mine = local.filter((d) => inserted.has(d.id));
      if (inserted.size > mine.length) this.moreDue = true;
      local.length = 0;
      local.push(...mine);
      return events.length;
    });
    this.hold(local);
    return count;
  }

  /** Takes claimed deliveries on and starts what the endpoints' concurrency allows. */
  private hold(claimed: Claimed[]): void {
    for (const delivery of claimed) {
      const list = this.held.get(delivery.endpointId) ?? [];
      list.push(delivery);
      this.held.set(delivery.endpointId, list);
      this.heldTotal += 1;
    }
    for (const endpointId of new Set(claimed.map((d) => d.endpointId))) this.next(endpointId);
  }

  /**
   * Claims due deliveries and starts their attempts. One statement claims: PostgreSQL skips rows
   * another node is claiming (FOR UPDATE SKIP LOCKED), SQLite runs it under its write lock, and
   * the outer condition re-checks each row, so each attempt is claimed by exactly one node.
   * Fairness: endpoints this node already holds its per-endpoint limit for are left out, and
   * each endpoint gets at most what is left of its limit, so a slow endpoint holds a few slots
   * at most and the rest go to the others; everything claimed starts at once.
   */
  private async claim(): Promise<Claimed[]> {
    const { db, dialect, clock, config } = this.deps;
    const room = Math.min(config.batchSize, config.concurrency * PREFETCH - this.heldTotal);
    this.lastClaimFull = false;
    if (room <= 0) return [];
    const now = clock.now();
    // What each endpoint may still take: its cap less what this node holds for it. Endpoints
    // holding their cap are left out; unknown ones get one round (their concurrency).
    const limit = config.endpointConcurrency;
    const caps = new Map<string, number>();
    for (const id of this.fast.keys()) caps.set(id, this.cap(id));
    for (const id of this.held.keys()) caps.set(id, this.cap(id));
    const budgets = [...caps].map(
      ([id, cap]) => [id, cap - (this.held.get(id)?.length ?? 0)] as const,
    );
    const busy = budgets.filter(([, left]) => left <= 0).map(([id]) => id);
    const open = budgets.filter(([, left]) => left > 0 && left !== limit);
    const notBusy =
      busy.length === 0
        ? sql``
        : sql`and d.endpoint_id not in (${sql.join(busy.map((id) => sql`${id}`))})`;
    const budget =
      open.length === 0
        ? sql.lit(limit)
        : sql`case endpoint_id ${sql.join(
            open.map(([id, left]) => sql`when ${id} then ${sql.lit(left)}`),
            sql` `,
          )} else ${sql.lit(limit)} end`;
    const lock = dialect === 'postgres' ? sql`for update of d skip locked` : sql``;
    const ids = await sql<{ id: string }>`
      update webhook_deliveries set claimed_until = ${now + CLAIM_LEASE_MS}
      where id in (
        select id from (
          select id, next_attempt_at, endpoint_id,
            row_number() over (partition by endpoint_id order by next_attempt_at, id) as rn
          from (
            select d.id, d.endpoint_id, d.next_attempt_at from webhook_deliveries d
            where d.status = 'pending' and d.next_attempt_at <= ${now}
              and (d.claimed_until is null or d.claimed_until <= ${now})
              and not exists (
                select 1 from webhook_endpoints e where e.id = d.endpoint_id and e.enabled = 0
              )
              ${notBusy}
            order by d.next_attempt_at
            limit ${room * 4}
            ${lock}
          ) c
        ) r
        where rn <= ${budget}
        order by next_attempt_at
        limit ${room}
      )
      and status = 'pending' and (claimed_until is null or claimed_until <= ${now})
      returning id`.execute(db);
    this.lastClaimFull = ids.rows.length === room;
    // Nothing found, with no endpoint left out for being at its cap: nothing else is due now.
    this.moreDue = ids.rows.length > 0 || busy.length > 0;
    if (ids.rows.length === 0) return [];
    const rows = await db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
      .leftJoin('events as ev', 'ev.id', 'd.event_id')
      .select([
        'd.id',
        'd.endpoint_id',
        'd.event_id',
        'd.attempts',
        'ev.payload',
        'e.url',
        'e.secret',
        'e.previous_secret',
        'e.previous_secret_expires_at',
      ])
      .where(
        'd.id',
        'in',
        ids.rows.map((r) => r.id),
      )
      .execute();
    const claimed: Claimed[] = rows.map((r) => ({
      claimedAt: now,
      id: r.id,
      endpointId: r.endpoint_id,
      eventId: r.event_id,
      attempts: Number(r.attempts),
      payload: r.payload,
      url: r.url,
      secret: r.secret,
      previousSecret: r.previous_secret,
      previousSecretExpiresAt:
        r.previous_secret_expires_at === null ? null : Number(r.previous_secret_expires_at),
    }));
    this.hold(claimed);
    return claimed;
  }

  /**
   * How many attempts this node holds (running and queued) for an endpoint: one round of its
   * concurrency, or PREFETCH rounds for an endpoint that answers fast, so a busy endpoint needs a
   * claim query per few rounds rather than one per attempt.
   */
  private cap(endpointId: string): number {
    const ms = this.fast.get(endpointId);
    const limit = this.deps.config.endpointConcurrency;
    return ms !== undefined && ms < FAST_ENDPOINT_MS ? limit * PREFETCH : limit;
  }

  /**
   * Starts the endpoint's next held attempts, up to its concurrency and the node's. A queued
   * attempt whose claim would lapse before it could end is dropped: its claim lapses and it is
   * claimed again (by any node), never made twice at once.
   */
  private next(endpointId: string): void {
    const list = this.held.get(endpointId);
    if (list === undefined) return;
    const { config, clock } = this.deps;
    let running = this.active.get(endpointId) ?? 0;
    let i = running;
    const latestStart = clock.now() - (CLAIM_LEASE_MS - ATTEMPT_TIMEOUT_MS - 1000);
    while (
      i < list.length &&
      running < config.endpointConcurrency &&
      this.runningTotal < config.concurrency
    ) {
      const delivery = list[i] as Claimed;
      if (delivery.claimedAt < latestStart) {
        list.splice(i, 1);
        this.heldTotal -= 1;
        continue;
      }
      i += 1;
      running += 1;
      this.runningTotal += 1;
      const attempt = this.attempt(delivery).then((outcome) => this.ended(delivery, outcome));
      this.attempts.add(attempt);
      attempt.finally(() => this.attempts.delete(attempt));
    }
    if (list.length === 0) this.held.delete(endpointId);
    if (running > 0) this.active.set(endpointId, running);
    else this.active.delete(endpointId);
  }

  private ended(delivery: Claimed, outcome: Outcome | null): void {
    const endpointId = delivery.endpointId;
    const held = this.held.get(endpointId) ?? [];
    const index = held.indexOf(delivery);
    if (index >= 0) held.splice(index, 1);
    if (held.length === 0) this.held.delete(endpointId);
    this.heldTotal -= 1;
    this.runningTotal -= 1;
    const running = (this.active.get(endpointId) ?? 1) - 1;
    if (running > 0) this.active.set(endpointId, running);
    else this.active.delete(endpointId);
    if (outcome !== null) {
      // Moving average of the endpoint's answer time, for its prefetch cap.
      const before = this.fast.get(endpointId);
      this.fast.set(
        endpointId,
        before === undefined ? outcome.durationMs : before * 0.8 + outcome.durationMs * 0.2,
      );
      this.record(outcome);
    }
    this.next(endpointId);
    // A slot of the node is free: other endpoints' queued attempts may start.
    if (this.runningTotal < this.deps.config.concurrency) {
      for (const other of this.held.keys()) if (other !== endpointId) this.next(other);
    }
    // Claim more once half of this endpoint's cap is free: its queue never runs dry (no
    // lockstep rounds waiting for the slowest attempt), at one claim per half a cap.
    // Only when due deliveries may be waiting in the database: while changes stream in, the
    // fan-out hands this node its deliveries and a claim query would find nothing.
    const left = this.held.get(endpointId)?.length ?? 0;
    if (this.running && this.moreDue && left <= Math.floor(this.cap(endpointId) / 2))
      this.wake(false);
  }

  private secret(sealed: string, endpointId: string, column: string): string {
    const cacheKey = `${endpointId}:${column}:${sealed}`;
    let plain = this.decrypted.get(cacheKey);
    if (plain === undefined) {
      plain = this.deps.secrets().open(sealed, `${endpointId}:${column}`);
      if (this.decrypted.size > 10_000) this.decrypted.clear();
      this.decrypted.set(cacheKey, plain);
    }
    return plain;
  }

  private async getAgent(): Promise<Agent> {
    if (this.agent !== null) return this.agent;
    // Imported on first use: undici costs a start without webhooks time for nothing.
    const { Agent: UndiciAgent, buildConnector } = await import('undici');
    const allowPrivate = this.deps.config.allowPrivate;
    const connector = buildConnector({
      timeout: ATTEMPT_TIMEOUT_MS,
      allowH2: false,
      ...(!allowPrivate && { lookup: checkedLookup(this.deps.resolver) }),
    } as Parameters<typeof buildConnector>[0]);
    this.agent ??= new UndiciAgent({
      connections: this.deps.config.endpointConcurrency,
      keepAliveTimeout: 30_000,
      headersTimeout: ATTEMPT_TIMEOUT_MS,
      bodyTimeout: ATTEMPT_TIMEOUT_MS,
      connect: connector,
    });
    return this.agent;
  }

  /** One attempt: never throws; null when the node is stopping (the claim is given back). */
  private async attempt(delivery: Claimed): Promise<Outcome | null> {
    const { clock } = this.deps;
    const attemptedAt = clock.now();
    const started = performance.now();
    const headers: Record<string, string> = {};
    const fail = (error: string, status: number | null = null, excerpt: string | null = null) => ({
      delivery,
      attemptedAt,
      headers,
      status,
      excerpt,
      durationMs: Math.round(performance.now() - started),
      error,
    });
    if (delivery.payload === null) return fail('the event is no longer stored');
    let url: URL;
    try {
      url = new URL(delivery.url);
    } catch {
      return fail('the endpoint URL is not valid');
    }
    let secrets: string[];
    try {
      secrets = [this.secret(delivery.secret, delivery.endpointId, 'secret')];
      if (
        delivery.previousSecret !== null &&
        delivery.previousSecretExpiresAt !== null &&
        delivery.previousSecretExpiresAt > attemptedAt
      )
        secrets.push(this.secret(delivery.previousSecret, delivery.endpointId, 'previous_secret'));
    } catch (error) {
      this.deps.log.error(
        { err: error, endpoint_id: delivery.endpointId },
        'webhook secret unreadable',
      );
      return fail('the signing secret cannot be decrypted (see the server log)');
    }
    const timestamp = Math.floor(attemptedAt / 1000);
    const body = delivery.payload;
    headers['content-type'] = 'application/json';
    headers['user-agent'] = `Keyward-Webhooks/${VERSION}`;
    headers['webhook-id'] = delivery.eventId;
    headers['webhook-timestamp'] = String(timestamp);
    headers['webhook-signature'] = signatureHeader(secrets, delivery.eventId, timestamp, body);
    if (!this.deps.config.allowPrivate) {
      const refused = refusedLiteral(url);
      if (refused !== null) return fail(`refused: ${refused}`);
    }
    const signal = AbortSignal.any([
      AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      this.stopController.signal,
    ]);
    try {
      const agent = await this.getAgent();
      const response = await agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers,
        body,
        signal,
      });
      const { text, cut } = await readExcerpt(response.body);
      const status = response.statusCode;
      if (cut) response.body.destroy();
      if (status >= 200 && status < 300) {
        return {
          delivery,
          attemptedAt,
          headers,
          status,
          excerpt: text,
          durationMs: Math.round(performance.now() - started),
          error: null,
        };
      }
      if (status >= 300 && status < 400) {
        const location = response.headers.location;
        return fail(
          `redirects are not followed${typeof location === 'string' ? ` (Location: ${location.slice(0, 200)})` : ''}`,
          status,
          text,
        );
      }
      return fail(`the endpoint answered ${status}`, status, text);
    } catch (error) {
      if (this.stopController.signal.aborted) return null;
      return fail(describeError(error));
    }
  }

  private record(outcome: Outcome): void {
    this.outcomes.push(outcome);
    if (this.outcomes.length >= RESULT_BATCH) {
      void this.flush();
    } else if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => void this.flush(), RESULT_DELAY_MS);
    }
  }

  /** Writes the attempts made so far (one transaction), chained so writes never overlap. */
  flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.outcomes;
    this.outcomes = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing
      .then(() => this.write(batch))
      .catch((error: unknown) => {
        // The claims lapse after CLAIM_LEASE_MS and the attempts are made again: at least once.
        this.deps.log.error({ err: error }, 'webhook attempt results could not be written');
      });
    return this.flushing;
  }

  private async write(batch: Outcome[]): Promise<void> {
    const { db, clock, config } = this.deps;
    const now = clock.now();
    const disabled = await db.transaction().execute(async (trx) => {
      // An endpoint deleted while its attempts were in flight took its deliveries with it. A
      // write first: on SQLite a transaction that reads first and writes later fails at once
      // (SQLITE_BUSY) when another process committed in between.
      const ids = [...new Set(batch.map((o) => o.delivery.id))];
      const still = new Set<string>();
      for (let i = 0; i < ids.length; i += 500) {
        const rows = await trx
          .updateTable('webhook_deliveries')
          .set({ updated_at: now })
          .where('id', 'in', ids.slice(i, i + 500))
          .returning('id')
          .execute();
        for (const row of rows) still.add(row.id);
      }
      const kept = batch.filter((o) => still.has(o.delivery.id));
      const attemptRows = kept.map((o) => {
        const made = o.delivery.attempts + 1;
        const delay = o.error === null ? null : retryDelayMs(made, this.random);
        return { o, made, next: delay === null ? null : o.attemptedAt + delay };
      });
      for (let i = 0; i < attemptRows.length; i += 100) {
        await trx
          .insertInto('webhook_attempts')
          .values(
            attemptRows.slice(i, i + 100).map(({ o, next }) => ({
              delivery_id: o.delivery.id,
              attempted_at: o.attemptedAt,
              url: o.delivery.url,
              request_headers: JSON.stringify(o.headers),
              status: o.status,
              response_excerpt: o.excerpt,
              duration_ms: o.durationMs,
              error: o.error,
              next_attempt_at: next,
            })),
          )
          .execute();
      }
      const succeeded = new Map<number, string[]>();
      const failedEndpoints = new Set<string>();
      const okEndpoints = new Set<string>();
      for (const { o, next } of attemptRows) {
        if (o.error === null) {
          const status = o.status ?? 200;
          succeeded.set(status, [...(succeeded.get(status) ?? []), o.delivery.id]);
          okEndpoints.add(o.delivery.endpointId);
          continue;
        }
        failedEndpoints.add(o.delivery.endpointId);
        await trx
          .updateTable('webhook_deliveries')
          .set((eb) => ({
            status: next === null ? 'dead' : 'pending',
            attempts: eb('attempts', '+', 1),
            next_attempt_at: next,
            claimed_until: null,
            last_status: o.status,
            last_error: o.error,
            updated_at: now,
          }))
          .where('id', '=', o.delivery.id)
          .execute();
      }
      for (const [status, ids] of succeeded) {
        for (let i = 0; i < ids.length; i += 500) {
          await trx
            .updateTable('webhook_deliveries')
            .set((eb) => ({
              status: 'succeeded',
              attempts: eb('attempts', '+', 1),
              next_attempt_at: null,
              claimed_until: null,
              last_status: status,
              last_error: null,
              delivered_at: now,
              updated_at: now,
            }))
            .where('id', 'in', ids.slice(i, i + 500))
            .execute();
        }
      }
      if (failedEndpoints.size > 0) {
        await trx
          .updateTable('webhook_endpoints')
          .set({ failing_since: now })
          .where('id', 'in', [...failedEndpoints])
          .where('failing_since', 'is', null)
          .execute();
      }
      if (okEndpoints.size > 0) {
        await trx
          .updateTable('webhook_endpoints')
          .set({ failing_since: null })
          .where('id', 'in', [...okEndpoints])
          .where('failing_since', 'is not', null)
          .execute();
      }
      const failing = [...failedEndpoints].filter((id) => !okEndpoints.has(id));
      if (failing.length === 0) return [];
      const toDisable = await trx
        .selectFrom('webhook_endpoints')
        .select(['id', 'owner_id', 'url', 'failing_since'])
        .where('id', 'in', failing)
        .where('enabled', '=', 1)
        .where('failing_since', '<=', now - config.disableAfterMs)
        .execute();
      for (const endpoint of toDisable) {
        const since = new Date(Number(endpoint.failing_since)).toISOString();
        const lastError =
          kept.filter((o) => o.delivery.endpointId === endpoint.id).at(-1)?.error ?? '';
        const reason = `every delivery failed since ${since} (last: ${lastError.slice(0, 200)}); disabled automatically`;
        await trx
          .updateTable('webhook_endpoints')
          .set({ enabled: 0, disabled_reason: reason, updated_at: now })
          .where('id', '=', endpoint.id)
          .execute();
        await insertAuditEntry(trx, {
          created_at: now,
          actor_type: 'system',
          actor_id: null,
          owner_id: endpoint.owner_id,
          action: 'webhook.disabled',
          target_type: 'webhook',
          target_id: endpoint.id,
          ip: null,
          details: JSON.stringify({ reason, failing_since: since }),
        });
      }
      return toDisable.map((e) => ({ ...e, since: Number(e.failing_since) }));
    });
    for (const endpoint of disabled) {
      this.deps.log.warn(
        { endpoint_id: endpoint.id, failing_since: new Date(endpoint.since).toISOString() },
        'webhook endpoint disabled after failing continuously',
      );
      await this.tellOwner(endpoint.id, endpoint.owner_id, endpoint.url, endpoint.since).catch(
        () => {},
      );
    }
  }

  /** Mails the endpoint's owner (every admin for a deployment-wide endpoint), when mail is on. */
  private async tellOwner(
    id: string,
    ownerId: string | null,
    url: string,
    since: number,
  ): Promise<void> {
    const { mailer, db, publicUrl, config } = this.deps;
    if (mailer === null) return;
    const recipients = await db
      .selectFrom('users')
      .select('email')
      .where('disabled', '=', 0)
      .$if(ownerId !== null, (q) => q.where('id', '=', ownerId as string))
      .$if(ownerId === null, (q) => q.where('role', '=', 'admin'))
      .execute();
    const days = Math.round(config.disableAfterMs / 86_400_000);
    const sinceText = new Date(since).toISOString();
    const text = [
      `Your Keyward webhook endpoint ${id} (${url}) has been disabled.`,
      '',
      `Every delivery to it has failed since ${sinceText} (more than ${days} day${days === 1 ? '' : 's'}).`,
      'Events raised while it is disabled are not sent to it.',
      '',
      `Fix the endpoint, then enable it again on the Webhooks page: ${publicUrl}/`,
    ].join('\n');
    const html = `<p>Your Keyward webhook endpoint <code>${escapeHtml(id)}</code> (<code>${escapeHtml(url)}</code>) has been disabled.</p><p>Every delivery to it has failed since ${escapeHtml(sinceText)}. Events raised while it is disabled are not sent to it.</p><p>Fix the endpoint, then enable it again on the <a href="${escapeHtml(publicUrl)}/">Webhooks page</a>.</p>`;
    for (const { email } of recipients) {
      await mailer.send({
        to: email,
        subject: 'Keyward: a webhook endpoint was disabled',
        text,
        html,
      });
    }
  }
}

export function newDelivery(
  endpointId: string,
  eventId: string,
  eventType: string,
  now: number,
): Insertable<WebhookDeliveriesTable> {
  return {
    id: newId('whd'),
    endpoint_id: endpointId,
    event_id: eventId,
    event_type: eventType,
    status: 'pending',
    attempts: 0,
    next_attempt_at: now,
    claimed_until: null,
    last_status: null,
    last_error: null,
    created_at: now,
    updated_at: now,
    delivered_at: null,
  };
}

async function readExcerpt(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
): Promise<{ text: string; cut: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < EXCERPT_BYTES) chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_READ_BYTES) return { text: excerpt(chunks), cut: true };
  }
  return { text: excerpt(chunks), cut: false };
}

function excerpt(chunks: Buffer[]): string {
  return Buffer.concat(chunks)
    .subarray(0, EXCERPT_BYTES)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
}

function describeError(error: unknown): string {
  if (error instanceof RefusedAddressError) return `refused: ${error.message}`;
  const e = error as { name?: string; code?: string; message?: string; cause?: unknown };
  if (
    e.name === 'TimeoutError' ||
    e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e.code === 'UND_ERR_BODY_TIMEOUT'
  )
    return `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`;
  if (e.code === 'UND_ERR_CONNECT_TIMEOUT') return 'the connection timed out';
  const cause = e.cause as { code?: string; message?: string } | undefined;
  if (cause instanceof RefusedAddressError) return `refused: ${cause.message}`;
  const code = e.code ?? cause?.code;
  const message = (cause?.message ?? e.message ?? 'request failed').slice(0, 300);
  return code === undefined ? message : `${code}: ${message}`;
}

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}
