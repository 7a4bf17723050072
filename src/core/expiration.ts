import { addCalendarDuration } from './duration.ts';

export const EXPIRATION_PRESETS = ['30d', '90d', '6m', '1y', 'never'] as const;
export type ExpirationPreset = (typeof EXPIRATION_PRESETS)[number];

const PRESET_DURATION: Record<Exclude<ExpirationPreset, 'never'>, string> = {
  '30d': '30d',
  '90d': '90d',
  '6m': '6mo',
  '1y': '1y',
};

/** When a key (or token) created at `now` with this preset expires; null for `never`. */
export function presetExpiresAt(now: number, preset: ExpirationPreset): number | null {
  return preset === 'never' ? null : addCalendarDuration(now, PRESET_DURATION[preset]);
}

export function isExpirationPreset(text: string): text is ExpirationPreset {
  return (EXPIRATION_PRESETS as readonly string[]).includes(text);
}

export type ExpirationResult =
  | { ok: true; expiresAt: number | null }
  | { ok: false; message: string };

/**
 * Resolves a requested expiry (a preset or an explicit time) against the deployment's maximum
 * key lifetime: with a maximum, `never` means the maximum and anything later is refused.
 */
export function resolveExpiration(
  now: number,
  request: { preset?: ExpirationPreset | undefined; expiresAt?: number | null | undefined },
  maxLifetime: string | null,
): ExpirationResult {
  const max = maxLifetime === null ? null : addCalendarDuration(now, maxLifetime);
  let expiresAt: number | null = null;
  if (request.expiresAt !== undefined && request.expiresAt !== null) {
    expiresAt = request.expiresAt;
    if (expiresAt <= now) return { ok: false, message: 'expires_at must be in the future' };
  } else if (request.preset !== undefined && request.preset !== 'never') {
    expiresAt = presetExpiresAt(now, request.preset);
  }
  if (max !== null) {
    if (expiresAt === null) return { ok: true, expiresAt: max };
    if (expiresAt > max) {
      return { ok: false, message: `keys may live at most ${maxLifetime} in this deployment` };
    }
  }
  return { ok: true, expiresAt };
}
