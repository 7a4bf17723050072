import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { buildCommit, VERSION } from '../../src/version.ts';
import { startUpstream, type Upstream } from '../gateway/stack.ts';
import { ARTIFACTS_DIR, DATABASES, type TestDatabase } from '../helpers/databases.ts';
import { SECRETS_SEEN, uniqueEmail } from '../helpers/harness.ts';
import { dropRedisPrefix, REDIS_URL, redisTestPrefix } from '../helpers/redis.ts';

/** The samples of a text exposition: `name{a="1",b="2"}` (labels sorted) → value. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const [, name, labelText, value] = match as unknown as [
      string,
      string,
      string | undefined,
      string,
    ];
    const labels = [...(labelText ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, key, val]) => `${key}="${val}"`)
      .sort();
    samples.set(`${name}{${labels.join(',')}}`, Number(value));
  }
  return samples;
}

function sample(samples: Map<string, number>, name: string, labels: Record<string, string> = {}) {
  const key = `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',')}}`;
  return samples.get(key);
}

const NOT_A_KEY = `sk_live_${'0'.repeat(40)}`;

describe.each(DATABASES)('Prometheus metrics on METRICS_PORT, $name', (kind) => {
  let database: TestDatabase;
  let server: RunningServer;
  let upstream: Upstream;
  let routesFile: string;
  let cookie: string;
  let csrf: string;
  let managementRequests = 0;
  const postgres = kind.name === 'postgres';
  const redisPrefix = redisTestPrefix();

  /** A request to the API over HTTP, as a client sends it. */
  const call = async (
    method: string,
    path: string,
    options: { bearer?: string; body?: unknown; session?: boolean } = {},
  ) => {
    const headers: Record<string, string> = {};
    if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
    if (options.session) {
      headers.cookie = cookie;
      if (method !== 'GET') headers['x-csrf-token'] = csrf;
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(server.address + path, {
      method,
      headers,
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };

  const scrape = async () => {
    const response = await fetch(`${server.metrics?.address}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    return parseExposition(await response.text());
  };

  beforeAll(async () => {
    database = await kind.create();
    upstream = await startUpstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"ok":true}');
    });
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    routesFile = join(ARTIFACTS_DIR, `routes-${randomBytes(6).toString('hex')}.json`);
    writeFileSync(
      routesFile,
      JSON.stringify({ routes: [{ method: 'GET', path: '/hello', permission: 'hello:read' }] }),
    );
    const config = loadConfig({
      DATABASE_URL: database.config.url,
      PORT: '0',
      METRICS_PORT: '0',
      GATEWAY_PORT: '0',
      GATEWAY_UPSTREAM: upstream.url,
      GATEWAY_ROUTES: routesFile,
      SHUTDOWN_DRAIN_DELAY: '0s',
      // Flushed by the test, not by a timer, so the pending counts are known.
      USAGE_FLUSH_INTERVAL: '1h',
      ...(postgres && { REDIS_URL, REDIS_KEY_PREFIX: redisPrefix }),
    });
    server = await startServer(config, createLogger('silent'));
    const password = `pw-${randomBytes(8).toString('hex')}-long`;
    SECRETS_SEEN.add(password);
    const signup = await fetch(`${server.address}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: uniqueEmail('metrics'), password }),
    });
    managementRequests += 1;
    expect(signup.status).toBe(201);
    cookie = (signup.headers.get('set-cookie') ?? '').split(';')[0] as string;
    csrf = ((await signup.json()) as { csrf_token: string }).csrf_token;
  });

  afterAll(async () => {
    await server?.close();
    await upstream?.close();
    await database?.drop();
    if (postgres) await dropRedisPrefix(redisPrefix);
    rmSync(routesFile, { force: true });
  });

  it('listens on its own port, 127.0.0.1 by default, and serves only /metrics', async () => {
    expect(server.metrics?.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.metrics?.address).not.toBe(server.address);
    expect((await fetch(`${server.metrics?.address}/other`)).status).toBe(404);
    expect((await fetch(`${server.metrics?.address}/metrics`, { method: 'POST' })).status).toBe(
      405,
    );
    // Not served by the API itself.
    expect((await fetch(`${server.address}/metrics`)).status).toBe(404);
    managementRequests += 1;
  });

  it('counts exactly the verifications, requests and cache lookups of known traffic', async () => {
    const created = await call('POST', '/v1/keys', {
      session: true,
      body: { name: 'metered', permissions: ['key:read', 'hello:read'] },
    });
    managementRequests += 1;
    expect(created.status).toBe(201);
    const key = created.json.key as string;
    SECRETS_SEEN.add(key);
    const token = await call('POST', '/v1/tokens', {
      session: true,
      body: { name: 'reader', scopes: ['keys:read'] },
    });
    managementRequests += 1;
    expect(token.status).toBe(201);

    const before = await scrape();
    expect(
      sample(before, 'keyward_verifications_total', { route: 'key_holder', code: 'VALID' }),
    ).toBe(undefined);

    // 5 valid and 3 refused key-holder requests: the first of each reads the database.
    for (let i = 0; i < 5; i++)
      expect((await call('GET', '/v1/key', { bearer: key })).status).toBe(200);
    for (let i = 0; i < 3; i++)
      expect((await call('GET', '/v1/key', { bearer: NOT_A_KEY })).status).toBe(401);
    // Through the gateway: 2 valid, 1 refused.
    for (const bearer of [key, key, NOT_A_KEY]) {
      const response = await fetch(`${server.gateway?.address}/hello`, {
        headers: { authorization: `Bearer ${bearer}` },
      });
      await response.arrayBuffer();
      expect(response.status).toBe(bearer === key ? 200 : 401);
    }
    // Management: a list of keys.
    expect((await call('GET', '/v1/keys', { session: true })).status).toBe(200);
    managementRequests += 1;

    const after = await scrape();
    const verifications = (route: string, code: string) =>
      sample(after, 'keyward_verifications_total', { route, code });
    expect(verifications('key_holder', 'VALID')).toBe(5);
    expect(verifications('key_holder', 'NOT_FOUND')).toBe(3);
    expect(verifications('gateway', 'VALID')).toBe(2);
    expect(verifications('gateway', 'NOT_FOUND')).toBe(1);
    expect(verifications('verify', 'VALID')).toBe(undefined);

    const requests = (k: string, status: string) =>
      sample(after, 'keyward_http_requests_total', { kind: k, status });
    expect(requests('key_holder', '200')).toBe(5);
    expect(requests('key_holder', '401')).toBe(3);
    expect(requests('gateway', '200')).toBe(2);
    expect(requests('gateway', '401')).toBe(1);
    const management = [...after]
      .filter(([name]) => name.startsWith('keyward_http_requests_total{kind="management"'))
      .reduce((sum, [, n]) => sum + n, 0);
    expect(management).toBe(managementRequests);

    const durations = (route: string) =>
      sample(after, 'keyward_verification_request_duration_seconds_count', { route });
    expect(durations('key_holder')).toBe(8);
    expect(durations('gateway')).toBe(3);
    expect(
      sample(after, 'keyward_verification_request_duration_seconds_bucket', {
        route: 'key_holder',
        le: '+Inf',
      }),
    ).toBe(8);
    expect(sample(after, 'keyward_management_request_duration_seconds_count')).toBe(
      managementRequests,
    );

    // Key lookups: one database read per distinct key, then 6 hits and 3 known-missing.
    const lookups = (result: string) =>
      sample(after, 'keyward_cache_lookups_total', { cache: 'key', result });
    expect(lookups('miss')).toBe(2);
    expect(lookups('hit')).toBe(6);
    expect(lookups('negative_hit')).toBe(3);
    expect(sample(after, 'keyward_cache_entries', { cache: 'key' })).toBe(1);
    expect(sample(after, 'keyward_cache_entries', { cache: 'key_negative' })).toBe(1);

    // 7 verifications of the existing key are waiting to be written; then flushed.
    expect(sample(after, 'keyward_usage_pending', { what: 'requests' })).toBe(7);
    expect(sample(after, 'keyward_usage_pending', { what: 'keys' })).toBe(1);
    await server.services.usage.flush();
    const flushed = await scrape();
    expect(sample(flushed, 'keyward_usage_pending', { what: 'requests' })).toBe(0);
    expect(sample(flushed, 'keyward_usage_flush_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(flushed, 'keyward_usage_flush_failures_total')).toBe(0);
    expect(sample(flushed, 'keyward_usage_flush_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(flushed, 'keyward_limiter_errors_total')).toBe(0);
  });

  it('counts POST /v1/verify by outcome, a refused key included (answered 200)', async () => {
    const created = await call('POST', '/v1/keys', { session: true, body: { name: 'verified' } });
    const key = created.json.key as string;
    SECRETS_SEEN.add(key);
    // A keys:verify service token needs an admin.
    await server.services.store.db
      .updateTable('users')
      .set({ role: 'admin' })
      .where('role', '=', 'user')
      .execute();
    const token = await call('POST', '/v1/tokens', {
      session: true,
      body: { name: 'verifier', scopes: ['keys:verify'] },
    });
    expect(token.status).toBe(201);
    const verifier = token.json.token as string;
    SECRETS_SEEN.add(verifier);
    for (const candidate of [key, key, NOT_A_KEY]) {
      const answer = await call('POST', '/v1/verify', {
        bearer: verifier,
        body: { key: candidate },
      });
      expect(answer.status).toBe(200);
    }
    const samples = await scrape();
    expect(sample(samples, 'keyward_verifications_total', { route: 'verify', code: 'VALID' })).toBe(
      2,
    );
    expect(
      sample(samples, 'keyward_verifications_total', { route: 'verify', code: 'NOT_FOUND' }),
    ).toBe(1);
    expect(sample(samples, 'keyward_http_requests_total', { kind: 'verify', status: '200' })).toBe(
      3,
    );
    // The service token: read once, then cached.
    expect(sample(samples, 'keyward_cache_lookups_total', { cache: 'token', result: 'miss' })).toBe(
      1,
    );
    expect(sample(samples, 'keyward_cache_lookups_total', { cache: 'token', result: 'hit' })).toBe(
      2,
    );
  });

  it('reports the bus, the database pool and the process', async () => {
    const samples = await scrape();
    expect(
      sample(samples, 'keyward_invalidation_bus_connected', { bus: postgres ? 'redis' : 'sqlite' }),
    ).toBe(1);
    if (postgres) {
      expect(sample(samples, 'keyward_db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
      expect(
        sample(samples, 'keyward_db_pool_connections', { state: 'idle' }),
      ).toBeGreaterThanOrEqual(0);
      expect(sample(samples, 'keyward_db_pool_waiting')).toBe(0);
      // Revoking a key sends one invalidation to the other nodes.
      const sent = sample(samples, 'keyward_invalidation_bus_messages_total', {
        direction: 'sent',
      });
      const created = await call('POST', '/v1/keys', { session: true, body: { name: 'revoked' } });
      const id = created.json.id as string;
      expect(
        (await call('POST', `/v1/keys/${id}/revoke`, { session: true, body: {} })).status,
      ).toBe(200);
      const later = await scrape();
      expect(
        sample(later, 'keyward_invalidation_bus_messages_total', { direction: 'sent' }),
      ).toBeGreaterThan(sent ?? 0);
      expect(sample(later, 'keyward_invalidation_bus_disconnects_total')).toBe(0);
    } else {
      expect(sample(samples, 'keyward_db_pool_connections', { state: 'total' })).toBe(undefined);
    }
    expect(
      sample(samples, 'keyward_build_info', {
        version: VERSION,
        commit: buildCommit() ?? 'unknown',
      }),
    ).toBe(1);
    expect(sample(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples.has('nodejs_eventloop_lag_seconds{}')).toBe(true);
  });
});

describe('metrics while Redis is unreachable (SQLite)', () => {
  it('counts the limiter errors and the 503s, and reports the bus down', async () => {
    const sqlite = DATABASES[0] as (typeof DATABASES)[number];
    const database = await sqlite.create();
    // Nothing listens on port 1: every Redis call fails at once.
    const server = await startServer(
      loadConfig({
        DATABASE_URL: database.config.url,
        PORT: '0',
        METRICS_PORT: '0',
        REDIS_URL: 'redis://127.0.0.1:1',
        SHUTDOWN_DRAIN_DELAY: '0s',
      }),
      createLogger('silent'),
    );
    try {
      const signup = await server.app.inject({
        method: 'POST',
        url: '/v1/auth/signup',
        payload: {
          email: uniqueEmail('redis-down'),
          password: `pw-${randomBytes(8).toString('hex')}-long`,
        },
      });
      const cookie = signup.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
      const created = await server.app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: { cookie, 'x-csrf-token': signup.json().csrf_token },
        payload: { name: 'limited', limits: { rate: [{ limit: 100, window: '1m' }] } },
      });
      expect(created.statusCode).toBe(201);
      const key = created.json().key as string;
      SECRETS_SEEN.add(key);
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${server.address}/v1/key`, {
          headers: { authorization: `Bearer ${key}` },
        });
        await response.arrayBuffer();
        expect(response.status).toBe(503);
      }
      const samples = parseExposition(
        await (await fetch(`${server.metrics?.address}/metrics`)).text(),
      );
      expect(sample(samples, 'keyward_limiter_errors_total')).toBe(3);
      expect(
        sample(samples, 'keyward_http_requests_total', { kind: 'key_holder', status: '503' }),
      ).toBe(3);
      expect(sample(samples, 'keyward_invalidation_bus_connected', { bus: 'redis' })).toBe(0);
      // The caches are bypassed while the bus is down: every lookup read the database.
      expect(sample(samples, 'keyward_cache_lookups_total', { cache: 'key', result: 'hit' })).toBe(
        0,
      );
      expect(sample(samples, 'keyward_cache_lookups_total', { cache: 'key', result: 'miss' })).toBe(
        3,
      );
    } finally {
      await server.close();
      await database.drop();
    }
  });
});

describe('metrics off', () => {
  it('without METRICS_PORT nothing listens and requests are not counted', async () => {
    const sqlite = DATABASES[0] as (typeof DATABASES)[number];
    const database = await sqlite.create();
    const server = await startServer(
      loadConfig({ DATABASE_URL: database.config.url, PORT: '0', SHUTDOWN_DRAIN_DELAY: '0s' }),
      createLogger('silent'),
    );
    try {
      expect(server.metrics).toBe(null);
      expect(server.services.metrics.enabled).toBe(false);
      await fetch(`${server.address}/healthz`);
      const text = await server.services.metrics.text();
      expect(text).not.toContain('keyward_http_requests_total{');
      expect(text).not.toContain('process_cpu_user_seconds_total');
    } finally {
      await server.close();
      await database.drop();
    }
  });
});
