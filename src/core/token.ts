import { randomHex, sha256Hex } from './secrets.ts';

/** Scopes a user may grant to a management token (`kwm_`). */
export const USER_SCOPES = ['keys:read', 'keys:write', 'usage:read'] as const;
/** Scopes only an admin may grant; any of them makes the token a service token (`kws_`). */
export const SERVICE_SCOPES = [
  'keys:verify',
  'keys:manage',
  'users:manage',
  'leaks:report',
] as const;
export const ALL_SCOPES = [...USER_SCOPES, ...SERVICE_SCOPES] as const;
export type Scope = (typeof ALL_SCOPES)[number];
export type TokenKind = 'management' | 'service';

const SECRET_HEX_LENGTH = 40;
const TOKEN_PATTERN = /^kw[ms]_[0-9a-f]{40}$/;

export function tokenKindForScopes(scopes: readonly Scope[]): TokenKind {
  return scopes.some((scope) => (SERVICE_SCOPES as readonly string[]).includes(scope))
    ? 'service'
    : 'management';
}

export interface NewToken {
  secret: string;
  hash: string;
  start: string;
  last4: string;
}

export function generateToken(kind: TokenKind): NewToken {
  const random = randomHex(SECRET_HEX_LENGTH / 2);
  const prefix = kind === 'service' ? 'kws' : 'kwm';
  const secret = `${prefix}_${random}`;
  return {
    secret,
    hash: sha256Hex(secret),
    start: `${prefix}_${random.slice(0, 4)}`,
    last4: random.slice(-4),
  };
}

export function isTokenShape(candidate: string): boolean {
  return candidate.length === 44 && TOKEN_PATTERN.test(candidate);
}
