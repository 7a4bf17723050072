import { randomHex, sha256Hex } from './secrets.ts';

/** The environments a key may belong to when ENVIRONMENTS is not set. */
export const DEFAULT_ENVIRONMENTS: readonly string[] = ['live', 'test'];
/** An environment name: a lowercase slug of 2–12 letters (SPEC §2). */
export const ENVIRONMENT_PATTERN = /^[a-z]{2,12}$/;
/** One of the deployment's ENVIRONMENTS (checked by the services against the configuration). */
export type Environment = string;

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
 * Builds the shape check for one deployment's prefix and environments. It runs before any hashing
 * or lookup, so it is written as a character scan rather than a regular expression.
 */
export function apiKeyShapeChecker(
  prefix: string,
  environments: readonly string[] = DEFAULT_ENVIRONMENTS,
): (candidate: string) => boolean {
  const heads = environments.map((environment) => `${prefix}_${environment}_`);
  const first = heads[0] as string;
  if (heads.length <= 2 && heads.every((head) => head.length === first.length)) {
    // The usual case (live, test): one length check and at most two prefix compares, as fast as
    // the check was before environments were configurable (verification runs it on every call).
    const second = heads[1] ?? first;
    const headLength = first.length;
    const totalLength = headLength + SECRET_HEX_LENGTH;
    return (candidate) => {
      if (candidate.length !== totalLength) return false;
      if (!candidate.startsWith(first) && !candidate.startsWith(second)) return false;
      for (let i = headLength; i < totalLength; i++) {
        if (!isLowerHex(candidate.charCodeAt(i))) return false;
      }
      return true;
    };
  }
  const count = heads.length;
  return (candidate) => {
    const headLength = candidate.length - SECRET_HEX_LENGTH;
    let known = false;
    for (let i = 0; i < count; i++) {
      const head = heads[i] as string;
      if (head.length === headLength && candidate.startsWith(head)) {
        known = true;
        break;
      }
    }
    if (!known) return false;
    for (let i = headLength; i < candidate.length; i++) {
      if (!isLowerHex(candidate.charCodeAt(i))) return false;
    }
    return true;
  };
}

/** The environment of a key of this deployment's own shape (call only after the shape check). */
export function environmentOfKey(prefix: string, key: string): Environment {
  return key.slice(prefix.length + 1, key.length - SECRET_HEX_LENGTH - 1);
}

/**
 * `start` and `last4` of a key being imported. A key of the deployment's own shape shows its
 * prefix, environment and 4 hex digits, as created keys do; any other shape shows what comes up
 * to its last `-` or `_` within the first 16 characters (the prefix, e.g. `sk-`) and 4 characters
 * more, never more than a quarter of the key, so at most a few of its secret characters.
 */
export function displayParts(key: string, ownShape: boolean): { start: string; last4: string } {
  const last4 = key.slice(-4);
  if (ownShape) {
    const head = key.length - SECRET_HEX_LENGTH;
    return { start: key.slice(0, head + 4), last4 };
  }
  const window = key.slice(0, 16);
  const separator = Math.max(window.lastIndexOf('-'), window.lastIndexOf('_'));
  const head = separator < 0 ? 0 : separator + 1;
  const shown = Math.min(head + 4, Math.floor(key.length / 4));
  return { start: key.slice(0, Math.max(shown, head)), last4 };
}
