import { type Keyward, KeywardError, type Verification } from './client.ts';

/** A fixed value, or one worked out from the framework's request (e.g. a model name in the body). */
export type FromRequest<T, R> = T | ((request: R) => T | undefined);

export interface KeywardAuthOptions<R> {
  client: Keyward;
  /** The permission the route needs (`screenshots:create`); none by default. */
  permission?: FromRequest<string, R>;
  /** The resource the request touches, checked against the key's `allowed_resources`. */
  resource?: FromRequest<string, R>;
  /** What the call costs: rate, quota and credits spent (1 by default for per-request billing). */
  cost?: FromRequest<number, R>;
  /**
   * When Keyward cannot be reached (network error, timeout, 5xx): `closed` answers 503
   * (default); `open` lets the request through with no verification.
   */
  failure?: 'closed' | 'open';
  /** Told about every call that failed (unreachable, or refused the service token). */
  onError?: (error: KeywardError) => void;
}

/** An answer to send instead of running the handler. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: {
    /** `scope` on a refused key: `owner` when the account's shared limits or credits refused. */
    error: { code: string; message: string; request_id: string; scope?: 'key' | 'owner' };
  };
}

export type Decision =
  | { allowed: true; verification: Verification | null; headers: Record<string, string> }
  | { allowed: false; refusal: Refusal };

type RefusalCode = Exclude<Verification['code'], 'VALID'>;

/** Status, error code and message per refusal, exactly as Keyward's key-holder routes answer. */
export const REFUSALS: Record<RefusalCode, { status: number; code: string; message: string }> = {
  NOT_FOUND: { status: 401, code: 'key_not_found', message: 'API key not found' },
  REVOKED: { status: 401, code: 'key_revoked', message: 'this API key has been revoked' },
  EXPIRED: { status: 401, code: 'key_expired', message: 'this API key has expired' },
  DISABLED: { status: 401, code: 'key_disabled', message: 'this API key is disabled' },
  IP_NOT_ALLOWED: {
    status: 403,
    code: 'ip_not_allowed',
    message: 'this API key may not be used from your IP address',
  },
  FORBIDDEN: {
    status: 403,
    code: 'forbidden',
    message: 'this API key is not permitted to do this',
  },
  RATE_LIMITED: {
    status: 429,
    code: 'rate_limited',
    message: 'too many requests for this API key; slow down and retry after the Retry-After delay',
  },
  QUOTA_EXCEEDED: {
    status: 429,
    code: 'quota_exceeded',
    message: "this API key's quota for the period is used up",
  },
  INSUFFICIENT_CREDITS: {
    status: 402,
    code: 'insufficient_credits',
    message: 'this API key has no credits left for this request',
  },
};

/**
 * The messages of the refusals an account's shared limits and credits cause (`scope: "owner"`,
 * owner balances), exactly as Keyward's key-holder routes word them.
 */
export const OWNER_REFUSAL_MESSAGES: Partial<Record<RefusalCode, string>> = {
  RATE_LIMITED:
    "too many requests for this account's keys together; slow down and retry after the Retry-After delay",
  QUOTA_EXCEEDED: "this account's quota for the period, shared by all its keys, is used up",
  INSUFFICIENT_CREDITS:
    'this account has no credits left for this request (its credits are shared by all its keys)',
};

/** Keyward accepts keys up to this length; anything longer cannot be a key. */
const MAX_KEY_LENGTH = 200;

/** The key as Keyward's own routes read it: `Authorization: Bearer …`, else `X-API-Key`. */
export function presentedKey(
  authorization: string | undefined,
  apiKey: string | string[] | undefined,
): string {
  if (
    authorization !== undefined &&
    authorization.length > 7 &&
    authorization.slice(0, 7).toLowerCase() === 'bearer '
  )
    return authorization.slice(7).trim();
  return typeof apiKey === 'string' ? apiKey.trim() : '';
}

function resolve<T, R>(value: FromRequest<T, R> | undefined, request: R): T | undefined {
  return typeof value === 'function' ? (value as (r: R) => T | undefined)(request) : value;
}

/** `RateLimit-Policy` and `RateLimit` for every rate rule of the key, as Keyward sends them. */
function rateLimitHeaders(verification: Verification): Record<string, string> {
  const rules = verification.rate_limits;
  if (rules === undefined || rules.length === 0) return {};
  let policy = '';
  let state = '';
  for (const rule of rules) {
    const sep = policy === '' ? '' : ', ';
    policy += `${sep}"${rule.name}";q=${rule.limit};w=${rule.window}`;
    state += `${sep}"${rule.name}";r=${rule.remaining};t=${rule.reset_after}`;
  }
  return { 'ratelimit-policy': policy, ratelimit: state };
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** For a refusal code newer than this SDK: refused all the same, as a forbidden request. */
const UNKNOWN_REFUSAL = REFUSALS.FORBIDDEN;

function refusal(code: RefusalCode, verification: Verification | null, requestId: string): Refusal {
  const r = REFUSALS[code] ?? UNKNOWN_REFUSAL;
  const headers: Record<string, string> =
    verification === null ? {} : rateLimitHeaders(verification);
  headers['content-type'] = JSON_TYPE;
  if (verification?.retry_after != null) headers['retry-after'] = String(verification.retry_after);
  if (r.status === 401) headers['www-authenticate'] = 'Bearer error="invalid_token"';
  const scope = verification?.scope === 'owner' ? 'owner' : 'key';
  const message = (scope === 'owner' && OWNER_REFUSAL_MESSAGES[code]) || r.message;
  return {
    status: r.status,
    headers,
    body: { error: { code: r.code, message, request_id: requestId, scope } },
  };
}

const localId = () => `req_${globalThis.crypto.randomUUID().replaceAll('-', '')}`;

/**
 * Verifies the request's key with the route's permission, resource and cost, and decides: let it
 * through (with the RateLimit headers to add), or the refusal to send. The framework adapters
 * only read the request and write the answer.
 */
export async function decide<R>(
  options: KeywardAuthOptions<R>,
  request: R,
  key: string,
  ip: string | undefined,
): Promise<Decision> {
  // Nothing Keyward could accept: answered here, as Keyward would, without a round trip (and a
  // key over Keyward's length limit would otherwise be a 400 to the verifier, not a refusal).
  if (key === '' || key.length > MAX_KEY_LENGTH)
    return { allowed: false, refusal: refusal('NOT_FOUND', null, localId()) };
  const permission = resolve(options.permission, request);
  const resource = resolve(options.resource, request);
  const cost = resolve(options.cost, request);
  let verification: Verification;
  try {
    verification = await options.client.verify({
      key,
      ...(permission !== undefined && { permission }),
      ...(resource !== undefined && { resource }),
      ...(cost !== undefined && { cost }),
      ...(ip !== undefined && ip !== '' && { ip }),
    });
  } catch (error) {
    const failure =
      error instanceof KeywardError
        ? error
        : new KeywardError('network_error', String(error), null, null, { cause: error });
    options.onError?.(failure);
    // Only an outage may fail open: a 4xx means this service is misconfigured (a bad token, a
    // bad cost), and letting every request through would hide it.
    const outage = failure.status === null || failure.status >= 500;
    if (outage && options.failure === 'open')
      return { allowed: true, verification: null, headers: {} };
    return {
      allowed: false,
      refusal: {
        status: 503,
        headers: { 'content-type': JSON_TYPE },
        body: {
          error: {
            code: 'service_unavailable',
            message: 'API keys cannot be checked right now; try again shortly',
            request_id: localId(),
          },
        },
      },
    };
  }
  if (verification.valid)
    return { allowed: true, verification, headers: rateLimitHeaders(verification) };
  return {
    allowed: false,
    refusal: refusal(verification.code as RefusalCode, verification, verification.verification_id),
  };
}
