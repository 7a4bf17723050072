import type { paths } from './openapi.ts';

type Json<Body> = Body extends { content: { 'application/json': infer T } } ? T : never;
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
  parameters: { query?: infer Q };
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
export class KeywardError extends Error {
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
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KeywardError';
    this.code = code;
    this.status = status;
    this.requestId = requestId;
  }
}

/**
 * Connection errors that happen before a byte of the request is written: the server cannot have
 * acted on it, so even a write may be sent again.
 */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function errnoOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('E')) return code;
    current = current.cause;
  }
  return undefined;
}

const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 1000;

/** Full jitter (AWS's "exponential backoff and jitter"): uniform in [0, min(cap, base·2^n)]. */
function backoff(attempt: number): number {
  return Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/**
 * Retry policy: reads (GET) are retried on a network error or a 503; writes (every other call,
 * POST /v1/verify included, since a verification spends rate, quota and credits) only when the
 * connection failed before the request was sent. All attempts and waits fit in `timeoutMs`.
 */
export class Keyward {
  readonly keys: KeysApi;
  readonly usage: UsageApi;
  private readonly base: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly fetcher: typeof fetch;

  constructor(options: KeywardOptions) {
    if (typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl))
      throw new TypeError('Keyward: baseUrl must be an http(s) URL');
    if (typeof options.token !== 'string' || options.token.length === 0)
      throw new TypeError('Keyward: token is required');
    const timeoutMs = options.timeoutMs ?? 5000;
    const retries = options.retries ?? 2;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new TypeError('Keyward: timeoutMs must be a positive number');
    if (!Number.isInteger(retries) || retries < 0)
      throw new TypeError('Keyward: retries must be a whole number ≥ 0');
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.authorization = `Bearer ${options.token}`;
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    this.fetcher = options.fetch ?? globalThis.fetch;
    this.keys = new KeysApi(this);
    this.usage = new UsageApi(this);
  }

  /**
   * Verifies a key. Resolves to the verification whether the key is valid or refused; rejects
   * with KeywardError only when Keyward cannot be asked (unreachable, timeout, a bad token).
   */
  verify(request: VerifyRequest): Promise<Verification> {
    return this.call('POST', '/v1/verify', request);
  }

  /** @internal One API call with the timeout and retry policy; the parsed JSON answer. */
  async call<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    const headers: Record<string, string> = { authorization: this.authorization };
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    for (let attempt = 0; ; attempt++) {
      // A controller and a timer cleared as soon as the answer is read, not AbortSignal.timeout:
      // its timer lives on for the whole timeout after the call, thousands of them under load.
      const controller = new AbortController();
      const timer = setTimeout(abort, Math.max(1, deadline - Date.now()), controller);
      try {
        let response: Response;
        try {
          response = await this.fetcher(this.base + path, {
            method,
            headers,
            body: payload,
            signal: controller.signal,
          });
        } catch (error) {
          const timedOut = controller.signal.aborted;
          const notSent = NOT_SENT.has(errnoOf(error) ?? '');
          if (!timedOut && (method === 'GET' || notSent) && (await this.pause(attempt, deadline)))
            continue;
          throw timedOut ? timeoutError(this.timeoutMs, error) : networkError(error);
        }
        if (response.ok) {
          if (response.status === 204) return undefined as T;
          return (await response.json()) as T;
        }
        if (response.status === 503 && method === 'GET' && (await this.pause(attempt, deadline))) {
          await response.body?.cancel();
          continue;
        }
        throw await errorFrom(response);
      } catch (error) {
        if (error instanceof KeywardError) throw error;
        // Reading the answer failed: the connection dropped or the deadline passed mid-body.
        throw controller.signal.aborted ? timeoutError(this.timeoutMs, error) : networkError(error);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Waits before another attempt; false when no attempt is left or the wait would pass the deadline. */
  private async pause(attempt: number, deadline: number): Promise<boolean> {
    if (attempt >= this.retries) return false;
    const wait = backoff(attempt);
    if (Date.now() + wait >= deadline) return false;
    await sleep(wait);
    return true;
  }
}

function abort(controller: AbortController): void {
  controller.abort();
}

function timeoutError(timeoutMs: number, cause: unknown): KeywardError {
  return new KeywardError('timeout', `Keyward did not answer within ${timeoutMs} ms`, null, null, {
    cause,
  });
}

function networkError(cause: unknown): KeywardError {
  const reason = errnoOf(cause) ?? (cause instanceof Error ? cause.message : String(cause));
  return new KeywardError('network_error', `Keyward could not be reached (${reason})`, null, null, {
    cause,
  });
}

async function errorFrom(response: Response): Promise<KeywardError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = (body as Partial<ErrorBody> | undefined)?.error;
  if (error !== undefined && typeof error.code === 'string') {
    return new KeywardError(
      error.code,
      typeof error.message === 'string' ? error.message : error.code,
      response.status,
      typeof error.request_id === 'string' ? error.request_id : null,
    );
  }
  return new KeywardError(
    response.status === 503 ? 'service_unavailable' : 'unexpected_response',
    `Keyward answered ${response.status}`,
    response.status,
    null,
  );
}

const segment = (id: string) => {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('Keyward: id is required');
  return encodeURIComponent(id);
};

class KeysApi {
  private readonly client: Keyward;
  constructor(client: Keyward) {
    this.client = client;
  }

  create(request: CreateKeyRequest): Promise<CreatedKey> {
    return this.client.call('POST', '/v1/keys', request);
  }

  get(id: string): Promise<ApiKey> {
    return this.client.call('GET', `/v1/keys/${segment(id)}`);
  }

  update(id: string, changes: UpdateKeyRequest): Promise<ApiKey> {
    return this.client.call('PATCH', `/v1/keys/${segment(id)}`, changes);
  }

  revoke(id: string): Promise<ApiKey> {
    return this.client.call('POST', `/v1/keys/${segment(id)}/revoke`);
  }

  rotate(id: string, options: RotateKeyRequest = {}): Promise<CreatedKey> {
    return this.client.call('POST', `/v1/keys/${segment(id)}/rotate`, options);
  }

  delete(id: string): Promise<void> {
    return this.client.call('DELETE', `/v1/keys/${segment(id)}`);
  }

  /** One page; `cursor` is the previous page's `next_cursor`. */
  page(query: ListKeysQuery = {}, cursor?: string): Promise<KeyPage> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query))
      if (value !== undefined) params.set(name, String(value));
    if (cursor !== undefined) params.set('cursor', cursor);
    const search = params.toString();
    return this.client.call('GET', search === '' ? '/v1/keys' : `/v1/keys?${search}`);
  }

  /**
   * Every key matching the filters, newest first, fetched a page (`limit` keys, default 20) at a
   * time as the loop asks: `for await (const key of keyward.keys.list({ status: 'active' }))`.
   */
  async *list(query: ListKeysQuery = {}): AsyncGenerator<KeyPage['data'][number], void, undefined> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.page(query, cursor);
      yield* page.data;
      if (!page.has_more || page.next_cursor === null) return;
      cursor = page.next_cursor;
    }
  }
}

class UsageApi {
  private readonly client: Keyward;
  constructor(client: Keyward) {
    this.client = client;
  }

  /**
   * Settles a usage-billed verification: the reserved cost is replaced by `amount`, the
   * difference refunded or charged. Never retried after it may have reached Keyward.
   */
  settle(request: SettleRequest): Promise<Settlement> {
    return this.client.call('POST', '/v1/usage', request);
  }
}
