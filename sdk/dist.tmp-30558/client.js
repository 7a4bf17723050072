/**
 * Keyward could not be asked, or refused the call itself (a bad token, a bad request, a missing
 * key id). A refused API key is never this: it is a Verification with `valid: false`.
 */
export class KeywardError extends Error {
  /** Keyward's error code (`unauthorized`, `not_found`, …), or `network_error` / `timeout`. */
  code;
  /** The HTTP status, or null when no answer came. */
  status;
  requestId;
  constructor(code, message, status, requestId, options) {
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
function errnoOf(error) {
  let current = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = current.code;
    if (typeof code === 'string' && code.startsWith('E')) return code;
    current = current.cause;
  }
  return undefined;
}
const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 1000;
/** Full jitter (AWS's "exponential backoff and jitter"): uniform in [0, min(cap, base·2^n)]. */
function backoff(attempt) {
  return Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * Retry policy: reads (GET) are retried on a network error or a 503; writes (every other call,
 * POST /v1/verify included, since a verification spends rate, quota and credits) only when the
 * connection failed before the request was sent. All attempts and waits fit in `timeoutMs`.
 */
export class Keyward {
  keys;
  usage;
  base;
  authorization;
  timeoutMs;
  retries;
  fetcher;
  constructor(options) {
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
  verify(request) {
    return this.call('POST', '/v1/verify', request);
  }
  /** @internal One API call with the timeout and retry policy; the parsed JSON answer. */
  async call(method, path, body) {
    const deadline = Date.now() + this.timeoutMs;
    const headers = { authorization: this.authorization };
    let payload;
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
        let response;
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
          if (response.status === 204) return undefined;
          return await response.json();
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
  async pause(attempt, deadline) {
    if (attempt >= this.retries) return false;
    const wait = backoff(attempt);
    if (Date.now() + wait >= deadline) return false;
    await sleep(wait);
    return true;
  }
}
function abort(controller) {
  controller.abort();
}
function timeoutError(timeoutMs, cause) {
  return new KeywardError('timeout', `Keyward did not answer within ${timeoutMs} ms`, null, null, {
    cause,
  });
}
function networkError(cause) {
  const reason = errnoOf(cause) ?? (cause instanceof Error ? cause.message : String(cause));
  return new KeywardError('network_error', `Keyward could not be reached (${reason})`, null, null, {
    cause,
  });
}
async function errorFrom(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = body?.error;
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
const segment = (id) => {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('Keyward: id is required');
  return encodeURIComponent(id);
};
class KeysApi {
  client;
  constructor(client) {
    this.client = client;
  }
  create(request) {
    return this.client.call('POST', '/v1/keys', request);
  }
  get(id) {
    return this.client.call('GET', `/v1/keys/${segment(id)}`);
  }
  update(id, changes) {
    return this.client.call('PATCH', `/v1/keys/${segment(id)}`, changes);
  }
  revoke(id) {
    return this.client.call('POST', `/v1/keys/${segment(id)}/revoke`);
  }
  rotate(id, options = {}) {
    return this.client.call('POST', `/v1/keys/${segment(id)}/rotate`, options);
  }
  delete(id) {
    return this.client.call('DELETE', `/v1/keys/${segment(id)}`);
  }
  /** One page; `cursor` is the previous page's `next_cursor`. */
  page(query = {}, cursor) {
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
  async *list(query = {}) {
    let cursor;
    for (;;) {
      const page = await this.page(query, cursor);
      yield* page.data;
      if (!page.has_more || page.next_cursor === null) return;
      cursor = page.next_cursor;
    }
  }
}
class UsageApi {
  client;
  constructor(client) {
    this.client = client;
  }
  /**
   * Settles a usage-billed verification: the reserved cost is replaced by `amount`, the
   * difference refunded or charged. Never retried after it may have reached Keyward.
   */
  settle(request) {
    return this.client.call('POST', '/v1/usage', request);
  }
}
