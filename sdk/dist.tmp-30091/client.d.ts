import type { paths } from './openapi.ts';

type Json<Body> = Body extends {
  content: {
    'application/json': infer T;
  };
}
  ? T
  : never;
type Answer<
  P extends keyof paths,
  M extends keyof paths[P],
  S extends number,
> = paths[P][M] extends {
  responses: infer R;
}
  ? S extends keyof R
    ? Json<R[S]>
    : never
  : never;
type RequestBody<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: infer B;
}
  ? Json<NonNullable<B>>
  : never;
type Query<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  parameters: {
    query?: infer Q;
  };
}
  ? NonNullable<Q>
  : never;
/** What `verify` sends: the key your caller presented, and what the request needs. */
export type VerifyRequest = RequestBody<'/v1/verify', 'post'>;
/** The §4 verification answer: always a result, valid or not. */
export type Verification = Answer<'/v1/verify', 'post', 200>;
export type VerifyCode = Verification['code'];
export type ApiKey = Answer<'/v1/keys/{id}', 'get', 200>;
/** A new key (create, rotate): the key object plus `key`, the secret, shown this once. */
export type CreatedKey = Answer<'/v1/keys', 'post', 201>;
export type CreateKeyRequest = RequestBody<'/v1/keys', 'post'>;
export type UpdateKeyRequest = RequestBody<'/v1/keys/{id}', 'patch'>;
export type RotateKeyRequest = RequestBody<'/v1/keys/{id}/rotate', 'post'>;
export type ListKeysQuery = Omit<Query<'/v1/keys', 'get'>, 'cursor'>;
export type KeyPage = Answer<'/v1/keys', 'get', 200>;
export type SettleRequest = RequestBody<'/v1/usage', 'post'>;
export type Settlement = Answer<'/v1/usage', 'post', 200>;
/** The one error shape of every Keyward answer that is not a success. */
export type ErrorBody = Answer<'/v1/keys', 'get', 401>;
export interface KeywardOptions {
  /** Where Keyward listens, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** A service token (`kws_…`, with `keys:verify` to verify) or a management token (`kwm_…`). */
  token: string;
  /** The most one call may take, retries and backoff included (default 5000). */
  timeoutMs?: number;
  /** Extra attempts after the first when a retry is safe (default 2). */
  retries?: number;
  /** Another fetch (a proxy agent, a test double); the global one by default. */
  fetch?: typeof fetch;
}
/**
 * Keyward could not be asked, or refused the call itself (a bad token, a bad request, a missing
 * key id). A refused API key is never this: it is a Verification with `valid: false`.
 */
export declare class KeywardError extends Error {
  /** Keyward's error code (`unauthorized`, `not_found`, …), or `network_error` / `timeout`. */
  readonly code: string;
  /** The HTTP status, or null when no answer came. */
  readonly status: number | null;
  readonly requestId: string | null;
  constructor(
    code: string,
    message: string,
    status: number | null,
    requestId: string | null,
    options?: {
      cause?: unknown;
    },
  );
}
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
/**
 * Retry policy: reads (GET) are retried on a network error or a 503; writes (every other call,
 * POST /v1/verify included, since a verification spends rate, quota and credits) only when the
 * connection failed before the request was sent. All attempts and waits fit in `timeoutMs`.
 */
export declare class Keyward {
  readonly keys: KeysApi;
  readonly usage: UsageApi;
  private readonly base;
  private readonly authorization;
  private readonly timeoutMs;
  private readonly retries;
  private readonly fetcher;
  constructor(options: KeywardOptions);
  /**
   * Verifies a key. Resolves to the verification whether the key is valid or refused; rejects
   * with KeywardError only when Keyward cannot be asked (unreachable, timeout, a bad token).
   */
  verify(request: VerifyRequest): Promise<Verification>;
  /** @internal One API call with the timeout and retry policy; the parsed JSON answer. */
  call<T>(method: Method, path: string, body?: unknown): Promise<T>;
  /** Waits before another attempt; false when no attempt is left or the wait would pass the deadline. */
  private pause;
}
declare class KeysApi {
  private readonly client;
  constructor(client: Keyward);
  create(request: CreateKeyRequest): Promise<CreatedKey>;
  get(id: string): Promise<ApiKey>;
  update(id: string, changes: UpdateKeyRequest): Promise<ApiKey>;
  revoke(id: string): Promise<ApiKey>;
  rotate(id: string, options?: RotateKeyRequest): Promise<CreatedKey>;
  delete(id: string): Promise<void>;
  /** One page; `cursor` is the previous page's `next_cursor`. */
  page(query?: ListKeysQuery, cursor?: string): Promise<KeyPage>;
  /**
   * Every key matching the filters, newest first, fetched a page (`limit` keys, default 20) at a
   * time as the loop asks: `for await (const key of keyward.keys.list({ status: 'active' }))`.
   */
  list(query?: ListKeysQuery): AsyncGenerator<KeyPage['data'][number], void, undefined>;
}
declare class UsageApi {
  private readonly client;
  constructor(client: Keyward);
  /**
   * Settles a usage-billed verification: the reserved cost is replaced by `amount`, the
   * difference refunded or charged. Never retried after it may have reached Keyward.
   */
  settle(request: SettleRequest): Promise<Settlement>;
}
