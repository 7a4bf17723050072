export type KeyStatus = 'active' | 'revoked' | 'expired' | 'disabled';

export interface KeyStateFields {
  revokedAt: number | null;
  expiresAt: number | null;
  enabled: boolean;
}

/** Derived, never stored: revoked, then expired, then disabled, else active. */
export function keyStatus(key: KeyStateFields, now: number): KeyStatus {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired';
  if (!key.enabled) return 'disabled';
  return 'active';
}
