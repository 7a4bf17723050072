/**
 * GCRA (generic cell rate algorithm) for one rate rule, shared by every limiter backend's
 * arithmetic. A rule of `limit` units per `windowMs` emits one unit every T = windowMs / limit ms;
 * the state is one number, the theoretical arrival time (TAT). A request of `cost` units is
 * admitted when max(TAT, now) + cost·T − now ≤ windowMs, so a full window of `limit` units may
 * arrive at once and then refills smoothly: no fixed-window edge where 2× the limit gets through.
 */

/** Absorbs floating-point error in cost·T sums (T need not be an integer); far below one unit. */
export const GCRA_EPSILON_MS = 1e-6;

export interface GcraStep {
  allowed: boolean;
  /** The TAT after admitting (unchanged when refused). */
  tat: number;
  /** Units still admitted right now after this step. */
  remaining: number;
  /** Milliseconds until the window is fully replenished. */
  resetMs: number;
  /** When refused: milliseconds until this cost would be admitted. */
  retryAfterMs: number;
}

export function gcraStep(
  storedTat: number | undefined,
  now: number,
  cost: number,
  limit: number,
  windowMs: number,
): GcraStep {
  const interval = windowMs / limit;
  const tat = storedTat === undefined || storedTat < now ? now : storedTat;
  const next = tat + cost * interval;
  if (next - now <= windowMs + GCRA_EPSILON_MS) {
    return {
      allowed: true,
      tat: next,
      remaining: remainingUnits(next - now, interval, limit, windowMs),
      resetMs: Math.ceil(next - now),
      retryAfterMs: 0,
    };
  }
  return {
    allowed: false,
    tat,
    remaining: remainingUnits(tat - now, interval, limit, windowMs),
    resetMs: Math.ceil(tat - now),
    // A cost above the whole limit can never pass; the client learns so after one full window.
    retryAfterMs: cost > limit ? windowMs : Math.ceil(next - windowMs - now),
  };
}

function remainingUnits(
  backlogMs: number,
  interval: number,
  limit: number,
  windowMs: number,
): number {
  const units = Math.floor((windowMs - backlogMs + GCRA_EPSILON_MS) / interval);
  return Math.max(0, Math.min(units, limit));
}
