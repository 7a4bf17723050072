import { Writable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLog } from '../../src/http/access-log.ts';
import { createLogger, loggableUrl } from '../../src/logger.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  SECRETS_SEEN,
  verifierToken,
} from '../helpers/harness.ts';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  kind?: string;
  method?: string;
  url?: string;
  route?: string | null;
  status?: number;
  duration_ms?: number;
  ip?: string;
  code?: string;
  slow?: boolean;
}

const sqlite = DATABASES[0] as (typeof DATABASES)[number];
const NOT_A_KEY = `sk_live_${'0'.repeat(40)}`;

/** The access lines written since the harness was built, parsed. */
function accessLines(h: Harness): Line[] {
  return h.logs.map((text) => JSON.parse(text) as Line).filter((line) => line.msg === 'request');
}

/**
 * The same traffic under each setting: two management requests, then verification traffic of
 * every kind (valid, refused with a 4xx, refused with a 200 from /v1/verify, a key in the query).
 */
async function traffic(h: Harness, account: Account, key: string, verifier: string) {
  h.logs.length = 0;
  const statuses = [
    (await h.request({ method: 'GET', url: '/v1/keys?limit=5', as: account })).statusCode,
    (await h.request({ method: 'POST', url: '/v1/keys', as: account, body: { name: 'second' } }))
      .statusCode,
    (await h.request({ method: 'GET', url: '/v1/key', bearer: key })).statusCode,
    (await h.request({ method: 'GET', url: '/v1/key', bearer: NOT_A_KEY })).statusCode,
    (
      await h.request({
        method: 'POST',
        url: '/v1/verify',
        bearer: verifier,
        body: { key },
      })
    ).statusCode,
    (
      await h.request({
        method: 'POST',
        url: '/v1/verify',
        bearer: verifier,
        body: { key: NOT_A_KEY },
      })
    ).statusCode,
    (await h.request({ method: 'GET', url: `/v1/key?api_key=${key}` })).statusCode,
  ];
  expect(statuses).toEqual([200, 201, 200, 401, 200, 200, 401]);
  return accessLines(h);
}

describe('access log lines by ACCESS_LOG (SQLite)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const setUp = async (env: Record<string, string>) => {
    h = await createHarness(sqlite, env);
    const account = await h.signup();
    const { key } = await createKey(h, account, { name: 'logged' });
    const verifier = await verifierToken(h);
    return { h, account, key, verifier };
  };

  it('errors (the default): every management request, and only refused verifications', async () => {
    const { h, account, key, verifier } = await setUp({});
    expect(h.config.accessLog).toBe('errors');
    const lines = await traffic(h, account, key, verifier);
    expect(lines.map((l) => [l.kind, l.method, l.url, l.status, l.code ?? null])).toEqual([
      ['management', 'GET', '/v1/keys?limit=…', 200, null],
      ['management', 'POST', '/v1/keys', 201, null],
      ['key_holder', 'GET', '/v1/key', 401, 'NOT_FOUND'],
      ['verify', 'POST', '/v1/verify', 200, 'NOT_FOUND'],
      ['key_holder', 'GET', '/v1/key?api_key=…', 401, 'NOT_FOUND'],
    ]);
    // One line per request, with the request id, the route and the time taken; Fastify's own
    // "incoming request" / "request completed" lines are gone.
    const ids = lines.map((l) => l.reqId);
    expect(new Set(ids).size).toBe(lines.length);
    for (const line of lines) {
      expect(line.level).toBe(30);
      expect(line.reqId).toMatch(/^req_[0-9a-f]{32}$/);
      expect(line.duration_ms).toBeGreaterThanOrEqual(0);
      expect(line.ip).toBe('127.0.0.1');
    }
    expect(lines[0]?.route).toBe('/v1/keys');
    expect(h.logs.join('\n')).not.toMatch(/incoming request|request completed/);
  });

  it('all: one line for every request, verification included', async () => {
    const { h, account, key, verifier } = await setUp({ ACCESS_LOG: 'all' });
    const lines = await traffic(h, account, key, verifier);
    expect(lines.map((l) => [l.kind, l.status, l.code ?? null])).toEqual([
      ['management', 200, null],
      ['management', 201, null],
      ['key_holder', 200, 'VALID'],
      ['key_holder', 401, 'NOT_FOUND'],
      ['verify', 200, 'VALID'],
      ['verify', 200, 'NOT_FOUND'],
      ['key_holder', 401, 'NOT_FOUND'],
    ]);
  });

  it('off: no access line at all', async () => {
    const { h, account, key, verifier } = await setUp({ ACCESS_LOG: 'off' });
    expect(await traffic(h, account, key, verifier)).toEqual([]);
  });

  it('LOG_LEVEL=warn writes no access line whatever ACCESS_LOG says', async () => {
    const { h, account, key, verifier } = await setUp({ ACCESS_LOG: 'all', LOG_LEVEL: 'warn' });
    expect(await traffic(h, account, key, verifier)).toEqual([]);
  });

  it('no secret reaches a line: keys, tokens, passwords and session ids', async () => {
    const { h, account, key, verifier } = await setUp({ ACCESS_LOG: 'all' });
    await traffic(h, account, key, verifier);
    await h.request({ method: 'GET', url: `/v1/keys/${key}`, as: account });
    await h.request({ method: 'GET', url: `/v1/nothing/${verifier}?token=${verifier}` });
    const text = h.logs.join('\n');
    expect(text).toContain('/v1/nothing/');
    const secrets = [
      ...SECRETS_SEEN,
      key,
      verifier,
      account.password,
      account.cookie.split('=')[1],
    ];
    for (const secret of secrets) {
      if (secret === undefined || secret.length < 12) continue;
      expect(text.includes(secret.slice(-24)), 'a secret in the access log').toBe(false);
    }
  });
});

describe('slow requests', () => {
  /** A request and reply as far as the access log reads them (a unit check of the decision). */
  const answered = (kind: 'key_holder' | null, ms: number, status = 200) => {
    const lines: Line[] = [];
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk, _encoding, callback) {
          lines.push(JSON.parse(String(chunk)) as Line);
          callback();
        },
      }),
    );
    const request = {
      routeKind: kind,
      verdict: kind === null ? null : 'VALID',
      method: 'GET',
      url: '/v1/key',
      ip: '127.0.0.1',
      routeOptions: { url: '/v1/key' },
      gateway: null,
      log: logger,
    } as unknown as FastifyRequest;
    const reply = { statusCode: status, elapsedTime: ms } as unknown as FastifyReply;
    return { lines, request, reply, logger };
  };

  it('a valid verification is logged under ACCESS_LOG=errors once it takes SLOW_REQUEST_MS', () => {
    const fast = answered('key_holder', 499.9);
    new AccessLog({
      mode: 'errors',
      slowMs: 500,
      logger: fast.logger,
      metrics: null,
    }).requestCompleted(null, fast.request, fast.reply);
    expect(fast.lines).toEqual([]);
    const slow = answered('key_holder', 500);
    new AccessLog({
      mode: 'errors',
      slowMs: 500,
      logger: slow.logger,
      metrics: null,
    }).requestCompleted(null, slow.request, slow.reply);
    expect(slow.lines).toHaveLength(1);
    expect(slow.lines[0]).toMatchObject({ kind: 'key_holder', slow: true, duration_ms: 500 });
  });

  it('an answer that broke off is a warning whatever ACCESS_LOG says', () => {
    const broken = answered('key_holder', 3);
    new AccessLog({
      mode: 'off',
      slowMs: 500,
      logger: broken.logger,
      metrics: null,
    }).requestCompleted(new Error('write EPIPE'), broken.request, broken.reply);
    expect(broken.lines).toHaveLength(1);
    expect(broken.lines[0]).toMatchObject({
      level: 40,
      msg: 'the answer broke off',
      kind: 'key_holder',
      url: '/v1/key',
      err: { type: 'Error', message: 'write EPIPE' },
    });
  });

  it('off writes nothing, even for a slow request', () => {
    const slow = answered('key_holder', 10_000, 500);
    new AccessLog({
      mode: 'off',
      slowMs: 500,
      logger: slow.logger,
      metrics: null,
    }).requestCompleted(null, slow.request, slow.reply);
    expect(slow.lines).toEqual([]);
  });
});

describe('loggableUrl', () => {
  it('keeps query parameter names, drops their values, masks secrets in the path', () => {
    const key = `sk_live_${'ab12'.repeat(10)}`;
    expect(loggableUrl('/v1/keys?limit=10&cursor=abc')).toBe('/v1/keys?limit=…&cursor=…');
    expect(loggableUrl(`/v1/key?api_key=${key}`)).toBe('/v1/key?api_key=…');
    expect(loggableUrl(`/v1/keys/${key}`)).toBe('/v1/keys/sk_live_ab12…');
    expect(loggableUrl(`/x?${key}`)).toBe('/x?sk_live_ab12…');
    // A long base64url run (a session id, a one-time link's token) is masked too; ids are not.
    const token = 'Zm9vYmFyYmF6cXV4LWxvbmctZW5vdWdoLXRvLWJlLWEtc2VjcmV0';
    expect(loggableUrl(`/reset/${token}`)).toBe('/reset/Zm9v…');
    expect(loggableUrl('/v1/keys/key_abcdefghijklmnopqrstuvwx/usage')).toBe(
      '/v1/keys/key_abcdefghijklmnopqrstuvwx/usage',
    );
    expect(loggableUrl('/v1/keys?')).toBe('/v1/keys');
  });
});
