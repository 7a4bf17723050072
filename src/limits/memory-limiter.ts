import { gcraStep } from './gcra.ts';
import type {
  LimitDecision,
  Limiter,
  LimitRequest,
  QuotaRule,
  RateRule,
  RateState,
} from './limiter.ts';

interface QuotaCounter {
  periodKey: string;
  requests: number;
  amount: number;
}

/** Entries whose window has fully refilled are dropped once the maps pass this size. */
const SWEEP_THRESHOLD = 100_000;

/**
 * The single-process limiter: plain maps, synchronous, so one `consume` is atomic by
 * construction (Node runs it to completion), the owner's rules included. Used when `REDIS_URL`
 * is unset. A key's entries are named by its id, an owner's by `owner:` and the account id.
 */
export class MemoryLimiter implements Limiter {
  private readonly tats = new Map<string, number>();
  private readonly quotas = new Map<string, QuotaCounter>();

  consume(request: LimitRequest): LimitDecision {
    const { keyId, now, cost, rate, quotas } = request;
    const owner = request.owner ?? null;
    const ownerTag = owner === null ? '' : `owner:${owner.ownerId}`;
    const states: RateState[] = [];
    const nextTats: number[] = [];
    // Retry-After is when every refusing rule would admit the request: the largest wait.
    const keyWait = this.stepRates(keyId, rate, now, cost, states, nextTats, false);
    const ownerWait =
      owner === null ? -1 : this.stepRates(ownerTag, owner.rate, now, cost, states, nextTats, true);
    if (keyWait >= 0 || ownerWait >= 0) {
      return {
        allowed: false,
        code: 'RATE_LIMITED',
        scope: keyWait >= 0 ? 'key' : 'owner',
        retryAfterMs: Math.max(keyWait, ownerWait),
        rate: this.current(request),
      };
    }
    const counters: QuotaCounter[] = [];
    const keyQuotaWait = this.checkQuotas(keyId, quotas, now, cost, counters);
    if (keyQuotaWait === undefined)
      return { allowed: false, code: 'QUOTA_UNSEEDED', scope: 'key', rate: [] };
    const ownerQuotaWait =
      owner === null ? -1 : this.checkQuotas(ownerTag, owner.quotas, now, cost, counters);
    if (ownerQuotaWait === undefined)
      return { allowed: false, code: 'QUOTA_UNSEEDED', scope: 'owner', rate: [] };
    if (keyQuotaWait >= 0 || ownerQuotaWait >= 0) {
      return {
        allowed: false,
        code: 'QUOTA_EXCEEDED',
        scope: keyQuotaWait >= 0 ? 'key' : 'owner',
        retryAfterMs: Math.max(keyQuotaWait, ownerQuotaWait),
        rate: this.current(request),
      };
    }
    if (this.tats.size > SWEEP_THRESHOLD) this.sweep(now);
    for (let i = 0; i < rate.length; i++) {
      const rule = rate[i] as RateRule;
      this.tats.set(rateKey(keyId, rule.limit, rule.windowMs), nextTats[i] as number);
    }
    if (owner !== null) {
      for (let i = 0; i < owner.rate.length; i++) {
        const rule = owner.rate[i] as RateRule;
        this.tats.set(
          rateKey(ownerTag, rule.limit, rule.windowMs),
          nextTats[rate.length + i] as number,
        );
      }
    }
    for (const counter of counters) {
      counter.requests += 1;
      counter.amount += cost;
    }
    return { allowed: true, rate: states };
  }

  release(request: LimitRequest): void {
    const { keyId, now, cost } = request;
    this.releaseOne(keyId, request.rate, request.quotas, now, cost);
    const owner = request.owner ?? null;
    if (owner !== null)
      this.releaseOne(`owner:${owner.ownerId}`, owner.rate, owner.quotas, now, cost);
  }

  async close(): Promise<void> {
    this.tats.clear();
    this.quotas.clear();
  }

  /**
   * One scope's rate rules: pushes each rule's state and next TAT; returns the longest wait of a
   * refusing rule, or -1 when all admit the request.
   */
  private stepRates(
    tag: string,
    rules: readonly RateRule[],
    now: number,
    cost: number,
    states: RateState[],
    nextTats: number[],
    owner: boolean,
  ): number {
    let wait = -1;
    for (const rule of rules) {
      const step = gcraStep(
        this.tats.get(rateKey(tag, rule.limit, rule.windowMs)),
        now,
        cost,
        rule.limit,
        rule.windowMs,
      );
      if (!step.allowed && step.retryAfterMs > wait) wait = step.retryAfterMs;
      states.push(rateState(rule, step.remaining, step.resetMs, owner));
      nextTats.push(step.tat);
    }
    return wait;
  }

  /**
   * One scope's quotas: pushes their counters; returns the longest wait of an exhausted quota,
   * -1 when all admit the request, undefined when a counter is missing and `used` was not given.
   */
  private checkQuotas(
    tag: string,
    quotas: readonly QuotaRule[],
    now: number,
    cost: number,
    counters: QuotaCounter[],
  ): number | undefined {
    let wait = -1;
    for (const quota of quotas) {
      const counter = this.counterFor(tag, quota);
      if (counter === undefined) return undefined;
      if (
        (quota.requests !== undefined && counter.requests + 1 > quota.requests) ||
        (quota.amount !== undefined && counter.amount + cost > quota.amount)
      ) {
        wait = Math.max(wait, quota.resetAt - now, 0);
      }
      counters.push(counter);
    }
    return wait;
  }

  private releaseOne(
    tag: string,
    rules: readonly RateRule[],
    quotas: readonly QuotaRule[],
    now: number,
    cost: number,
  ): void {
    for (const rule of rules) {
      const key = rateKey(tag, rule.limit, rule.windowMs);
      const tat = this.tats.get(key);
      if (tat !== undefined)
        this.tats.set(key, Math.max(now, tat - (cost * rule.windowMs) / rule.limit));
    }
    for (const quota of quotas) {
      const counter = this.quotas.get(quotaKey(tag, quota));
      if (counter === undefined || counter.periodKey !== quota.periodKey) continue;
      counter.requests = Math.max(0, counter.requests - 1);
      counter.amount = Math.max(0, counter.amount - cost);
    }
  }

  /** The rate states without charging anything (for a refusal). */
  private current(request: LimitRequest): RateState[] {
    const states: RateState[] = [];
    this.stepRates(request.keyId, request.rate, request.now, 0, states, [], false);
    const owner = request.owner ?? null;
    if (owner !== null)
      this.stepRates(`owner:${owner.ownerId}`, owner.rate, request.now, 0, states, [], true);
    return states;
  }

  /** The period's counter, started from `quota.used` when there is none; undefined without it. */
  private counterFor(tag: string, quota: QuotaRule): QuotaCounter | undefined {
    const key = quotaKey(tag, quota);
    let counter = this.quotas.get(key);
    if (counter === undefined || counter.periodKey !== quota.periodKey) {
      if (quota.used === undefined) return undefined;
      counter = {
        periodKey: quota.periodKey,
        requests: quota.used.requests,
        amount: quota.used.amount,
      };
      this.quotas.set(key, counter);
    }
    return counter;
  }

  private sweep(now: number): void {
    for (const [key, tat] of this.tats) if (tat <= now) this.tats.delete(key);
  }
}

function rateState(rule: RateRule, remaining: number, resetMs: number, owner: boolean): RateState {
  return owner
    ? { limit: rule.limit, windowMs: rule.windowMs, remaining, resetMs, owner: true }
    : { limit: rule.limit, windowMs: rule.windowMs, remaining, resetMs };
}

function rateKey(tag: string, limit: number, windowMs: number): string {
  return `${tag}:${limit}/${windowMs}`;
}

function quotaKey(tag: string, quota: QuotaRule): string {
  return `${tag}:${quota.period}`;
}
