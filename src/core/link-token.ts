import { randomHex } from './secrets.ts';

/**
 * The one-time token of an invitation or password-reset link: 256 random bits as 64 lowercase
 * hex digits. Hex on purpose: the request logger cuts any run of 32+ hex digits out of a logged
 * path (logger.ts), so `/invite/<token>` and `/reset-password/<token>` never reach the logs.
 */
export const LINK_TOKEN_PATTERN = /^[0-9a-f]{64}$/;

export function newLinkToken(): string {
  return randomHex(32);
}
