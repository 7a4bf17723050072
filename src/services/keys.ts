import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import { type Environment, generateApiKey } from '../core/api-key.ts';
import type { Clock } from '../core/clock.ts';
import { parseDurationMs } from '../core/duration.ts';
import { AppError, fieldError } from '../core/errors.ts';
import { type ExpirationPreset, resolveExpiration } from '../core/expiration.ts';
import {
  invalidPermission,
  metadataProblem,
  normaliseIpAllowlist,
  normaliseName,
} from '../core/key-settings.ts';
import { type KeyStatus, keyStatus } from '../core/key-status.ts';
import type { ApiKey, Billing, Credits, KeyLimits, User } from '../core/models.ts';
import { newId } from '../core/secrets.ts';
import { keyEventData, recordEvent } from '../events/events.ts';
import { claimOccurrence } from '../events/occurrences.ts';
import type { Limiter, RateRule } from '../limits/limiter.ts';
import {
  type ApiKeyChanges,
  countApiKeys,
  countLiveKeys,
  deleteApiKey,
  findApiKeyById,
  insertApiKey,
  listApiKeys,
  lockApiKey,
  updateApiKey,
} from '../storage/api-keys-repository.ts';
import type { Database, UsageOutcome } from '../storage/schema.ts';
import {
  dailyUsage,
  hourlyUsage,
  type LoggedRequest,
  readRequestLog,
} from '../storage/usage-repository.ts';
import { findUserById, lockUser } from '../storage/users-repository.ts';
import { type Actor, actsOnAnyOwner, systemActor } from './actor.ts';
import { recordAudit } from './audit.ts';
import type { CredentialInvalidator } from './credential-invalidator.ts';
import type { UsageRecorder } from './usage-recorder.ts';

export interface KeySettingsInput {
  name?: string;
  permissions?: string[];
  ipAllowlist?: string[];
  allowedResources?: string[];
  limits?: KeyLimits;
  credits?: Credits;
  billing?: Billing;
  metadata?: Record<string, unknown>;
}

export interface CreateKeyInput extends KeySettingsInput {
  name: string;
  environment?: Environment;
  expiration?: ExpirationPreset;
  expiresAt?: number | null;
  ownerId?: string;
}

export interface UpdateKeyInput extends KeySettingsInput {
  expiresAt?: number | null;
  enabled?: boolean;
}

export interface UsageSeries {
  bucket: string;
  /** Every attributable request in the bucket, whatever its outcome. */
  requests: number;
  /** Summed cost of the valid requests. */
  amount: number;
  outcomes: Partial<Record<UsageOutcome, number>>;
}

const HOUR_MS = 3_600_000;

export interface CreatedKey {
  key: ApiKey;
  secret: string;
}

export interface KeyPage {
  keys: ApiKey[];
  nextCursor: string | null;
  /** Keys the filters match on all pages together. */
  total: number;
}

export const MAX_PAGE_SIZE = 100;
/** The longest grace period a rotation may give the old key. */
const MAX_GRACE_MS = 30 * 86_400_000;

export class KeyService {
  private readonly db: Kysely<Database>;
  private readonly dialect: 'sqlite' | 'postgres';
  private readonly config: Config;
  private readonly clock: Clock;
  private readonly usage: UsageRecorder;
  private readonly invalidator: CredentialInvalidator;
  private readonly onEvents: () => void;
  private readonly limiter: Limiter;

  constructor(deps: {
    db: Kysely<Database>;
    dialect: 'sqlite' | 'postgres';
    config: Config;
    clock: Clock;
    usage: UsageRecorder;
    invalidator: CredentialInvalidator;
    /** Called after a commit that wrote events: wakes this node's webhook delivery. */
    onEvents?: () => void;
    limiter: Limiter;
  }) {
    this.onEvents = deps.onEvents ?? (() => {});
    this.db = deps.db;
    this.dialect = deps.dialect;
    this.config = deps.config;
    this.clock = deps.clock;
    this.usage = deps.usage;
    this.invalidator = deps.invalidator;
    this.limiter = deps.limiter;
  }

  /**
   * For each key, when all of its rate limits are full again (epoch ms; `now` when nothing of
   * them is in use), or null when it has no rate rule. Read with a cost-0 call to the limiter,
   * which charges nothing; when the limiter cannot answer (Redis down) the key gets null.
   */
  async rateLimitResets(keys: readonly ApiKey[]): Promise<(number | null)[]> {
    const now = this.clock.now();
    return Promise.all(
      keys.map(async (key) => {
        const rate: RateRule[] = [];
        for (const rule of key.limits.rate ?? []) {
          const windowMs = parseDurationMs(rule.window);
          if (windowMs !== null) rate.push({ limit: rule.limit, windowMs });
        }
        if (rate.length === 0) return null;
        try {
          const decision = await this.limiter.consume({
            keyId: key.id,
            now,
            cost: 0,
            rate,
            quotas: [],
          });
          return now + Math.max(0, ...decision.rate.map((state) => state.resetMs));
        } catch {
          return null;
        }
      }),
    );
  }

  async create(actor: Actor, input: CreateKeyInput): Promise<CreatedKey> {
    const ownerId = this.ownerFor(actor, input.ownerId);
    const now = this.clock.now();
    const settings = this.checkSettings(input);
    const expiry = resolveExpiration(
      now,
      { preset: input.expiration, expiresAt: input.expiresAt },
      this.config.maxKeyLifetime,
    );
    if (!expiry.ok)
      throw fieldError(input.expiresAt === undefined ? 'expiration' : 'expires_at', expiry.message);
    const environment = input.environment ?? (this.config.environments[0] as string);
    if (!this.config.environments.includes(environment))
      throw fieldError(
        'environment',
        `environment must be one of ${this.config.environments.join(', ')}`,
      );
    const generated = generateApiKey(this.config.keyPrefix, environment);
    const key: ApiKey = {
      id: newId('key'),
      ownerId,
      name: settings.name ?? input.name,
      environment,
      hash: generated.hash,
      start: generated.start,
      last4: generated.last4,
      permissions: settings.permissions ?? ['*'],
      ipAllowlist: settings.ipAllowlist ?? [],
      allowedResources: settings.allowedResources ?? [],
      expiresAt: expiry.expiresAt,
      enabled: true,
      revokedAt: null,
      createdAt: now,
      updatedAt: now,
      lastUsedAt: null,
      usageCount: 0,
      limits: settings.limits ?? {},
      credits: settings.credits ?? { remaining: null, refill: null },
      billing: settings.billing ?? 'per_request',
      metadata: settings.metadata ?? {},
      rotatedFrom: null,
      rotatedTo: null,
    };
    await this.db.transaction().execute(async (trx) => {
      // The owner's row lock serialises concurrent creates so the plan limit cannot be overrun.
      await this.ensurePlanRoom(trx, await this.lockOwner(trx, ownerId), now);
      await insertApiKey(trx, key, this.refillPeriod(key.credits, now));
      await recordAudit(
        trx,
        actor,
        {
          action: 'key.created',
          ownerId,
          targetType: 'api_key',
          targetId: key.id,
          details: { name: key.name, environment },
        },
        now,
      );
      await recordEvent(
        trx,
        { type: 'key.created', ownerId, keyId: key.id, data: { key: keyEventData(key, now) } },
        now,
      );
    });
    this.onEvents();
    return { key, secret: generated.secret };
  }

  async list(
    actor: Actor,
    q: {
      status?: KeyStatus;
      environment?: Environment;
      search?: string;
      limit?: number;
      cursor?: string;
      ownerId?: string;
    },
  ): Promise<KeyPage> {
    const limit = Math.min(q.limit ?? 20, MAX_PAGE_SIZE);
    const ownerId = actsOnAnyOwner(actor) ? q.ownerId : this.ownerFor(actor, q.ownerId);
    const filters = {
      ...(ownerId !== undefined && { ownerId }),
      ...(q.status !== undefined && { status: q.status }),
      ...(q.environment !== undefined && { environment: q.environment }),
      ...(q.search !== undefined && { search: q.search }),
      now: this.clock.now(),
    };
    const [rows, total] = await Promise.all([
      listApiKeys(this.db, {
        ...filters,
        ...(q.cursor !== undefined && { cursor: decodeCursor(q.cursor) }),
        limit,
      }),
      countApiKeys(this.db, filters),
    ]);
    const more = rows.length > limit;
    const keys = (more ? rows.slice(0, limit) : rows).map((key) => this.withPendingUsage(key));
    const last = keys.at(-1);
    return { keys, nextCursor: more && last !== undefined ? encodeCursor(last) : null, total };
  }

  async get(actor: Actor, id: string): Promise<ApiKey> {
    return this.withPendingUsage(await this.load(this.db, actor, id));
  }

  async update(actor: Actor, id: string, input: UpdateKeyInput): Promise<ApiKey> {
    const settings = this.checkSettings(input);
    const now = this.clock.now();
    const changes: ApiKeyChanges = { ...settings };
    if (input.enabled !== undefined) changes.enabled = input.enabled;
    if (input.expiresAt !== undefined) {
      const expiry = resolveExpiration(
        now,
        { expiresAt: input.expiresAt, preset: input.expiresAt === null ? 'never' : undefined },
        this.config.maxKeyLifetime,
      );
      if (!expiry.ok) throw fieldError('expires_at', expiry.message);
      changes.expiresAt = expiry.expiresAt;
    }
    const fields = Object.keys(changes);
    if (fields.length === 0)
      throw new AppError('validation_error', 'nothing to change: send at least one field');
    const updated = await this.db.transaction().execute(async (trx) => {
      let key = await this.load(trx, actor, id);
      const newExpiry = changes.expiresAt;
      if (newExpiry !== undefined) {
        // An expiry change can bring a key back into the plan count: it takes the owner's lock,
        // like create and rotate, and reads the key again under it.
        const owner = await this.lockOwner(trx, key.ownerId);
        key = await this.load(trx, actor, id);
        if (key.revokedAt === null && key.rotatedTo !== null) {
          throw new AppError(
            'invalid_state',
            'a rotated key keeps the expiry its rotation gave it; revoke it to stop it sooner',
          );
        }
        const expired = key.expiresAt !== null && key.expiresAt <= now;
        if (expired && (newExpiry === null || newExpiry > now))
          await this.ensurePlanRoom(trx, owner, now);
      }
      if (key.revokedAt !== null)
        throw new AppError('invalid_state', 'a revoked key cannot be changed');
      const result = await updateApiKey(
        trx,
        id,
        changes,
        now,
        changes.credits === undefined ? null : this.refillPeriod(changes.credits, now),
      );
      if (result === undefined) throw new AppError('not_found', 'API key not found');
      await recordAudit(
        trx,
        actor,
        {
          action: 'key.updated',
          ownerId: key.ownerId,
          targetType: 'api_key',
          targetId: id,
          details: { fields },
        },
        now,
      );
      await recordEvent(
        trx,
        {
          type: 'key.updated',
          ownerId: key.ownerId,
          keyId: id,
          data: { key: keyEventData(result, now), changed: fields },
        },
        now,
      );
      return result;
    });
    this.onEvents();
    this.invalidator.key(updated.hash);
    return this.withPendingUsage(updated);
  }

  /** Immediate and irreversible; revoking a revoked key changes nothing and answers the key. */
  async revoke(actor: Actor, id: string): Promise<ApiKey> {
    const now = this.clock.now();
    const revoked = await this.db.transaction().execute(async (trx) => {
      const key = await this.load(trx, actor, id);
      if (key.revokedAt !== null) return key;
      const result = await updateApiKey(trx, id, { revokedAt: now }, now);
      if (result === undefined) throw new AppError('not_found', 'API key not found');
      await recordAudit(
        trx,
        actor,
        { action: 'key.revoked', ownerId: key.ownerId, targetType: 'api_key', targetId: id },
        now,
      );
      await recordEvent(
        trx,
        {
          type: 'key.revoked',
          ownerId: key.ownerId,
          keyId: id,
          data: { key: keyEventData(result, now) },
        },
        now,
      );
      return result;
    });
    this.onEvents();
    this.invalidator.key(revoked.hash);
    return this.withPendingUsage(revoked);
  }

  /**
   * A new secret under a new id with the same settings; the old key works until the grace period
   * ends (never past its own expiry) and then stops. Grace `0` stops it at once.
   */
  async rotate(actor: Actor, id: string, gracePeriod: string): Promise<CreatedKey> {
    const graceMs = gracePeriod === '0' ? 0 : parseDurationMs(gracePeriod);
    if (graceMs === null || graceMs > MAX_GRACE_MS) {
      throw new AppError(
        'validation_error',
        'grace_period must be 0 or a duration up to 30d, such as 1h, 24h or 7d',
      );
    }
    const now = this.clock.now();
    const result = await this.db.transaction().execute(async (trx) => {
      // Under the owner's lock, so two rotations of one key cannot both pass the check below.
      // A rotation replaces a key and never raises the plan count (countLiveKeys), so it needs
      // no room in the plan: a leaked key can always be rotated. The key's row is locked too: a
      // spend committed after an unlocked read would be undone by the write below, its credits
      // handed to the new key a second time.
      await this.lockOwner(trx, (await this.load(trx, actor, id)).ownerId);
      const old = await this.load(trx, actor, id, true);
      const status = keyStatus(old, now);
      if (status === 'revoked' || status === 'expired') {
        throw new AppError('invalid_state', `a ${status} key cannot be rotated`);
      }
      if (old.rotatedTo !== null)
        throw new AppError('invalid_state', 'this key was already rotated');
      if (!this.config.environments.includes(old.environment))
        throw new AppError(
          'invalid_state',
          `the key's environment "${old.environment}" is no longer one of ENVIRONMENTS (${this.config.environments.join(', ')}); a new key could not verify`,
        );
      const generated = generateApiKey(this.config.keyPrefix, old.environment);
      const key: ApiKey = {
        ...old,
        id: newId('key'),
        hash: generated.hash,
        start: generated.start,
        last4: generated.last4,
        createdAt: now,
        updatedAt: now,
        lastUsedAt: null,
        usageCount: 0,
        rotatedFrom: old.id,
        rotatedTo: null,
      };
      await insertApiKey(trx, key, this.refillPeriod(key.credits, now));
      const graceEnd = now + graceMs;
      const oldExpiry = old.expiresAt === null ? graceEnd : Math.min(old.expiresAt, graceEnd);
      // A credit balance moves to the new key: were it copied, the old key could spend it again
      // during the grace period. The old key keeps working for everything that needs no credits.
      const movedCredits =
        old.credits.remaining === null ? {} : { credits: { remaining: 0, refill: null } };
      const rotated = await updateApiKey(
        trx,
        old.id,
        { rotatedTo: key.id, expiresAt: oldExpiry, ...movedCredits },
        now,
      );
      await recordAudit(
        trx,
        actor,
        {
          action: 'key.rotated',
          ownerId: old.ownerId,
          targetType: 'api_key',
          targetId: old.id,
          details: {
            new_key_id: key.id,
            grace_period: gracePeriod,
            old_key_expires_at: new Date(oldExpiry).toISOString(),
          },
        },
        now,
      );
      await recordEvent(
        trx,
        {
          type: 'key.rotated',
          ownerId: old.ownerId,
          keyId: old.id,
          data: {
            key: keyEventData(rotated ?? { ...old, expiresAt: oldExpiry }, now),
            new_key: keyEventData(key, now),
            grace_period: gracePeriod,
          },
        },
        now,
      );
      return { key, secret: generated.secret, oldHash: old.hash };
    });
    this.onEvents();
    this.invalidator.key(result.oldHash);
    return { key: result.key, secret: result.secret };
  }

  /** Permanent: the row goes; usage history and audit entries stay. */
  async delete(actor: Actor, id: string): Promise<void> {
    const now = this.clock.now();
    const hash = await this.db.transaction().execute(async (trx) => {
      const key = await this.load(trx, actor, id);
      await deleteApiKey(trx, id);
      await recordAudit(
        trx,
        actor,
        {
          action: 'key.deleted',
          ownerId: key.ownerId,
          targetType: 'api_key',
          targetId: id,
          details: { name: key.name },
        },
        now,
      );
      await recordEvent(
        trx,
        {
          type: 'key.deleted',
          ownerId: key.ownerId,
          keyId: id,
          data: { key: keyEventData(key, now) },
        },
        now,
      );
      return key.hash;
    });
    this.onEvents();
    this.invalidator.key(hash);
  }

  /**
   * IDLE_KEY_ACTION=disable: disables a key unused since `idleSince`, once per idle stretch. The
   * occurrence row, the change, its audit entry, key.updated and key.idle land in one transaction;
   * the key is then dropped from the caches of every node. False when the key is no longer idle
   * and enabled, or another node got there first.
   */
  async disableIdle(
    keyId: string,
    idleSince: number,
    data: (key: ApiKey, now: number) => Record<string, unknown>,
  ): Promise<boolean> {
    const now = this.clock.now();
    const actor = systemActor('jobs');
    const disabled = await this.db.transaction().execute(async (trx) => {
      const key = await lockApiKey(trx, this.dialect, keyId);
      if (
        key === undefined ||
        key.revokedAt !== null ||
        !key.enabled ||
        (key.lastUsedAt ?? key.createdAt) !== idleSince ||
        !(await claimOccurrence(
          trx,
          { subjectId: keyId, kind: 'key.idle', period: String(idleSince) },
          now,
        ))
      )
        return undefined;
      const result = await updateApiKey(trx, keyId, { enabled: false }, now);
      if (result === undefined) return undefined;
      await recordAudit(
        trx,
        actor,
        {
          action: 'key.updated',
          ownerId: key.ownerId,
          targetType: 'api_key',
          targetId: keyId,
          details: { fields: ['enabled'], reason: 'idle' },
        },
        now,
      );
      await recordEvent(
        trx,
        {
          type: 'key.updated',
          ownerId: key.ownerId,
          keyId,
          data: { key: keyEventData(result, now), changed: ['enabled'] },
        },
        now,
      );
      await recordEvent(
        trx,
        { type: 'key.idle', ownerId: key.ownerId, keyId, data: data(result, now) },
        now,
      );
      return result;
    });
    if (disabled === undefined) return false;
    this.invalidator.key(disabled.hash);
    return true;
  }

  /**
   * A leak report (POST /v1/leaks) found this key: a live key is revoked, with its audit entry
   * (who reported it, where it was found), key.revoked and key.leaked in one transaction, and is
   * then dropped from the caches of every node. Answers the key and whether this call revoked it;
   * undefined when no key has this hash.
   */
  async revokeLeaked(
    hash: string,
    report: { reporter: Actor; url: string | null; source: string | null; type: string | null },
  ): Promise<{ key: ApiKey; revoked: boolean } | undefined> {
    const now = this.clock.now();
    const result = await this.db.transaction().execute(async (trx) => {
      const found = await trx
        .selectFrom('api_keys')
        .select('id')
        .where('hash', '=', hash)
        .executeTakeFirst();
      if (found === undefined) return undefined;
      const key = await lockApiKey(trx, this.dialect, found.id);
      if (key === undefined) return undefined;
      if (key.revokedAt !== null) return { key, revoked: false };
      const revoked = await updateApiKey(trx, key.id, { revokedAt: now }, now);
      if (revoked === undefined) return undefined;
      const leak = { url: report.url, source: report.source, type: report.type };
      await recordAudit(
        trx,
        report.reporter,
        {
          action: 'key.revoked',
          ownerId: key.ownerId,
          targetType: 'api_key',
          targetId: key.id,
          details: { reason: 'leaked', reporter: report.reporter.id, ...leak },
        },
        now,
      );
      const data = { key: keyEventData(revoked, now) };
      await recordEvent(
        trx,
        { type: 'key.revoked', ownerId: key.ownerId, keyId: key.id, data },
        now,
      );
      await recordEvent(
        trx,
        { type: 'key.leaked', ownerId: key.ownerId, keyId: key.id, data: { ...data, leak } },
        now,
      );
      return { key: revoked, revoked: true };
    });
    if (result?.revoked) this.invalidator.key(result.key.hash);
    return result;
  }

  /** Requests per bucket by outcome, and the amount, between two instants (UTC hours or local days). */
  async usageHistory(
    actor: Actor,
    id: string,
    q: { from: number; to: number; granularity: 'hour' | 'day' },
  ): Promise<UsageSeries[]> {
    await this.load(this.db, actor, id);
    const rows =
      q.granularity === 'day'
        ? await dailyUsage(
            this.db,
            id,
            this.usage.calendar.dayOf(q.from),
            this.usage.calendar.dayOf(q.to),
          )
        : await hourlyUsage(this.db, id, q.from - (q.from % HOUR_MS), q.to);
    const series = new Map<string, UsageSeries>();
    for (const row of rows) {
      let point = series.get(row.bucket);
      if (point === undefined) {
        point = { bucket: row.bucket, requests: 0, amount: 0, outcomes: {} };
        series.set(row.bucket, point);
      }
      point.requests += row.requests;
      if (row.outcome === 'VALID') point.amount += row.amount;
      point.outcomes[row.outcome] = (point.outcomes[row.outcome] ?? 0) + row.requests;
    }
    return [...series.values()];
  }

  /** The most recent requests made with a key, newest first. */
  async requestLog(
    actor: Actor,
    id: string,
    q: { limit: number; beforeSeq?: number },
  ): Promise<{ entries: LoggedRequest[]; nextCursor: number | null }> {
    await this.load(this.db, actor, id);
    const rows = await readRequestLog(this.db, id, q.limit, q.beforeSeq);
    const more = rows.length > q.limit;
    const entries = more ? rows.slice(0, q.limit) : rows;
    return { entries, nextCursor: more ? (entries.at(-1)?.seq ?? null) : null };
  }

  /** Plan usage for the account page: "7 of 10 keys used". */
  async planUsage(actor: Actor): Promise<{ plan: string; used: number; limit: number | null }> {
    const ownerId = this.ownerFor(actor, undefined);
    const owner = await findUserById(this.db, ownerId);
    if (owner === undefined) throw new AppError('not_found', 'user not found');
    const used = await countLiveKeys(this.db, ownerId, this.clock.now());
    return {
      plan: owner.plan,
      used,
      limit: this.config.plans.find((p) => p.name === owner.plan)?.maxKeys ?? null,
    };
  }

  /** Loads a key the actor may see; another owner's key is "not found", never "forbidden". */
  private async load(
    db: Kysely<Database>,
    actor: Actor,
    id: string,
    lock = false,
  ): Promise<ApiKey> {
    const key = lock ? await lockApiKey(db, this.dialect, id) : await findApiKeyById(db, id);
    if (key === undefined || (!actsOnAnyOwner(actor) && key.ownerId !== actor.user?.id)) {
      throw new AppError('not_found', 'API key not found');
    }
    return key;
  }

  private async lockOwner(trx: Kysely<Database>, ownerId: string): Promise<User> {
    const owner = await lockUser(trx, this.dialect, ownerId);
    if (owner === undefined) throw new AppError('not_found', 'owner not found');
    return owner;
  }

  /** Refuses when one more live key would exceed the owner's plan; call under `lockOwner`. */
  private async ensurePlanRoom(trx: Kysely<Database>, owner: User, now: number): Promise<void> {
    const max = this.config.plans.find((plan) => plan.name === owner.plan)?.maxKeys ?? null;
    if (max !== null && (await countLiveKeys(trx, owner.id, now)) >= max) {
      throw new AppError(
        'plan_limit_reached',
        `the ${owner.plan} plan allows ${max} active keys; revoke or delete one, or upgrade the plan`,
      );
    }
  }

  private ownerFor(actor: Actor, requested: string | undefined): string {
    if (requested !== undefined && actsOnAnyOwner(actor)) return requested;
    if (requested !== undefined && requested !== actor.user?.id)
      throw new AppError('not_found', 'owner not found');
    if (actor.user === null) throw new AppError('validation_error', 'owner_id is required');
    return actor.user.id;
  }

  private checkSettings(input: KeySettingsInput): KeySettingsInput {
    const out: KeySettingsInput = { ...input };
    if (input.name !== undefined) {
      const name = normaliseName(input.name);
      if (!name.ok) throw fieldError('name', name.message);
      out.name = name.name;
    }
    if (input.permissions !== undefined) {
      const bad = invalidPermission(input.permissions);
      if (bad !== undefined) {
        throw fieldError(
          'permissions',
          `permission "${bad}" is not of the form resource:action (wildcard *)`,
        );
      }
      out.permissions = [...new Set(input.permissions)];
    }
    if (input.ipAllowlist !== undefined) {
      const result = normaliseIpAllowlist(input.ipAllowlist);
      if (!result.ok)
        throw fieldError(
          'ip_allowlist',
          `ip_allowlist entry "${result.bad}" is not an IP address or CIDR range`,
        );
      out.ipAllowlist = result.entries;
    }
    if (input.metadata !== undefined) {
      const problem = metadataProblem(input.metadata);
      if (problem !== null) throw fieldError('metadata', problem);
    }
    return out;
  }

  /** The refill period a balance set now counts as, so the first refill comes with the next period. */
  private refillPeriod(credits: Credits, now: number): string | null {
    if (credits.refill === null) return null;
    return credits.refill.interval === 'daily'
      ? this.usage.calendar.dayOf(now)
      : this.usage.calendar.monthOf(now);
  }

  private withPendingUsage(key: ApiKey): ApiKey {
    const pending = this.usage.pendingFor(key.id);
    if (pending.requests === 0) return key;
    return {
      ...key,
      usageCount: key.usageCount + pending.requests,
      lastUsedAt: Math.max(key.lastUsedAt ?? 0, pending.lastUsedAt ?? 0),
    };
  }
}

function encodeCursor(key: ApiKey): string {
  return Buffer.from(`${key.createdAt}:${key.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString();
  const match = /^(\d{1,16}):(key_[a-z2-7]{20,40})$/.exec(text);
  if (!match) throw new AppError('validation_error', 'cursor is not one this API returned');
  return { createdAt: Number(match[1]), id: match[2] as string };
}
