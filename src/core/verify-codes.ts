/** Outcomes of a verification (SPEC §3). A refusal is a result, not an exception. */
export const VERIFY_CODES = ['VALID', 'NOT_FOUND', 'REVOKED', 'EXPIRED', 'DISABLED'] as const;
export type VerifyCode = (typeof VERIFY_CODES)[number];

/** The error code and message a key-authenticated route answers for each refusal. */
export const REFUSAL = {
  NOT_FOUND: { error: 'key_not_found', message: 'API key not found' },
  REVOKED: { error: 'key_revoked', message: 'this API key has been revoked' },
  EXPIRED: { error: 'key_expired', message: 'this API key has expired' },
  DISABLED: { error: 'key_disabled', message: 'this API key is disabled' },
} as const;
