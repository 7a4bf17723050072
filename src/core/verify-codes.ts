import type { ErrorCode } from './errors.ts';

/** Outcomes of a verification, in the order SPEC §3 checks them. A refusal is a result, not an exception. */
export const VERIFY_CODES = [
  'VALID',
  'NOT_FOUND',
  'REVOKED',
  'EXPIRED',
  'DISABLED',
  'IP_NOT_ALLOWED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'QUOTA_EXCEEDED',
  'INSUFFICIENT_CREDITS',
] as const;
export type VerifyCode = (typeof VERIFY_CODES)[number];
export type RefusalCode = Exclude<VerifyCode, 'VALID'>;

/** The error code and message a key-authenticated route answers for each refusal. */
export const REFUSAL: Record<RefusalCode, { error: ErrorCode; message: string }> = {
  NOT_FOUND: { error: 'key_not_found', message: 'API key not found' },
  REVOKED: { error: 'key_revoked', message: 'this API key has been revoked' },
  EXPIRED: { error: 'key_expired', message: 'this API key has expired' },
  DISABLED: { error: 'key_disabled', message: 'this API key is disabled' },
  IP_NOT_ALLOWED: {
    error: 'ip_not_allowed',
    message: 'this API key may not be used from your IP address',
  },
  FORBIDDEN: { error: 'forbidden', message: 'this API key is not permitted to do this' },
  RATE_LIMITED: {
    error: 'rate_limited',
    message: 'too many requests for this API key; slow down and retry after the Retry-After delay',
  },
  QUOTA_EXCEEDED: {
    error: 'quota_exceeded',
    message: "this API key's quota for the period is used up",
  },
  INSUFFICIENT_CREDITS: {
    error: 'insufficient_credits',
    message: 'this API key has no credits left for this request',
  },
};

/** The messages of the refusals an owner's shared limits and credits can cause (`scope: "owner"`). */
export const OWNER_REFUSAL_MESSAGE: Partial<Record<RefusalCode, string>> = {
  RATE_LIMITED:
    "too many requests for this account's keys together; slow down and retry after the Retry-After delay",
  QUOTA_EXCEEDED: "this account's quota for the period, shared by all its keys, is used up",
  INSUFFICIENT_CREDITS:
    'this account has no credits left for this request (its credits are shared by all its keys)',
};
