import { randomHex, sha256Hex } from './secrets.ts';

export const ENVIRONMENTS = ['live', 'test'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

const SECRET_HEX_LENGTH = 40;
/** Shape of a deployment's key prefix: lowercase letters and digits, starting with a letter. */
export const KEY_PREFIX_PATTERN = /^[a-z][a-z0-9]{0,11}$/;

export interface NewApiKey {
  /** The full secret: returned once, never stored. */
  secret: string;
  hash: string;
  start: string;
  last4: string;
}

/** `{prefix}_{environment}_{40 lowercase hex}`: 160 bits from the CSPRNG. */
export function generateApiKey(prefix: string, environment: Environment): NewApiKey {
  const random = randomHex(SECRET_HEX_LENGTH / 2);
  const secret = `${prefix}_${environment}_${random}`;
  return {
    secret,
    hash: sha256Hex(secret),
    start: `${prefix}_${environment}_${random.slice(0, 4)}`,
    last4: random.slice(-4),
  };
}

export function maskKey(start: string, last4: string): string {
  return `${start}…${last4}`;
}

function isLowerHex(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 97 && code <= 102);
}

/**
 * Builds the shape check for one deployment's prefix. It runs before any hashing or lookup,
 * so it is written as a character scan rather than a regular expression.
 */
export function apiKeyShapeChecker(prefix: string): (candidate: string) => boolean {
  const live = `${prefix}_live_`;
  const test = `${prefix}_test_`;
  const headLength = live.length;
  const totalLength = headLength + SECRET_HEX_LENGTH;
  return (candidate) => {
    if (candidate.length !== totalLength) return false;
    if (!candidate.startsWith(live) && !candidate.startsWith(test)) return false;
    for (let i = headLength; i < totalLength; i++) {
      if (!isLowerHex(candidate.charCodeAt(i))) return false;
    }
    return true;
  };
}
