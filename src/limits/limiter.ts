/**
 * The limits port: rate limits and quotas for one key, and for its owner when the account has
 * limits of its own (owner balances), checked and consumed in ONE atomic call. Either every rule
 * of both admits the request and all of them are charged, or the request is refused and nothing
 * is charged to either. Backends: memory (one process) and Redis (shared by every node). Both
 * pass test/limits/limiter-contract.test.ts.
 */

export interface RateRule {
  /** Requests (cost units) admitted per window. */
  limit: number;
  windowMs: number;
}

export interface QuotaRule {
  period: 'day' | 'month';
  /** Identifies the calendar period in the deployment's time zone, e.g. `2026-06-01` or `2026-06`. */
  periodKey: string;
  /** When the period ends (epoch ms): the Retry-After of a refusal. */
  resetAt: number;
  /** Maximum requests in the period; absent = unlimited. */
  requests?: number;
  /** Maximum summed cost in the period; absent = unlimited. */
  amount?: number;
  /**
   * What was already used in this period, read fresh from the durable usage history plus this
   * node's unflushed counts. A backend that has no counter for the period starts it from this (so
   * a restart or a flushed Redis does not hand out the period again); one that has a counter
   * ignores it. Absent: a backend without a counter charges nothing and answers `QUOTA_UNSEEDED`,
   * and the caller asks again with `used` (a value read earlier could be stale by then).
   */
  used?: { requests: number; amount: number };
}

export interface LimitRequest {
  keyId: string;
  now: number;
  /** Cost units this request consumes (≥ 0). */
  cost: number;
  rate: readonly RateRule[];
  quotas: readonly QuotaRule[];
  /** The owner's own rules, checked after the key's in the same step; absent or null = none. */
  owner?: OwnerLimitRequest | null;
}

/** The rules an account sets for all its keys together, counted once per account. */
export interface OwnerLimitRequest {
  ownerId: string;
  rate: readonly RateRule[];
  quotas: readonly QuotaRule[];
}

/** Whose rule refused: the key's own, or the owner's shared one. */
export type LimitScope = 'key' | 'owner';

/** One rate rule's state after the call, for the RateLimit headers. */
export interface RateState {
  limit: number;
  windowMs: number;
  /** Cost units still admitted right now. */
  remaining: number;
  /** Milliseconds until the window is fully replenished. */
  resetMs: number;
  /** Set on the owner's rules (listed after the key's). */
  owner?: true;
}

export type LimitDecision =
  | { allowed: true; rate: RateState[] }
  | {
      allowed: false;
      code: 'RATE_LIMITED' | 'QUOTA_EXCEEDED';
      /** The key's rules are checked first: `owner` only when every key rule admitted. */
      scope: LimitScope;
      retryAfterMs: number;
      rate: RateState[];
    }
  /**
   * A quota without `used` has no counter for its period: nothing was charged; ask again with
   * `used` on the quotas of `scope` (giving it on the others too is harmless).
   */
  | { allowed: false; code: 'QUOTA_UNSEEDED'; scope: LimitScope; rate: RateState[] };

export interface Limiter {
  /**
   * Checks rate rules first (the key's, then the owner's), then quotas (the key's, then the
   * owner's): SPEC §3 order, the first failing rule decides the code and scope. Charges all of
   * them only when all admit the request.
   */
  consume(request: LimitRequest): LimitDecision | Promise<LimitDecision>;
  /** Gives back what an admitted `consume` charged (key and owner): when credits then refuse. */
  release(request: LimitRequest): void | Promise<void>;
  /** Whether a shared store answers right now, for /readyz; absent for the in-memory backend. */
  available?(): Promise<boolean>;
  close(): Promise<void>;
}
