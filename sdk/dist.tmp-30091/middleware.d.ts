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
    error: {
      code: string;
      message: string;
      request_id: string;
      scope: 'key' | 'owner';
    };
  };
}
export type Decision =
  | {
      allowed: true;
      verification: Verification | null;
      headers: Record<string, string>;
    }
  | {
      allowed: false;
      refusal: Refusal;
    };
type RefusalCode = Exclude<Verification['code'], 'VALID'>;
/** Status, error code and message per refusal, exactly as Keyward's key-holder routes answer. */
export declare const REFUSALS: Record<
  RefusalCode,
  {
    status: number;
    code: string;
    message: string;
  }
>;
/**
 * The messages of the refusals an account's shared limits and credits cause (`scope: "owner"`,
 * owner balances), exactly as Keyward's key-holder routes word them.
 */
export declare const OWNER_REFUSAL_MESSAGES: Partial<Record<RefusalCode, string>>;
/** The key as Keyward's own routes read it: `Authorization: Bearer …`, else `X-API-Key`. */
export declare function presentedKey(
  authorization: string | undefined,
  apiKey: string | string[] | undefined,
): string;
/**
 * Verifies the request's key with the route's permission, resource and cost, and decides: let it
 * through (with the RateLimit headers to add), or the refusal to send. The framework adapters
 * only read the request and write the answer.
 */
export declare function decide<R>(
  options: KeywardAuthOptions<R>,
  request: R,
  key: string,
  ip: string | undefined,
): Promise<Decision>;
