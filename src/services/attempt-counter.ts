import type { Clock } from '../core/clock.ts';

const MAX_TRACKED = 100_000;

/**
 * Counts events per key in fixed windows (in this process), for the throttles of the public
 * account-recovery routes: failed link attempts per address, reset-mail requests per address and
 * per email. Bounded: past MAX_TRACKED keys, ended windows and then the oldest are dropped.
 */
export class AttemptCounter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly clock: Clock;

  constructor(options: { limit: number; windowMs: number; clock: Clock }) {
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.clock = options.clock;
  }

  /** Milliseconds until `key` may act again, or 0 when it is under its limit now. */
  retryAfterMs(key: string): number {
    const now = this.clock.now();
    const window = this.current(key, now);
    return window !== undefined && window.count >= this.limit ? window.resetAt - now : 0;
  }

  record(key: string): void {
    const now = this.clock.now();
    const window = this.current(key, now);
    if (window !== undefined) {
      window.count += 1;
      return;
    }
    if (this.windows.size >= MAX_TRACKED) this.prune(now);
    this.windows.set(key, { count: 1, resetAt: now + this.windowMs });
  }

  private current(key: string, now: number) {
    const window = this.windows.get(key);
    if (window === undefined) return undefined;
    if (window.resetAt <= now) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  private prune(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
    while (this.windows.size >= MAX_TRACKED) {
      const oldest = this.windows.keys().next();
      if (oldest.done) break;
      this.windows.delete(oldest.value);
    }
  }
}
