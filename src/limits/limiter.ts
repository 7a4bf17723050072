/**
 * The limits port: rate limits and quotas for one key, checked and consumed in ONE atomic call.
 * Either every rule admits the request and all of them are charged, or the request is refused and
 * nothing is charged. Backends: memory (one process) and Redis (shared by every node). Both pass
 * test/limits/limiter-contract.test.ts.
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
}

/** One rate rule's state after the call, for the RateLimit headers. */
export interface RateState {
  limit: number;
  windowMs: number;
  /** Cost units still admitted right now. */
  remaining: number;
  /** Milliseconds until the window is fully replenished. */
  resetMs: number;
}

export type LimitDecision =
  | { allowed: true; rate: RateState[] }
  | {
      allowed: false;
      code: 'RATE_LIMITED' | 'QUOTA_EXCEEDED';
      retryAfterMs: number;
      rate: RateState[];
    }
  /** A quota without `used` has no counter for its period: nothing was charged; ask again with it. */
  | { allowed: false; code: 'QUOTA_UNSEEDED'; rate: RateState[] };

export interface Limiter {
  /**
   * Checks rate rules first, then quotas (SPEC §3 order: the first failing rule decides the code),
   * and charges all of them only when all admit the request.
   */
  consume(request: LimitRequest): LimitDecision | Promise<LimitDecision>;
  /** Gives back what an admitted `consume` charged: used when a later check (credits) refuses. */
  release(request: LimitRequest): void | Promise<void>;
  /** Calls that failed because the shared store did not answer (for the metrics); absent in memory. */
  readonly errors?: number;
  /** Whether a shared store answers right now, for /readyz; absent for the in-memory backend. */
  available?(): Promise<boolean>;
  close(): Promise<void>;
}
