import { gcraStep } from './gcra.ts';
import type { LimitDecision, Limiter, LimitRequest, QuotaRule, RateState } from './limiter.ts';

interface QuotaCounter {
  periodKey: string;
  requests: number;
  amount: number;
}

/** Entries whose window has fully refilled are dropped once the maps pass this size. */
const SWEEP_THRESHOLD = 100_000;

/**
 * The single-process limiter: plain maps, synchronous, so one `consume` is atomic by
 * construction (Node runs it to completion). Used when `REDIS_URL` is unset.
 */
export class MemoryLimiter implements Limiter {
  private readonly tats = new Map<string, number>();
  private readonly quotas = new Map<string, QuotaCounter>();

  consume(request: LimitRequest): LimitDecision {
    const { keyId, now, cost, rate, quotas } = request;
    const states: RateState[] = [];
    const nextTats: number[] = [];
    // Retry-After is when every refusing rule would admit the request: the largest wait.
    let retryAfterMs = -1;
    for (const rule of rate) {
      const step = gcraStep(
        this.tats.get(rateKey(keyId, rule.limit, rule.windowMs)),
        now,
        cost,
        rule.limit,
        rule.windowMs,
      );
      if (!step.allowed && step.retryAfterMs > retryAfterMs) retryAfterMs = step.retryAfterMs;
      states.push({
        limit: rule.limit,
        windowMs: rule.windowMs,
        remaining: step.remaining,
        resetMs: step.resetMs,
      });
      nextTats.push(step.tat);
    }
    if (retryAfterMs >= 0) {
      return { allowed: false, code: 'RATE_LIMITED', retryAfterMs, rate: this.current(request) };
    }
    const counters: QuotaCounter[] = [];
    for (const quota of quotas) {
      const counter = this.counterFor(keyId, quota);
      if (counter === undefined) return { allowed: false, code: 'QUOTA_UNSEEDED', rate: [] };
      if (
        (quota.requests !== undefined && counter.requests + 1 > quota.requests) ||
        (quota.amount !== undefined && counter.amount + cost > quota.amount)
      ) {
        retryAfterMs = Math.max(retryAfterMs, quota.resetAt - now, 0);
      }
      counters.push(counter);
    }
    if (retryAfterMs >= 0) {
      return { allowed: false, code: 'QUOTA_EXCEEDED', retryAfterMs, rate: this.current(request) };
    }
    if (this.tats.size > SWEEP_THRESHOLD) this.sweep(now);
    for (let i = 0; i < rate.length; i++) {
      const rule = rate[i] as LimitRequest['rate'][number];
      this.tats.set(rateKey(keyId, rule.limit, rule.windowMs), nextTats[i] as number);
    }
    for (const counter of counters) {
      counter.requests += 1;
      counter.amount += cost;
    }
    return { allowed: true, rate: states };
  }

  release(request: LimitRequest): void {
    const { keyId, now, cost } = request;
    for (const rule of request.rate) {
      const key = rateKey(keyId, rule.limit, rule.windowMs);
      const tat = this.tats.get(key);
      if (tat !== undefined)
        this.tats.set(key, Math.max(now, tat - (cost * rule.windowMs) / rule.limit));
    }
    for (const quota of request.quotas) {
      const counter = this.quotas.get(quotaKey(keyId, quota));
      if (counter === undefined || counter.periodKey !== quota.periodKey) continue;
      counter.requests = Math.max(0, counter.requests - 1);
      counter.amount = Math.max(0, counter.amount - cost);
    }
  }

  async close(): Promise<void> {
    this.tats.clear();
    this.quotas.clear();
  }

  /** The rate states without charging anything (for a refusal decided by a quota). */
  private current(request: LimitRequest): RateState[] {
    return request.rate.map((rule) => {
      const step = gcraStep(
        this.tats.get(rateKey(request.keyId, rule.limit, rule.windowMs)),
        request.now,
        0,
        rule.limit,
        rule.windowMs,
      );
      return {
        limit: rule.limit,
        windowMs: rule.windowMs,
        remaining: step.remaining,
        resetMs: step.resetMs,
      };
    });
  }

  /** The period's counter, started from `quota.used` when there is none; undefined without it. */
  private counterFor(keyId: string, quota: QuotaRule): QuotaCounter | undefined {
    const key = quotaKey(keyId, quota);
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

function rateKey(keyId: string, limit: number, windowMs: number): string {
  return `${keyId}:${limit}/${windowMs}`;
}

function quotaKey(keyId: string, quota: QuotaRule): string {
  return `${keyId}:${quota.period}`;
}
