import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Echoed,
  echo,
  eventually,
  type Stack,
  startStack,
  startUpstream,
  type Upstream,
} from './stack.ts';

const ROUTES = {
  routes: [
    { method: 'GET', path: '/public/*', public: true },
    { path: '/admin/*', permission: 'admin:all' },
    { method: 'GET', path: '/:section/x', public: true },
    {
      method: ['GET', 'POST'],
      path: '/items/:id',
      permission: 'items:read',
      resource: { from: 'path', name: 'id' },
    },
    { method: 'GET', path: '/search', resource: { from: 'query', name: 'model' } },
    { method: 'GET', path: '/by-header', resource: { from: 'header', name: 'X-Model' } },
    { method: 'POST', path: '/chat', resource: { from: 'body', field: 'model' }, cost: 3 },
    { method: 'GET', path: '/key', permission: 'key:read' },
    { method: 'PUT', path: '/upload' },
  ],
};

/** A request with a raw path (fetch would normalise `..` and `%61`). */
function raw(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path,
      method: options.method ?? 'GET',
      headers: options.headers,
    });
    req.on('response', (response) => {
      let body = '';
      response.on('data', (chunk) => {
        body += String(chunk);
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
      );
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('gateway routing, identity headers and refusals', () => {
  let upstream: Upstream;
  let stack: Stack;

  beforeAll(async () => {
    upstream = await startUpstream(echo);
    stack = await startStack(upstream.url, ROUTES);
  });
  afterAll(async () => {
    await stack.close();
    await upstream.close();
  });

  const get = (path: string, key?: string, headers: Record<string, string> = {}) =>
    fetch(`${stack.gateway}${path}`, {
      headers: { ...(key !== undefined && { authorization: `Bearer ${key}` }), ...headers },
    });

  it('answers 404 route_not_found for anything no rule matches (deny by default)', async () => {
    const { key } = await stack.createKey();
    for (const [method, path] of [
      ['GET', '/nothing'],
      ['DELETE', '/items/1'],
      ['GET', '/'],
      ['PATCH', '/public/a'],
      ['PROPFIND', '/items/1'],
    ] as const) {
      const response = await raw(stack.gateway, path, {
        method,
        headers: { authorization: `Bearer ${key}` },
      });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(JSON.parse(response.body).error.code).toBe('route_not_found');
    }
  });

  it('forwards a public route without a key and without identity headers', async () => {
    const response = await get('/public/a/b?q=1');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-upstream')).toBe('echo');
    const seen = (await response.json()) as Echoed;
    expect(seen.url).toBe('/public/a/b?q=1');
    expect(Object.keys(seen.headers).filter((h) => h.startsWith('x-keyward-'))).toEqual([]);
  });

  it('matches the decoded path and refuses dot segments, so no rule is bypassed by encoding', async () => {
    // Undecoded, /%61dmin/x would match the public "/:section/x"; the upstream would read /admin/x.
    const encoded = await raw(stack.gateway, '/%61dmin/x');
    expect(encoded.status).toBe(401);
    expect(JSON.parse(encoded.body).error.code).toBe('key_not_found');
    for (const path of [
      '/public/../admin/x',
      '/public/%2e%2e/admin/x',
      '/public/a%2Fb',
      '/public//a',
    ]) {
      const response = await raw(stack.gateway, path);
      expect(response.status, path).toBe(400);
      expect(JSON.parse(response.body).error.code).toBe('validation_error');
    }
  });

  it('takes the resource from the path, the query, a header or a JSON body field', async () => {
    const { key } = await stack.createKey({
      permissions: ['items:read'],
      allowed_resources: ['gpt-4'],
    });
    expect((await get('/items/gpt-4', key)).status).toBe(200);
    expect((await get('/items/other', key)).status).toBe(403);
    expect((await get('/search?model=gpt-4', key)).status).toBe(200);
    expect((await get('/search?model=other', key)).status).toBe(403);
    const missing = await get('/search', key);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(
      /query parameter "model"/,
    );
    expect((await get('/by-header', key, { 'x-model': 'gpt-4' })).status).toBe(200);
    expect((await get('/by-header', key, { 'x-model': 'other' })).status).toBe(403);
    expect((await get('/by-header', key)).status).toBe(400);

    // The upstream gets the exact bytes the client sent, not a re-serialisation.
    const body = '{ "model" :  "gpt-4", "messages": [ ],\n "n": 1.50 }';
    const chat = await fetch(`${stack.gateway}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body,
    });
    expect(chat.status).toBe(200);
    const seen = (await chat.json()) as Echoed;
    expect(seen.body).toBe(body);
    expect(seen.bodyLength).toBe(Buffer.byteLength(body));
    const refused = await fetch(`${stack.gateway}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"model":"gpt-3"}',
    });
    expect(refused.status).toBe(403);
    const noField = await fetch(`${stack.gateway}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"messages":[]}',
    });
    expect(noField.status).toBe(400);
    const notJson = await fetch(`${stack.gateway}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"model":',
    });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    // Without a key the answer is 401, not a complaint about the body.
    const noKey = await fetch(`${stack.gateway}/chat`, { method: 'POST', body: '{}' });
    expect(noKey.status).toBe(401);
    const tooLarge = await fetch(`${stack.gateway}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4', pad: 'x'.repeat(70_000) }),
    });
    expect(tooLarge.status).toBe(413);
  });

  it('removes the key, sets the identity headers and drops client-sent X-Keyward-* copies', async () => {
    const { id, key } = await stack.createKey({ environment: 'test' });
    const response = await get('/key', key, {
      'x-keyward-key-id': 'key_spoofed',
      'X-Keyward-Owner-Id': 'usr_spoofed',
      'x-keyward-admin': 'true',
      'x-api-key': key,
    });
    expect(response.status).toBe(200);
    const seen = (await response.json()) as Echoed;
    expect(seen.headers['x-keyward-key-id']).toBe(id);
    expect(seen.headers['x-keyward-owner-id']).toMatch(/^usr_/);
    expect(seen.headers['x-keyward-owner-id']).not.toBe('usr_spoofed');
    expect(seen.headers['x-keyward-environment']).toBe('test');
    expect(seen.headers['x-keyward-verification-id']).toMatch(/^ver_/);
    expect(seen.headers['x-keyward-admin']).toBeUndefined();
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(seen)).not.toContain(key);

    // The key in X-API-Key works too; another Authorization scheme is the upstream's and is kept.
    const viaHeader = await get('/key', undefined, {
      'x-api-key': key,
      authorization: 'Basic dXNlcjpwdw==',
    });
    expect(viaHeader.status).toBe(200);
    const seen2 = (await viaHeader.json()) as Echoed;
    expect(seen2.headers['x-api-key']).toBeUndefined();
    expect(seen2.headers.authorization).toBe('Basic dXNlcjpwdw==');
    expect(seen2.headers['x-keyward-key-id']).toBe(id);

    // Spoofed identity headers on a public route are dropped as well.
    const open = (await (
      await get('/public/a', undefined, { 'x-keyward-key-id': 'key_spoofed' })
    ).json()) as Echoed;
    expect(open.headers['x-keyward-key-id']).toBeUndefined();
  });

  it('ignores X-Forwarded-* from a peer that is not a trusted proxy', async () => {
    const seen = (await (
      await get('/public/a', undefined, {
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=203.0.113.9',
      })
    ).json()) as Echoed;
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(stack.gateway).host);
    expect(seen.headers.forwarded).toBeUndefined();
  });

  it('answers every refusal exactly as GET /v1/key does for the same key state', async () => {
    const revoke = async (id: string) => {
      await stack.server.services.store.db
        .updateTable('api_keys')
        .set({ revoked_at: Date.now() - 1000 })
        .where('id', '=', id)
        .execute();
    };
    const states: Array<[string, () => Promise<string>]> = [
      ['NOT_FOUND', async () => `sk_live_${'0'.repeat(40)}`],
      ['MALFORMED', async () => 'not-a-key'],
      [
        'REVOKED',
        async () => {
          const k = await stack.createKey();
          await revoke(k.id);
          return k.key;
        },
      ],
      [
        'EXPIRED',
        async () => {
          const k = await stack.createKey();
          await stack.server.services.store.db
            .updateTable('api_keys')
            .set({ expires_at: Date.now() - 1000 })
            .where('id', '=', k.id)
            .execute();
          return k.key;
        },
      ],
      [
        'DISABLED',
        async () => {
          const k = await stack.createKey();
          await stack.server.services.store.db
            .updateTable('api_keys')
            .set({ enabled: 0 })
            .where('id', '=', k.id)
            .execute();
          return k.key;
        },
      ],
      ['IP_NOT_ALLOWED', async () => (await stack.createKey({ ip_allowlist: ['10.9.8.7'] })).key],
      ['FORBIDDEN', async () => (await stack.createKey({ permissions: ['other:read'] })).key],
      [
        'RATE_LIMITED',
        async () => {
          const k = await stack.createKey({ limits: { rate: [{ limit: 1, window: '1m' }] } });
          expect((await get('/key', k.key)).status).toBe(200);
          return k.key;
        },
      ],
      [
        'QUOTA_EXCEEDED',
        async () => {
          const k = await stack.createKey({ limits: { daily: { requests: 1 } } });
          expect((await get('/key', k.key)).status).toBe(200);
          return k.key;
        },
      ],
      [
        'INSUFFICIENT_CREDITS',
        async () => (await stack.createKey({ credits: { remaining: 0 } })).key,
      ],
    ];
    const compared = [
      'www-authenticate',
      'ratelimit-policy',
      'content-type',
      'cache-control',
      'x-content-type-options',
    ];
    for (const [state, make] of states) {
      const key = await make();
      const viaGateway = await get('/key', key);
      const viaApi = await fetch(`${stack.api}/v1/key`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(viaGateway.status, state).toBe(viaApi.status);
      expect(viaGateway.status, state).toBeGreaterThanOrEqual(400);
      const g = (await viaGateway.json()) as { error: { code: string; message: string } };
      const a = (await viaApi.json()) as { error: { code: string; message: string } };
      expect(g.error.code, state).toBe(a.error.code);
      expect(g.error.message, state).toBe(a.error.message);
      for (const header of compared)
        expect(viaGateway.headers.get(header), `${state} ${header}`).toBe(
          viaApi.headers.get(header),
        );
      expect(viaGateway.headers.has('retry-after'), state).toBe(viaApi.headers.has('retry-after'));
      expect(viaGateway.headers.has('ratelimit'), state).toBe(viaApi.headers.has('ratelimit'));
    }
  });

  it('puts the RateLimit headers on allowed answers and records usage under the route', async () => {
    const { id, key } = await stack.createKey({
      permissions: ['items:read'],
      limits: { rate: [{ limit: 10, window: '1m' }] },
    });
    const response = await get('/items/abc', key);
    expect(response.status).toBe(200);
    expect(response.headers.get('ratelimit-policy')).toBe('"minute";q=10;w=60');
    expect(response.headers.get('ratelimit')).toMatch(/^"minute";r=9;t=\d+$/);
    expect((await get('/items/gpt-4/extra', key)).status).toBe(404);
    const forbidden = await get('/key', key);
    expect(forbidden.status).toBe(403);
    await stack.server.services.usage.flush();
    const logs = await stack.server.services.keys.requestLog(
      { type: 'cli', id: null, user: null, scopes: ['keys:manage'], ip: null },
      id,
      { limit: 10 },
    );
    expect(logs.entries.map((e) => [e.method, e.path, e.outcome]).sort()).toEqual([
      ['GET', '/items/:id', 'VALID'],
      ['GET', '/key', 'FORBIDDEN'],
    ]);
    // Quotas count admitted requests only.
    const totals = await stack.server.services.usage.totals(id);
    expect(totals.today).toEqual({ requests: 1, amount: 1 });
  });
});

describe('gateway behind a trusted proxy', () => {
  let upstream: Upstream;
  let stack: Stack;

  beforeAll(async () => {
    upstream = await startUpstream(echo);
    stack = await startStack(upstream.url, ROUTES, { TRUSTED_PROXIES: '127.0.0.1,::1' });
  });
  afterAll(async () => {
    await stack.close();
    await upstream.close();
  });

  it('passes the forwarded chain on and checks IP allowlists against the forwarded client', async () => {
    const { key } = await stack.createKey({ ip_allowlist: ['203.0.113.9'] });
    const headers = {
      authorization: `Bearer ${key}`,
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'api.example.com',
    };
    const response = await fetch(`${stack.gateway}/key`, { headers });
    expect(response.status).toBe(200);
    const seen = (await response.json()) as Echoed;
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe('api.example.com');
    const other = await fetch(`${stack.gateway}/key`, {
      headers: { ...headers, 'x-forwarded-for': '198.51.100.1' },
    });
    expect(other.status).toBe(403);
    const garbage = await fetch(`${stack.gateway}/key`, {
      headers: { ...headers, 'x-forwarded-for': 'not-an-ip' },
    });
    expect(garbage.status).toBe(400);
  });
});

describe('gateway usage settlement from a response header', () => {
  let upstream: Upstream;
  let stack: Stack;
  const routes = {
    routes: [
      {
        method: 'POST',
        path: '/v1/chat/completions',
        cost: { from: 'response_header', name: 'x-usage-tokens', estimate: 10 },
      },
      {
        method: 'POST',
        path: '/broken',
        cost: { from: 'response_header', name: 'x-usage-tokens', estimate: 10 },
      },
    ],
  };

  beforeAll(async () => {
    upstream = await startUpstream((request, response) => {
      request.resume();
      request.on('end', () => {
        if (request.url === '/broken') {
          response.socket?.destroy();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json', 'x-usage-tokens': '37' });
        response.end('{"ok":true}');
      });
    });
    stack = await startStack(upstream.url, routes);
  });
  afterAll(async () => {
    await stack.close();
    await upstream.close();
  });

  const post = (path: string, key: string) =>
    fetch(`${stack.gateway}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: '{}',
    });
  const remaining = async (key: string) => {
    const response = await fetch(`${stack.api}/v1/key`, {
      headers: { authorization: `Bearer ${key}` },
    });
    return ((await response.json()) as { credits: { remaining: number | null } }).credits.remaining;
  };

  it('settles a usage-billed key with credits to the header value', async () => {
    const { key } = await stack.createKey({ billing: 'usage', credits: { remaining: 100 } });
    const response = await post('/v1/chat/completions', key);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-usage-tokens')).toBe('37');
    // GET /v1/key itself costs 1 credit; 100 - 37 - 1 = 62 once settled.
    await eventually(async () => (await remaining(key)) === 62, 'settlement of 37 credits');
  });

  it('records the header value as the amount of a usage-billed key without credits', async () => {
    const { id, key } = await stack.createKey({ billing: 'usage' });
    expect((await post('/v1/chat/completions', key)).status).toBe(200);
    await eventually(
      async () => (await stack.server.services.usage.totals(id)).today.amount === 37,
      'amount 37 recorded',
    );
  });

  it('charges a per-request key the fixed estimate and ignores the header', async () => {
    const { id, key } = await stack.createKey({ credits: { remaining: 100 } });
    expect((await post('/v1/chat/completions', key)).status).toBe(200);
    expect(await remaining(key)).toBe(89);
    expect((await stack.server.services.usage.totals(id)).today.amount).toBe(11);
  });

  it('refunds the estimate of a usage-billed key when the upstream fails', async () => {
    const { key } = await stack.createKey({ billing: 'usage', credits: { remaining: 100 } });
    const response = await post('/broken', key);
    expect(response.status).toBe(502);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'upstream_unavailable',
    );
    await eventually(async () => (await remaining(key)) === 99, 'estimate refunded');
  });
});
