import type { RateState } from '../limits/limiter.ts';

const NAMES: Record<number, string> = {
  1000: 'second',
  60000: 'minute',
  3600000: 'hour',
  86400000: 'day',
};

/** An owner's shared rules (owner balances) are named `owner-minute`, beside the key's `minute`. */
function policyName(windowMs: number, owner: boolean | undefined): string {
  const name = NAMES[windowMs] ?? `w${Math.ceil(windowMs / 1000)}s`;
  return owner === true ? `owner-${name}` : name;
}

/**
 * `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers), one item per rate
 * rule: `"minute";q=60;w=60` and `"minute";r=12;t=41`.
 */
export function rateLimitHeaders(rate: readonly RateState[]): Record<string, string> | null {
  if (rate.length === 0) return null;
  const policy: string[] = [];
  const state: string[] = [];
  for (const r of rate) {
    const name = policyName(r.windowMs, r.owner);
    policy.push(`"${name}";q=${r.limit};w=${Math.ceil(r.windowMs / 1000)}`);
    state.push(`"${name}";r=${Math.max(0, r.remaining)};t=${Math.ceil(r.resetMs / 1000)}`);
  }
  return { 'ratelimit-policy': policy.join(', '), ratelimit: state.join(', ') };
}

/** The rule with the least left: what `POST /v1/verify` reports as `ratelimit`. */
export function tightest(
  rate: readonly RateState[],
  now: number,
): { limit: number; remaining: number; reset: number } | null {
  let best: RateState | undefined;
  for (const r of rate) if (best === undefined || r.remaining < best.remaining) best = r;
  return best === undefined
    ? null
    : { limit: best.limit, remaining: Math.max(0, best.remaining), reset: now + best.resetMs };
}

/** A wait in milliseconds as `Retry-After` / `retry_after` seconds: rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Every rate rule as POST /v1/verify's `rate_limits` reports it: what the `RateLimit-Policy` and
 * `RateLimit` items carry, so a middleware answers with the same headers as Keyward's own routes.
 */
type RateLimitRule = {
  name: string;
  limit: number;
  remaining: number;
  window: number;
  reset_after: number;
};
/**
 * Shared by every answer for a key without rate rules, so nothing is allocated per verification;
 * answers are only serialized, never changed.
 */
const NO_RULES: RateLimitRule[] = [];

export function rateLimitRules(rate: readonly RateState[]): RateLimitRule[] {
  if (rate.length === 0) return NO_RULES;
  return rate.map((r) => ({
    name: policyName(r.windowMs, r.owner),
    limit: r.limit,
    remaining: Math.max(0, r.remaining),
    window: Math.ceil(r.windowMs / 1000),
    reset_after: Math.ceil(r.resetMs / 1000),
  }));
}
