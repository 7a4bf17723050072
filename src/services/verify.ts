import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { CalendarDays } from '../core/calendar.ts';
import type { Clock } from '../core/clock.ts';
import { parseDurationMs } from '../core/duration.ts';
import { compileIpAllowlist, type IpMatcher } from '../core/ip-allowlist.ts';
import { keyStatus } from '../core/key-status.ts';
import type { ApiKey, CreditsRefill, OwnerLimits } from '../core/models.ts';
import { permits, resourceAllowed } from '../core/permissions.ts';
import { sha256Hex } from '../core/secrets.ts';
import type { RefusalCode, VerifyCode } from '../core/verify-codes.ts';
import type {
  LimitDecision,
  Limiter,
  LimitRequest,
  LimitScope,
  OwnerLimitRequest,
  QuotaRule,
  RateRule,
  RateState,
} from '../limits/limiter.ts';
import {
  creditsCover,
  findApiKeyByHash,
  type OwnerBalances,
  spendCredits,
} from '../storage/api-keys-repository.ts';
import { insertReservation } from '../storage/reservations-repository.ts';
import type { Database, UsageOutcome } from '../storage/schema.ts';
import { spendOwnerCredits } from '../storage/users-repository.ts';
import type { UsageRecorder, UsageTotals } from './usage-recorder.ts';

/** A key as the cache holds it: the record plus what the policy checks need, compiled once. */
export interface CachedKey {
  key: ApiKey;
  ownerDisabled: boolean;
  ipMatcher: IpMatcher | null;
  rate: RateRule[];
  hasQuotas: boolean;
  /** The key's own credits are limited. */
  hasCredits: boolean;
  /** The owner's balances, compiled; null for an owner without any (the usual case). */
  owner: CachedOwner | null;
  /** Whether the limiter is asked at all: the key or its owner has a rate rule or a quota. */
  limited: boolean;
  /** Whether credits are spent: the key's or its owner's are limited. */
  spends: boolean;
}

/** An account's own limits and credits (owner balances) as verification checks them. */
export interface CachedOwner {
  id: string;
  limits: OwnerLimits;
  rate: RateRule[];
  hasQuotas: boolean;
  hasCredits: boolean;
  refill: CreditsRefill | null;
}

/** The two maps behind verification: found keys, and a smaller one of hashes known not to exist. */
export interface KeyCachePort {
  get(hash: string): CachedKey | null | undefined;
  /** Read before the database lookup of a miss, and handed back to `set`. */
  version(): number;
  /** Caches a looked-up entry, unless an invalidation came since `version`. */
  set(hash: string, entry: CachedKey | null, version: number): void;
}

export interface VerifyRequest {
  key: string;
  /** The end client's address; with an IP allowlist, an unknown address is refused. */
  ip: string | null;
  permission?: string | undefined;
  resource?: string | undefined;
  /** Cost units; default 1. */
  cost?: number | undefined;
  method?: string | null;
  path?: string | null;
}

export interface Verification {
  valid: boolean;
  code: VerifyCode;
  key: ApiKey | null;
  /** Every rate rule's state after this request (empty when the key has none, or a check before it refused). */
  rate: RateState[];
  /** For RATE_LIMITED / QUOTA_EXCEEDED: how long until a retry can succeed. */
  retryAfterMs: number | null;
  /** The balance after this request when the key has credits; null = unlimited or not reached. */
  creditsRemaining: number | null;
  /** The owner's shared balance after this request when it has one; null otherwise. */
  ownerCreditsRemaining: number | null;
  /**
   * Whose limit refused (rate, quota, credits): the owner's shared one, or the key's own (every
   * other refusal is about the key too); null when valid.
   */
  scope: LimitScope | null;
  /** Identifies this verification; for `billing: usage` keys it settles the reservation. */
  verificationId: string;
}

const NO_RATE: RateState[] = [];

function compileRate(rules: OwnerLimits['rate']): RateRule[] {
  const rate: RateRule[] = [];
  for (const rule of rules ?? []) {
    const windowMs = parseDurationMs(rule.window);
    if (windowMs !== null) rate.push({ limit: rule.limit, windowMs });
  }
  return rate;
}

function hasQuota(q: { requests?: number; amount?: number } | undefined): boolean {
  return q !== undefined && (q.requests !== undefined || q.amount !== undefined);
}

export function compileKey(
  key: ApiKey,
  ownerDisabled: boolean,
  ownerBalances: OwnerBalances | null = null,
): CachedKey {
  const rate = compileRate(key.limits.rate);
  const hasQuotas = hasQuota(key.limits.daily) || hasQuota(key.limits.monthly);
  const hasCredits = key.credits.remaining !== null;
  let owner: CachedOwner | null = null;
  if (ownerBalances !== null) {
    const { limits } = ownerBalances;
    owner = {
      id: key.ownerId,
      limits,
      rate: compileRate(limits.rate),
      hasQuotas: hasQuota(limits.daily) || hasQuota(limits.monthly),
      hasCredits: ownerBalances.hasCredits,
      refill: ownerBalances.refill,
    };
  }
  return {
    key,
    ownerDisabled,
    ipMatcher: compileIpAllowlist(key.ipAllowlist),
    rate,
    hasQuotas,
    hasCredits,
    owner,
    limited:
      rate.length > 0 ||
      hasQuotas ||
      (owner !== null && (owner.rate.length > 0 || owner.hasQuotas)),
    spends: hasCredits || (owner?.hasCredits ?? false),
  };
}

/** What a key (or an owner) used so far this day and month, read when the limiter has no counter. */
interface QuotaSeed {
  today: UsageTotals;
  monthToDate: UsageTotals;
}

/** The seeds read so far for one verification, by scope. */
interface QuotaSeeds {
  key?: QuotaSeed;
  owner?: QuotaSeed;
}

/** Thrown inside the credit transaction to undo the owner's debit when the key's refuses. */
class KeyCreditsRefused extends Error {}

/**
 * The hot path. Checks in SPEC §3 order — lookup, status, IP, permission and resource, cost,
 * rate limits, quotas, credits, each of the last three for the key and then for its owner when
 * the account has balances of its own — and the first failure decides; nothing is charged (to the
 * key or its owner) for a refused request. A cached key with no credits costs one SHA-256, one
 * map lookup and (with limits) one limiter call, and returns synchronously; the database is
 * touched only on a cache miss, to start a quota counter the limiter does not have (a new period,
 * or a Redis that lost its data), and to spend credits (the one durable, atomic write credits
 * need).
 */
export class VerifyService {
  private readonly db: Kysely<Database>;
  private readonly readDb: Kysely<Database>;
  private readonly clock: Clock;
  private readonly cache: KeyCachePort;
  private readonly usage: UsageRecorder;
  private readonly limiter: Limiter;
  private readonly calendar: CalendarDays;
  private readonly isKeyShape: (candidate: string) => boolean;
  /** Usage reads in progress, by key or owner id: requests that find no counter share one. */
  private readonly seeding = new Map<string, Promise<QuotaSeed>>();

  constructor(deps: {
    db: Kysely<Database>;
    /** For the lookup of a cache miss: must not wait for a write transaction (Store.readDb). */
    readDb: Kysely<Database>;
    clock: Clock;
    cache: KeyCachePort;
    usage: UsageRecorder;
    limiter: Limiter;
    isKeyShape: (candidate: string) => boolean;
  }) {
    this.db = deps.db;
    this.readDb = deps.readDb;
    this.clock = deps.clock;
    this.cache = deps.cache;
    this.usage = deps.usage;
    this.limiter = deps.limiter;
    this.calendar = deps.usage.calendar;
    this.isKeyShape = deps.isKeyShape;
  }

  verify(request: VerifyRequest): Verification | Promise<Verification> {
    if (!this.isKeyShape(request.key)) return notFound();
    const hash = sha256Hex(request.key);
    const cached = this.cache.get(hash);
    if (cached !== undefined) return this.decide(cached, request);
    return this.load(hash).then((entry) => this.decide(entry, request));
  }

  private async load(hash: string): Promise<CachedKey | null> {
    // A change committed (and invalidated) while this read was on its way must not be undone by
    // caching what the read saw: `set` keeps the entry only if no invalidation came since.
    const version = this.cache.version();
    const found = await findApiKeyByHash(this.readDb, hash);
    const entry =
      found === undefined ? null : compileKey(found.key, found.ownerDisabled, found.ownerBalances);
    this.cache.set(hash, entry, version);
    return entry;
  }

  private decide(
    entry: CachedKey | null,
    request: VerifyRequest,
  ): Verification | Promise<Verification> {
    if (entry === null) return notFound();
    const now = this.clock.now();
    const key = entry.key;
    const cost = request.cost ?? 1;
    const status = keyStatus(key, now);
    if (status !== 'active')
      return this.refuse(
        entry,
        request,
        now,
        cost,
        status === 'revoked' ? 'REVOKED' : status === 'expired' ? 'EXPIRED' : 'DISABLED',
      );
    if (entry.ownerDisabled) return this.refuse(entry, request, now, cost, 'DISABLED');
    if (entry.ipMatcher !== null && (request.ip === null || !entry.ipMatcher(request.ip)))
      return this.refuse(entry, request, now, cost, 'IP_NOT_ALLOWED');
    if (request.permission !== undefined && !permits(key.permissions, request.permission))
      return this.refuse(entry, request, now, cost, 'FORBIDDEN');
    if (request.resource !== undefined && !resourceAllowed(key.allowedResources, request.resource))
      return this.refuse(entry, request, now, cost, 'FORBIDDEN');
    const maxCost = key.limits.max_cost_per_request;
    if (maxCost !== undefined && cost > maxCost)
      return this.refuse(entry, request, now, cost, 'FORBIDDEN');
    if (!entry.limited) return this.charge(entry, request, now, cost, null, NO_RATE);
    return this.limit(entry, request, now, cost, undefined);
  }

  /**
   * Charges the key's rate limits and quotas, and its owner's, in one limiter call. Quota counters
   * are asked for without a seed first: only when the limiter has no counter for the period is the
   * usage (the key's, or the owner's over all its keys) read, fresh, and the call made again with
   * it, so a counter lost with Redis is rebuilt from what was really used.
   */
  private limit(
    entry: CachedKey,
    request: VerifyRequest,
    now: number,
    cost: number,
    seed: QuotaSeeds | undefined,
  ): Verification | Promise<Verification> {
    const owner = entry.owner;
    const limitRequest: LimitRequest = {
      keyId: entry.key.id,
      now,
      cost,
      rate: entry.rate,
      quotas: entry.hasQuotas ? this.quotaRules(entry.key.limits, now, seed?.key) : [],
      owner: owner === null ? null : this.ownerRequest(owner, now, seed?.owner),
    };
    const decision = this.limiter.consume(limitRequest);
    if (decision instanceof Promise)
      return decision.then((d) =>
        this.afterLimits(entry, request, now, cost, limitRequest, d, seed),
      );
    return this.afterLimits(entry, request, now, cost, limitRequest, decision, seed);
  }

  private afterLimits(
    entry: CachedKey,
    request: VerifyRequest,
    now: number,
    cost: number,
    limitRequest: LimitRequest,
    decision: LimitDecision,
    seed: QuotaSeeds | undefined,
  ): Verification | Promise<Verification> {
    if (!decision.allowed && decision.code === 'QUOTA_UNSEEDED') {
      // A limiter given the usage starts the counter itself; asking again would loop.
      if (seed?.[decision.scope] !== undefined)
        throw new Error('the limiter refused to start a quota counter');
      const id = decision.scope === 'key' ? entry.key.id : (entry.owner as CachedOwner).id;
      return this.usageSoFar(id, decision.scope, now).then((fresh) =>
        this.limit(entry, request, now, cost, { ...seed, [decision.scope]: fresh }),
      );
    }
    if (!decision.allowed)
      return this.refuse(
        entry,
        request,
        now,
        cost,
        decision.code,
        decision.rate,
        decision.retryAfterMs,
        decision.scope,
      );
    return this.charge(entry, request, now, cost, limitRequest, decision.rate);
  }

  private charge(
    entry: CachedKey,
    request: VerifyRequest,
    now: number,
    cost: number,
    limitRequest: LimitRequest | null,
    rate: RateState[],
  ): Verification | Promise<Verification> {
    if (!entry.spends)
      return this.admit(entry, request, now, cost, rate, null, null, verificationId());
    return this.spend(entry, request, now, cost, limitRequest, rate);
  }

  /**
   * Spends the key's credits and its owner's in one transaction: both are debited or neither. A
   * spend that is one guarded UPDATE (one balance, no reservation) needs no transaction: it is
   * atomic alone.
   */
  private async spend(
    entry: CachedKey,
    request: VerifyRequest,
    now: number,
    cost: number,
    limitRequest: LimitRequest | null,
    rate: RateState[],
  ): Promise<Verification> {
    const key = entry.key;
    const owner = entry.owner?.hasCredits ? entry.owner : null;
    const id = verificationId();
    let spent: { key: number | null; owner: number | null } | LimitScope;
    if (key.billing !== 'usage' && owner === null) {
      const left = await spendCredits(this.db, {
        keyId: key.id,
        cost,
        refill: this.refillFor(key.credits.refill, now),
      });
      spent = left === null ? 'key' : { key: left, owner: null };
    } else if (key.billing !== 'usage' && !entry.hasCredits && owner !== null) {
      const left = await spendOwnerCredits(this.db, {
        ownerId: owner.id,
        cost,
        refill: this.refillFor(owner.refill, now),
      });
      spent = left === null ? 'owner' : { key: null, owner: left };
    } else {
      try {
        spent = await this.db.transaction().execute(async (trx) => {
          // The owner's row first (the order rotation locks them in), so it is locked for one
          // statement fewer; a refusal of either throws, which undoes the other's debit.
          let ownerLeft: number | null = null;
          if (owner !== null) {
            ownerLeft = await spendOwnerCredits(trx, {
              ownerId: owner.id,
              cost,
              refill: this.refillFor(owner.refill, now),
            });
            if (ownerLeft === null) {
              // The key's credits are checked first: when they would refuse too, the key is named.
              const keyCovers =
                !entry.hasCredits ||
                (await creditsCover(trx, {
                  keyId: key.id,
                  cost,
                  refill: this.refillFor(key.credits.refill, now),
                }));
              return keyCovers ? ('owner' as const) : ('key' as const);
            }
          }
          let keyLeft: number | null = null;
          if (entry.hasCredits) {
            keyLeft = await spendCredits(trx, {
              keyId: key.id,
              cost,
              refill: this.refillFor(key.credits.refill, now),
            });
            if (keyLeft === null) throw new KeyCreditsRefused();
          }
          if (key.billing === 'usage')
            await insertReservation(trx, {
              id,
              keyId: key.id,
              reserved: cost,
              createdAt: now,
              ownerId: owner === null ? null : owner.id,
            });
          return { key: keyLeft, owner: ownerLeft };
        });
      } catch (error) {
        if (!(error instanceof KeyCreditsRefused)) throw error;
        spent = 'key';
      }
    }
    if (typeof spent === 'string') {
      if (limitRequest !== null) await this.limiter.release(limitRequest);
      return this.refuse(entry, request, now, cost, 'INSUFFICIENT_CREDITS', rate, null, spent);
    }
    return this.admit(entry, request, now, cost, rate, spent.key, spent.owner, id);
  }

  /** The refill due for the period of `now`, for a guarded spend. */
  private refillFor(
    refill: CreditsRefill | null,
    now: number,
  ): { period: string; amount: number } | null {
    if (refill === null) return null;
    return {
      period: refill.interval === 'daily' ? this.calendar.dayOf(now) : this.calendar.monthOf(now),
      amount: refill.amount,
    };
  }

  private admit(
    entry: CachedKey,
    request: VerifyRequest,
    now: number,
    cost: number,
    rate: RateState[],
    creditsRemaining: number | null,
    ownerCreditsRemaining: number | null,
    id: string,
  ): Verification {
    const key = entry.key;
    this.recordOutcome(key, request, now, cost, 'VALID');
    return {
      valid: true,
      code: 'VALID',
      key,
      rate,
      retryAfterMs: null,
      creditsRemaining,
      ownerCreditsRemaining,
      scope: null,
      verificationId: id,
    };
  }

  private refuse(
    entry: CachedKey,
    request: VerifyRequest,
    now: number,
    cost: number,
    code: Exclude<RefusalCode, 'NOT_FOUND'>,
    rate: RateState[] = NO_RATE,
    retryAfterMs: number | null = null,
    scope: LimitScope = 'key',
  ): Verification {
    const key = entry.key;
    this.recordOutcome(key, request, now, cost, code);
    return {
      valid: false,
      code,
      key,
      rate,
      retryAfterMs,
      creditsRemaining: null,
      ownerCreditsRemaining: null,
      scope,
      verificationId: verificationId(),
    };
  }

  /** Every request made with an existing key is counted, whatever its outcome (off the hot path). */
  private recordOutcome(
    key: ApiKey,
    request: VerifyRequest,
    now: number,
    cost: number,
    outcome: UsageOutcome,
  ): void {
    this.usage.record({
      keyId: key.id,
      ownerId: key.ownerId,
      outcome,
      cost,
      at: now,
      ip: request.ip,
      method: request.method ?? null,
      path: request.path ?? null,
    });
  }

  private quotaRules(limits: OwnerLimits, now: number, seed: QuotaSeed | undefined): QuotaRule[] {
    const rules: QuotaRule[] = [];
    const { daily, monthly } = limits;
    if (daily !== undefined && (daily.requests !== undefined || daily.amount !== undefined)) {
      rules.push({
        period: 'day',
        periodKey: this.calendar.dayOf(now),
        resetAt: this.calendar.dayEnd(now),
        ...daily,
        ...(seed !== undefined && { used: seed.today }),
      });
    }
    if (monthly !== undefined && (monthly.requests !== undefined || monthly.amount !== undefined)) {
      rules.push({
        period: 'month',
        periodKey: this.calendar.monthOf(now),
        resetAt: this.calendar.monthEnd(now),
        ...monthly,
        ...(seed !== undefined && { used: seed.monthToDate }),
      });
    }
    return rules;
  }

  private ownerRequest(
    owner: CachedOwner,
    now: number,
    seed: QuotaSeed | undefined,
  ): OwnerLimitRequest | null {
    if (owner.rate.length === 0 && !owner.hasQuotas) return null;
    return {
      ownerId: owner.id,
      rate: owner.rate,
      quotas: owner.hasQuotas ? this.quotaRules(owner.limits, now, seed) : [],
    };
  }

  /**
   * What the key (or the owner, over all its keys) used in the day and month of `now`: the usage
   * history plus this node's unflushed counts, read now (never a value kept from earlier, which a
   * lost counter would otherwise be rebuilt from). Other nodes' unflushed counts are not known
   * here: a rebuilt counter misses at most one flush interval of their traffic (docs/SCALING.md).
   */
  private usageSoFar(id: string, scope: LimitScope, now: number): Promise<QuotaSeed> {
    let pending = this.seeding.get(id);
    if (pending === undefined) {
      const totals = scope === 'key' ? this.usage.totals(id, now) : this.usage.ownerTotals(id, now);
      pending = totals
        .then((t) => ({ today: t.today, monthToDate: t.month }))
        .finally(() => this.seeding.delete(id));
      this.seeding.set(id, pending);
    }
    return pending;
  }
}

/**
 * Verification ids name a usage-billing reservation for `POST /v1/usage`. They must be unique
 * across nodes and restarts, not secret (settling needs a service token): 64 random bits per
 * process and a counter, so the hot path pays one number-to-string instead of a UUID.
 */
const VERIFICATION_ID_PREFIX = `ver_${randomBytes(8).toString('hex')}`;
let verificationSeq = 0;

function verificationId(): string {
  verificationSeq += 1;
  return VERIFICATION_ID_PREFIX + verificationSeq.toString(36);
}

function notFound(): Verification {
  return {
    valid: false,
    code: 'NOT_FOUND',
    key: null,
    rate: NO_RATE,
    retryAfterMs: null,
    creditsRemaining: null,
    ownerCreditsRemaining: null,
    scope: 'key',
    verificationId: verificationId(),
  };
}
