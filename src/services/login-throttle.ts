import type { Clock } from '../core/clock.ts';

interface Window {
  failures: number;
  resetAt: number;
}

export interface ThrottleLimits {
  windowMs: number;
  perAccountIp: number;
  perAccount: number;
  perIp: number;
}

const MAX_TRACKED = 100_000;

/**
 * Counts failed logins in fixed windows per (account, IP), per account and per IP. The owner is
 * not locked out by strangers: the tight limit is per (account, IP), the per-account limit is
 * far higher (it only stops a distributed guess), and every block ends when its window does.
 */
export class LoginThrottle {
  private readonly windows = new Map<string, Window>();
  private readonly limits: ThrottleLimits;
  private readonly clock: Clock;

  constructor(limits: ThrottleLimits, clock: Clock) {
    this.limits = limits;
    this.clock = clock;
  }

  /** Milliseconds until another attempt is allowed, or 0 when it is allowed now. */
  retryAfterMs(email: string, ip: string): number {
    const now = this.clock.now();
    let wait = 0;
    for (const [key, limit] of this.keys(email, ip)) {
      const window = this.current(key, now);
      if (window !== undefined && window.failures >= limit)
        wait = Math.max(wait, window.resetAt - now);
    }
    return wait;
  }

  recordFailure(email: string, ip: string): void {
    const now = this.clock.now();
    for (const [key] of this.keys(email, ip)) {
      const window = this.current(key, now);
      if (window === undefined) {
        if (this.windows.size >= MAX_TRACKED) this.prune(now);
        this.windows.set(key, { failures: 1, resetAt: now + this.limits.windowMs });
      } else {
        window.failures += 1;
      }
    }
  }

  /** A successful login clears the (account, IP) count so the owner's own typos do not add up. */
  recordSuccess(email: string, ip: string): void {
    this.windows.delete(`ai:${email}|${ip}`);
  }

  private keys(email: string, ip: string): Array<[string, number]> {
    return [
      [`ai:${email}|${ip}`, this.limits.perAccountIp],
      [`a:${email}`, this.limits.perAccount],
      [`i:${ip}`, this.limits.perIp],
    ];
  }

  private current(key: string, now: number): Window | undefined {
    const window = this.windows.get(key);
    if (window === undefined) return undefined;
    if (window.resetAt <= now) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  private prune(now: number): void {
    for (const [key, window] of this.windows) {
      if (window.resetAt <= now) this.windows.delete(key);
    }
    // Still full of live windows: drop the oldest rather than grow without bound.
    while (this.windows.size >= MAX_TRACKED) {
      const oldest = this.windows.keys().next();
      if (oldest.done) break;
      this.windows.delete(oldest.value);
    }
  }
}
