import type { Kysely, Selectable } from 'kysely';
import type { WebhookConfig } from '../config.ts';
import type { Clock } from '../core/clock.ts';
import { AppError } from '../core/errors.ts';
import { newId } from '../core/secrets.ts';
import { EVENT_TYPES } from '../events/events.ts';
import { type Actor, hasScope } from '../services/actor.ts';
import { recordAudit } from '../services/audit.ts';
import type {
  Database,
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
} from '../storage/schema.ts';
import { newDelivery } from './engine.ts';
import { generateWebhookSecret, type SecretBox } from './secret-box.ts';
import { checkWebhookUrl, type Resolver } from './ssrf.ts';

/** The event a test delivery carries: not a key event, never fanned out to other endpoints. */
export const TEST_EVENT_TYPE = 'webhook.test';
/** Event names an endpoint may subscribe to: every event type, or `*` for all. */
export const SUBSCRIBABLE = ['*', ...EVENT_TYPES] as const;
/** Longest overlap a secret roll may keep the previous secret signing. */
export const MAX_ROLL_OVERLAP_MS = 7 * 86_400_000;

type EndpointRow = Selectable<WebhookEndpointsTable>;
type DeliveryRow = Selectable<WebhookDeliveriesTable>;
type AttemptRow = Selectable<WebhookAttemptsTable>;

export interface EndpointView {
  object: 'webhook_endpoint';
  id: string;
  scope: 'account' | 'deployment';
  owner_id: string | null;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface AttemptView {
  attempted_at: string;
  url: string;
  request_headers: Record<string, string>;
  status: number | null;
  response_excerpt: string | null;
  duration_ms: number;
  error: string | null;
  next_attempt_at: string | null;
}

export interface DeliveryView {
  object: 'webhook_delivery';
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: 'pending' | 'succeeded' | 'dead';
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  last_response_excerpt: string | null;
  last_duration_ms: number | null;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
}

const iso = (ms: number | null): string | null =>
  ms === null ? null : new Date(Number(ms)).toISOString();

function endpointView(row: EndpointRow): EndpointView {
  return {
    object: 'webhook_endpoint',
    id: row.id,
    scope: row.scope,
    owner_id: row.owner_id,
    url: row.url,
    description: row.description,
    events: JSON.parse(row.events) as string[],
    enabled: Number(row.enabled) === 1,
    disabled_reason: row.disabled_reason,
    failing_since: iso(row.failing_since),
    previous_secret_expires_at: iso(row.previous_secret_expires_at),
    created_at: iso(row.created_at) as string,
    updated_at: iso(row.updated_at) as string,
  };
}

function attemptView(row: AttemptRow): AttemptView {
  return {
    attempted_at: iso(row.attempted_at) as string,
    url: row.url,
    request_headers: JSON.parse(row.request_headers) as Record<string, string>,
    status: row.status,
    response_excerpt: row.response_excerpt,
    duration_ms: Number(row.duration_ms),
    error: row.error,
    next_attempt_at: iso(row.next_attempt_at),
  };
}

function deliveryView(row: DeliveryRow, last: AttemptRow | undefined): DeliveryView {
  return {
    object: 'webhook_delivery',
    id: row.id,
    endpoint_id: row.endpoint_id,
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status,
    attempts: Number(row.attempts),
    next_attempt_at: row.status === 'pending' ? iso(row.next_attempt_at) : null,
    last_status: row.last_status,
    last_error: row.last_error,
    last_response_excerpt: last?.response_excerpt ?? null,
    last_duration_ms: last === undefined ? null : Number(last.duration_ms),
    created_at: iso(row.created_at) as string,
    updated_at: iso(row.updated_at) as string,
    delivered_at: iso(row.delivered_at),
  };
}

export interface CreateEndpointInput {
  url: string;
  events: string[];
  description?: string;
  scope?: 'account' | 'deployment';
}

export interface UpdateEndpointInput {
  url?: string;
  events?: string[];
  description?: string;
  enabled?: boolean;
}

/** Admin sessions, the CLI, and tokens holding `users:manage` manage deployment-wide endpoints. */
function isAdmin(actor: Actor): boolean {
  return (
    actor.type === 'cli' ||
    (actor.type === 'user' && actor.user?.role === 'admin') ||
    hasScope(actor, 'users:manage')
  );
}

/** `["*"]` when `*` is among them, else the names once each, in catalogue order. */
function normaliseEvents(events: string[]): string[] {
  if (events.length === 0)
    throw new AppError('validation_error', 'events must name at least one event type, or "*"');
  const known = new Set<string>(SUBSCRIBABLE);
  for (const name of events) {
    if (!known.has(name))
      throw new AppError(
        'validation_error',
        `events: "${name}" is not an event type (see docs/EVENTS.md)`,
      );
  }
  if (events.includes('*')) return ['*'];
  return EVENT_TYPES.filter((t) => events.includes(t));
}

/**
 * Webhook endpoints and their delivery log, as the API shows them (SPEC §6). An account's
 * endpoints get its own keys' events; an admin's deployment-wide endpoints get all. Another
 * account's endpoint is "not found", never "forbidden".
 */
export class WebhookService {
  private readonly db: Kysely<Database>;
  private readonly clock: Clock;
  private readonly config: WebhookConfig;
  private readonly secrets: () => SecretBox;
  private readonly resolver: Resolver;
  private readonly wake: () => void;

  constructor(deps: {
    db: Kysely<Database>;
    clock: Clock;
    config: WebhookConfig;
    secrets: () => SecretBox;
    resolver: Resolver;
    /** Wakes this node's delivery after a test event or a manual retry. */
    wake: () => void;
  }) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.config = deps.config;
    this.secrets = deps.secrets;
    this.resolver = deps.resolver;
    this.wake = deps.wake;
  }

  private checkUrl(url: string): Promise<URL> {
    return checkWebhookUrl(url, {
      allowPrivate: this.config.allowPrivate,
      resolver: this.resolver,
    });
  }

  async create(
    actor: Actor,
    input: CreateEndpointInput,
  ): Promise<{ endpoint: EndpointView; secret: string }> {
    const scope = input.scope ?? 'account';
    if (scope === 'deployment' && !isAdmin(actor))
      throw new AppError('forbidden', 'only an admin can create a deployment-wide endpoint');
    const ownerId = scope === 'deployment' ? null : actor.user?.id;
    if (ownerId === undefined)
      throw new AppError(
        'validation_error',
        'an account endpoint needs an account: sign in or use a token',
      );
    const url = await this.checkUrl(input.url);
    const events = normaliseEvents(input.events);
    const box = this.secrets();
    const id = newId('whk');
    const secret = generateWebhookSecret();
    const now = this.clock.now();
    const row = {
      id,
      owner_id: ownerId,
      scope,
      url: url.href,
      description: input.description ?? '',
      events: JSON.stringify(events),
      secret: box.seal(secret, `${id}:secret`),
      previous_secret: null,
      previous_secret_expires_at: null,
      enabled: 1,
      disabled_reason: null,
      failing_since: null,
      created_at: now,
      updated_at: now,
    };
    await this.db.transaction().execute(async (trx) => {
      if (ownerId !== null) {
        // The owner's row lock serialises concurrent creates so the limit cannot be overrun.
        await trx
          .updateTable('users')
          .set((eb) => ({ updated_at: eb.ref('updated_at') }))
          .where('id', '=', ownerId)
          .execute();
      }
      const count = await trx
        .selectFrom('webhook_endpoints')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .$if(ownerId === null, (q) => q.where('owner_id', 'is', null))
        .$if(ownerId !== null, (q) => q.where('owner_id', '=', ownerId as string))
        .executeTakeFirst();
      if (Number(count?.n ?? 0) >= this.config.maxEndpoints) {
        throw new AppError(
          'plan_limit_reached',
          `at most ${this.config.maxEndpoints} webhook endpoints per ${ownerId === null ? 'deployment' : 'account'} (WEBHOOK_MAX_ENDPOINTS)`,
        );
      }
      await trx.insertInto('webhook_endpoints').values(row).execute();
      await recordAudit(
        trx,
        actor,
        {
          action: 'webhook.created',
          ownerId,
          targetType: 'webhook',
          targetId: id,
          details: { url: url.href, events, scope },
        },
        now,
      );
    });
    return { endpoint: endpointView(row as EndpointRow), secret };
  }

  async list(actor: Actor): Promise<EndpointView[]> {
    const userId = actor.user?.id ?? null;
    const admin = isAdmin(actor);
    const rows = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where((eb) => {
        const own = userId === null ? eb.val(false) : eb('owner_id', '=', userId);
        return admin ? eb.or([own, eb('scope', '=', 'deployment')]) : eb.and([own]);
      })
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(endpointView);
  }

  /** An endpoint the actor may see, or not_found. */
  private async load(db: Kysely<Database>, actor: Actor, id: string): Promise<EndpointRow> {
    const row = await db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    const visible =
      row !== undefined &&
      (row.scope === 'deployment'
        ? isAdmin(actor)
        : row.owner_id !== null && row.owner_id === actor.user?.id);
    if (!visible) throw new AppError('not_found', 'webhook endpoint not found');
    return row;
  }

  async get(actor: Actor, id: string): Promise<EndpointView> {
    return endpointView(await this.load(this.db, actor, id));
  }

  async update(actor: Actor, id: string, input: UpdateEndpointInput): Promise<EndpointView> {
    await this.load(this.db, actor, id);
    const url = input.url === undefined ? undefined : (await this.checkUrl(input.url)).href;
    const events = input.events === undefined ? undefined : normaliseEvents(input.events);
    const now = this.clock.now();
    const updated = await this.db.transaction().execute(async (trx) => {
      const current = await this.load(trx, actor, id);
      const changes: Partial<EndpointRow> = { updated_at: now };
      if (url !== undefined) changes.url = url;
      if (events !== undefined) changes.events = JSON.stringify(events);
      if (input.description !== undefined) changes.description = input.description;
      if (input.enabled === true) {
        // Enabling again starts afresh: the failing streak and the reason are forgotten.
        changes.enabled = 1;
        changes.disabled_reason = null;
        changes.failing_since = null;
      } else if (input.enabled === false && Number(current.enabled) === 1) {
        changes.enabled = 0;
        changes.disabled_reason = 'disabled through the API';
      }
      await trx.updateTable('webhook_endpoints').set(changes).where('id', '=', id).execute();
      await recordAudit(
        trx,
        actor,
        {
          action: 'webhook.updated',
          ownerId: current.owner_id,
          targetType: 'webhook',
          targetId: id,
          details: {
            ...(url !== undefined && { url }),
            ...(events !== undefined && { events }),
            ...(input.description !== undefined && { description: input.description }),
            ...(input.enabled !== undefined && { enabled: input.enabled }),
          },
        },
        now,
      );
      return { ...current, ...changes } as EndpointRow;
    });
    if (input.enabled === true) this.wake();
    return endpointView(updated);
  }

  async remove(actor: Actor, id: string): Promise<void> {
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      const current = await this.load(trx, actor, id);
      // Its deliveries and their attempts go with it (foreign keys, on delete cascade).
      await trx
        .deleteFrom('webhook_attempts')
        .where('delivery_id', 'in', (eb) =>
          eb.selectFrom('webhook_deliveries').select('id').where('endpoint_id', '=', id),
        )
        .execute();
      await trx.deleteFrom('webhook_deliveries').where('endpoint_id', '=', id).execute();
      await trx.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
      await recordAudit(
        trx,
        actor,
        {
          action: 'webhook.deleted',
          ownerId: current.owner_id,
          targetType: 'webhook',
          targetId: id,
          details: { url: current.url },
        },
        now,
      );
    });
  }

  /**
   * A new secret, shown once; the previous one keeps signing beside it (both signatures are sent)
   * until `overlapMs` has passed, so receivers can switch without losing a delivery.
   */
  async rotateSecret(
    actor: Actor,
    id: string,
    overlapMs: number,
  ): Promise<{ endpoint: EndpointView; secret: string }> {
    if (overlapMs < 0 || overlapMs > MAX_ROLL_OVERLAP_MS)
      throw new AppError('validation_error', 'overlap must be from 0s to 7d');
    const secret = generateWebhookSecret();
    const now = this.clock.now();
    const updated = await this.db.transaction().execute(async (trx) => {
      const current = await this.load(trx, actor, id);
      // After the lookup: another account's or an unknown endpoint is 404 whether or not the
      // encryption key is configured (503 encryption_key_missing rolls back, writing nothing).
      const box = this.secrets();
      const previous = box.open(current.secret, `${id}:secret`);
      const changes = {
        secret: box.seal(secret, `${id}:secret`),
        previous_secret: overlapMs === 0 ? null : box.seal(previous, `${id}:previous_secret`),
        previous_secret_expires_at: overlapMs === 0 ? null : now + overlapMs,
        updated_at: now,
      };
      await trx.updateTable('webhook_endpoints').set(changes).where('id', '=', id).execute();
      await recordAudit(
        trx,
        actor,
        {
          action: 'webhook.secret_rotated',
          ownerId: current.owner_id,
          targetType: 'webhook',
          targetId: id,
          details: { overlap_ms: overlapMs },
        },
        now,
      );
      return { ...current, ...changes };
    });
    return { endpoint: endpointView(updated), secret };
  }

  async listDeliveries(
    actor: Actor,
    id: string,
    q: { status?: 'pending' | 'succeeded' | 'dead'; cursor?: string; limit: number },
  ): Promise<{ deliveries: DeliveryView[]; nextCursor: string | null }> {
    await this.load(this.db, actor, id);
    let before: { createdAt: number; id: string } | null = null;
    if (q.cursor !== undefined) {
      const match = /^(\d{1,16})_(whd_[a-z2-7]{24})$/.exec(q.cursor);
      if (match === null) throw new AppError('validation_error', 'cursor is not valid');
      before = { createdAt: Number(match[1]), id: match[2] as string };
    }
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('endpoint_id', '=', id)
      .$if(q.status !== undefined, (w) => w.where('status', '=', q.status as 'pending'))
      .$if(before !== null, (w) =>
        w.where((eb) =>
          eb.or([
            eb('created_at', '<', before?.createdAt as number),
            eb.and([
              eb('created_at', '=', before?.createdAt as number),
              eb('id', '<', before?.id as string),
            ]),
          ]),
        ),
      )
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .execute();
    const more = rows.length > q.limit;
    const page = more ? rows.slice(0, q.limit) : rows;
    const last = await this.lastAttempts(page.map((r) => r.id));
    const tail = page.at(-1);
    return {
      deliveries: page.map((r) => deliveryView(r, last.get(r.id))),
      nextCursor: more && tail !== undefined ? `${Number(tail.created_at)}_${tail.id}` : null,
    };
  }

  private async lastAttempts(ids: string[]): Promise<Map<string, AttemptRow>> {
    const out = new Map<string, AttemptRow>();
    if (ids.length === 0) return out;
    const rows = await this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('seq', 'in', (eb) =>
        eb
          .selectFrom('webhook_attempts')
          .select((e) => e.fn.max('seq').as('seq'))
          .where('delivery_id', 'in', ids)
          .groupBy('delivery_id'),
      )
      .execute();
    for (const row of rows) out.set(row.delivery_id, row);
    return out;
  }

  private async loadDelivery(actor: Actor, id: string, deliveryId: string): Promise<DeliveryRow> {
    await this.load(this.db, actor, id);
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('id', '=', deliveryId)
      .where('endpoint_id', '=', id)
      .executeTakeFirst();
    if (row === undefined) throw new AppError('not_found', 'delivery not found');
    return row;
  }

  async getDelivery(
    actor: Actor,
    id: string,
    deliveryId: string,
  ): Promise<{ delivery: DeliveryView; attempts: AttemptView[] }> {
    const row = await this.loadDelivery(actor, id, deliveryId);
    const attempts = await this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('delivery_id', '=', deliveryId)
      .orderBy('seq', 'asc')
      .execute();
    return { delivery: deliveryView(row, attempts.at(-1)), attempts: attempts.map(attemptView) };
  }

  /**
   * Another attempt now for a dead or pending delivery, under the same `webhook-id`. A dead
   * delivery gets one attempt (dead again if it fails); a pending one moves its next attempt to
   * now and keeps its schedule. An attempt in flight is not doubled: its claim stays.
   */
  async retry(actor: Actor, id: string, deliveryId: string): Promise<DeliveryView> {
    const row = await this.loadDelivery(actor, id, deliveryId);
    if (row.status === 'succeeded')
      throw new AppError(
        'invalid_state',
        'this delivery succeeded; only a pending or dead one can be retried',
      );
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', next_attempt_at: now, updated_at: now })
        .where('id', '=', deliveryId)
        .where('status', '!=', 'succeeded')
        .execute();
      const endpoint = await this.load(trx, actor, id);
      await recordAudit(
        trx,
        actor,
        {
          action: 'webhook.delivery_retried',
          ownerId: endpoint.owner_id,
          targetType: 'webhook',
          targetId: id,
          details: { delivery_id: deliveryId, event_id: row.event_id },
        },
        now,
      );
    });
    this.wake();
    return (await this.getDelivery(actor, id, deliveryId)).delivery;
  }

  /**
   * A `webhook.test` event for this endpoint only, delivered like any other: it is stored in the
   * outbox already fanned out (so no other endpoint gets it) with one delivery for this endpoint.
   */
  async sendTest(actor: Actor, id: string): Promise<DeliveryView> {
    const now = this.clock.now();
    const endpoint = await this.load(this.db, actor, id);
    if (Number(endpoint.enabled) !== 1)
      throw new AppError(
        'invalid_state',
        'this endpoint is disabled; enable it to send a test event',
      );
    const eventId = newId('evt');
    const delivery = newDelivery(id, eventId, TEST_EVENT_TYPE, now);
    const payload = {
      type: TEST_EVENT_TYPE,
      timestamp: new Date(now).toISOString(),
      data: { webhook: { id, url: endpoint.url }, message: 'A test event sent from Keyward.' },
    };
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('events')
        .values({
          id: eventId,
          type: TEST_EVENT_TYPE,
          owner_id: endpoint.owner_id,
          key_id: null,
          payload: JSON.stringify(payload),
          created_at: now,
          webhooks_done_at: now,
          mail_done_at: now,
        })
        .execute();
      await trx.insertInto('webhook_deliveries').values(delivery).execute();
    });
    this.wake();
    return (await this.getDelivery(actor, id, delivery.id as string)).delivery;
  }
}
