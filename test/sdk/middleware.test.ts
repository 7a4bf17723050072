import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keywardAuth as expressAuth } from '../../sdk/dist/express.js';
import { keywardAuth as fastifyAuth } from '../../sdk/dist/fastify.js';
import { keywardAuth as honoAuth, type KeywardVariables } from '../../sdk/dist/hono.js';
import { Keyward, type KeywardError } from '../../sdk/dist/index.js';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { freePort } from '../helpers/cluster.ts';
import { createKey } from '../helpers/harness.ts';
import { LIMITER_BACKENDS } from '../helpers/redis.ts';
import { type KeywardServer, startKeyward } from './keyward-server.ts';

/** What a refusal is compared on: everything but the request id. */
const COMPARED_HEADERS = [
  'content-type',
  'www-authenticate',
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
] as const;

interface Answer {
  status: number;
  headers: Record<string, string | null>;
  body: Record<string, unknown>;
}

async function answerOf(response: Response): Promise<Answer> {
  const headers: Record<string, string | null> = {};
  for (const name of COMPARED_HEADERS) headers[name] = response.headers.get(name);
  return { status: response.status, headers, body: (await response.json()) as Answer['body'] };
}

function withoutRequestId(answer: Answer): Answer & { requestId: unknown } {
  const error = answer.body.error as Record<string, unknown> | undefined;
  if (error === undefined) return { ...answer, requestId: undefined };
  const { request_id, ...rest } = error;
  return { ...answer, body: { error: rest }, requestId: request_id };
}

type Probe = (path: string, headers: Record<string, string>) => Promise<Response>;

interface Apps {
  fastify: Probe;
  express: Probe;
  hono: Probe;
  close(): Promise<void>;
}

const HONO_ENV = { incoming: { socket: { remoteAddress: '127.0.0.1' } } };

/** The same protected routes in each framework: GET /v1/key needs key:read, like Keyward's own. */
async function buildApps(client: Keyward, failure?: 'open' | 'closed'): Promise<Apps> {
  const options = { client, permission: 'key:read', ...(failure && { failure }) };
  const handlerBody = (v: { key_id: string | null } | null | undefined) => ({
    key_id: v?.key_id ?? null,
  });

  const f: FastifyInstance = Fastify();
  await f.register(fastifyAuth, options);
  f.get('/v1/key', async (request) => handlerBody(request.keyward));
  await f.listen({ port: 0, host: '127.0.0.1' });
  const fastifyUrl = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;

  const e = express();
  e.get('/v1/key', expressAuth(options), (req, res) => {
    res.json(handlerBody(req.keyward));
  });
  const server: Server = await new Promise((resolve) => {
    const s = e.listen(0, '127.0.0.1', () => resolve(s));
  });
  const expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const h = new Hono<{ Variables: KeywardVariables }>();
  h.get('/v1/key', honoAuth(options), (c) => c.json(handlerBody(c.get('keyward'))));

  return {
    fastify: (path, headers) => fetch(fastifyUrl + path, { headers }),
    express: (path, headers) => fetch(expressUrl + path, { headers }),
    hono: async (path, headers) =>
      h.fetch(new Request(`http://app.test${path}`, { headers }), HONO_ENV),
    async close() {
      await f.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const FRAMEWORKS = ['fastify', 'express', 'hono'] as const;

describe.each(LIMITER_BACKENDS)('middleware against a real Keyward, $name limiter', (limiter) => {
  let k: KeywardServer;
  let client: Keyward;
  let apps: Apps;
  beforeAll(async () => {
    k = await startKeyward(limiter.env());
    client = new Keyward({ baseUrl: k.url, token: k.token });
    apps = await buildApps(client);
  });
  afterAll(async () => {
    await apps?.close();
    await k.close();
  });

  const holder = (key: string) =>
    fetch(`${k.url}/v1/key`, { headers: { authorization: `Bearer ${key}` } });
  const rate = [{ limit: 100, window: '1h' }];

  it('answers every refusal exactly as GET /v1/key does: status, code, message, headers', async () => {
    const states: Record<string, () => Promise<string>> = {
      'not found': async () => {
        const { key } = await client.keys.create({ name: 'gone' });
        return `${key.slice(0, -4)}zzzz`;
      },
      'no key at all': async () => '',
      revoked: async () => {
        const { key, id } = await client.keys.create({ name: 'revoked' });
        await client.keys.revoke(id);
        return key;
      },
      disabled: async () => {
        const { key, id } = await client.keys.create({ name: 'disabled' });
        await client.keys.update(id, { enabled: false });
        return key;
      },
      'ip not allowed': async () =>
        (
          await client.keys.create({
            name: 'ip',
            ip_allowlist: ['203.0.113.0/24'],
            limits: { rate },
          })
        ).key,
      'forbidden permission': async () =>
        (await client.keys.create({ name: 'perm', permissions: ['other:read'], limits: { rate } }))
          .key,
      'rate limited': async () => {
        const { key } = await client.keys.create({
          name: 'rate',
          limits: { rate: [{ limit: 1, window: '1m' }, ...rate] },
        });
        expect((await holder(key)).status).toBe(200);
        return key;
      },
      quota: async () => {
        const { key } = await client.keys.create({
          name: 'quota',
          limits: { daily: { requests: 1 }, rate },
        });
        expect((await holder(key)).status).toBe(200);
        return key;
      },
      'insufficient credits': async () => {
        const { key } = await client.keys.create({
          name: 'credits',
          credits: { remaining: 1 },
          limits: { rate },
        });
        expect((await holder(key)).status).toBe(200);
        return key;
      },
      // Owner balances: the account's shared credits and quota refuse, with scope "owner".
      'owner credits': async () => {
        const other = await k.h.signup();
        await k.h.services.accounts.update(CLI_ACTOR, other.id, {
          credits: { remaining: 1, refill: null },
          limits: { rate },
        });
        const { key } = await createKey(k.h, other);
        expect((await holder(key)).status).toBe(200);
        return key;
      },
      'owner quota': async () => {
        const other = await k.h.signup();
        await k.h.services.accounts.update(CLI_ACTOR, other.id, {
          limits: { daily: { requests: 1 }, rate },
        });
        const { key } = await createKey(k.h, other);
        expect((await holder(key)).status).toBe(200);
        return key;
      },
      // Last: it moves the server's clock past the key's expiry.
      expired: async () => {
        const { key } = await client.keys.create({
          name: 'expired',
          expires_at: new Date(k.h.clock.now() + 3_600_000).toISOString(),
        });
        k.h.clock.advance(2 * 3_600_000);
        return key;
      },
    };
    const seenStatuses = new Set<number>();
    for (const [state, setup] of Object.entries(states)) {
      const key = await setup();
      const headers: Record<string, string> = key === '' ? {} : { authorization: `Bearer ${key}` };
      const reference = withoutRequestId(
        await answerOf(await fetch(`${k.url}/v1/key`, { headers })),
      );
      expect(reference.status, state).toBeGreaterThanOrEqual(400);
      seenStatuses.add(reference.status);
      for (const framework of FRAMEWORKS) {
        const answer = withoutRequestId(await answerOf(await apps[framework]('/v1/key', headers)));
        expect({ ...answer, requestId: undefined }, `${framework}: ${state}`).toEqual({
          ...reference,
          requestId: undefined,
        });
        expect(answer.requestId, `${framework}: ${state}`).toMatch(/^(req|ver)_\w+$/);
      }
    }
    expect([...seenStatuses].sort()).toEqual([401, 402, 403, 429]);
  });

  it('lets a valid key through with the verification and the RateLimit headers', async () => {
    const { key, id } = await client.keys.create({
      name: 'allowed',
      permissions: ['key:read'],
      limits: { rate: [{ limit: 50, window: '1m' }] },
    });
    for (const framework of FRAMEWORKS) {
      const response = await apps[framework]('/v1/key', { 'x-api-key': key });
      expect(response.status, framework).toBe(200);
      expect(await response.json(), framework).toEqual({ key_id: id });
      expect(response.headers.get('ratelimit-policy'), framework).toBe('"minute";q=50;w=60');
      expect(response.headers.get('ratelimit'), framework).toMatch(/^"minute";r=4\d;t=\d+$/);
    }
  });
});

describe('middleware options', () => {
  let k: KeywardServer;
  let client: Keyward;
  beforeAll(async () => {
    k = await startKeyward();
    client = new Keyward({ baseUrl: k.url, token: k.token });
  });
  afterAll(async () => {
    await k.close();
  });

  it('Fastify: per-route config overrides the plugin, false makes a route public, cost reads the body', async () => {
    const app = Fastify();
    app.register(fastifyAuth, { client, permission: 'docs:read' });
    // Declared before the plugin has loaded: the hook still covers them.
    app.get('/docs', async (request) => ({ key_id: request.keyward?.key_id }));
    app.get('/health', { config: { keyward: false } }, async (request) => ({
      keyward: request.keyward,
    }));
    app.post(
      '/render',
      {
        config: {
          keyward: {
            permission: 'docs:write',
            cost: (request) => (request.body as { pages: number }).pages,
          },
        },
      },
      async (request) => ({ credits: request.keyward?.credits?.remaining }),
    );
    const { key } = await client.keys.create({
      name: 'fastify',
      permissions: ['docs:read', 'docs:write'],
      credits: { remaining: 10 },
    });
    const readOnly = await client.keys.create({ name: 'ro', permissions: ['docs:read'] });
    const auth = (k: string) => ({ authorization: `Bearer ${k}` });
    expect((await app.inject({ url: '/health' })).json()).toEqual({ keyward: null });
    expect((await app.inject({ url: '/docs' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/docs', headers: auth(readOnly.key) })).statusCode).toBe(200);
    const render = (k: string, pages: number) =>
      app.inject({ method: 'POST', url: '/render', headers: auth(k), payload: { pages } });
    expect((await render(readOnly.key, 1)).json().error.code).toBe('forbidden');
    expect((await render(key, 3)).json()).toEqual({ credits: 7 });
    const broke = await render(key, 8);
    expect(broke.statusCode).toBe(402);
    expect(broke.json().error.code).toBe('insufficient_credits');
    await app.close();
  });

  it('Fastify: an unknown path is 404 without verifying (or charging) the key', async () => {
    const app = Fastify();
    await app.register(fastifyAuth, { client });
    app.get('/known', async () => ({ ok: true }));
    const { key, id } = await client.keys.create({ name: 'no-route', credits: { remaining: 5 } });
    const missing = await app.inject({
      url: '/unknown',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(missing.statusCode).toBe(404);
    expect((await client.keys.get(id)).credits.remaining).toBe(5);
    await app.close();
  });

  it("passes the client IP as the app's own trusted-proxy setting decides", async () => {
    const { key } = await client.keys.create({ name: 'ip', ip_allowlist: ['203.0.113.0/24'] });
    const headers = { authorization: `Bearer ${key}`, 'x-forwarded-for': '203.0.113.9' };

    for (const trusted of [true, false]) {
      const f = Fastify({ trustProxy: trusted ? '127.0.0.1' : false });
      await f.register(fastifyAuth, { client });
      f.get('/', async () => ({ ok: true }));
      const fromProxy = await f.inject({ url: '/', headers, remoteAddress: '127.0.0.1' });
      expect(fromProxy.statusCode, `fastify trusted=${trusted}`).toBe(trusted ? 200 : 403);
      await f.close();

      const e = express();
      if (trusted) e.set('trust proxy', '127.0.0.1');
      e.get('/', expressAuth({ client }), (_req, res) => {
        res.json({ ok: true });
      });
      const server: Server = await new Promise((resolve) => {
        const s = e.listen(0, '127.0.0.1', () => resolve(s));
      });
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      expect((await fetch(url, { headers })).status, `express trusted=${trusted}`).toBe(
        trusted ? 200 : 403,
      );
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));

      const h = new Hono();
      h.get(
        '/',
        honoAuth({
          client,
          ...(trusted && {
            ip: (c) => c.req.header('x-forwarded-for')?.split(',')[0]?.trim(),
          }),
        }),
        (c) => c.json({ ok: true }),
      );
      const honoAnswer = await h.fetch(new Request('http://app.test/', { headers }), HONO_ENV);
      expect(honoAnswer.status, `hono trusted=${trusted}`).toBe(trusted ? 200 : 403);
    }
  });

  it('failure "closed" answers 503 when Keyward is unreachable, "open" lets the request through', async () => {
    const unreachable = new Keyward({
      baseUrl: `http://127.0.0.1:${await freePort()}`,
      token: k.token,
      retries: 0,
    });
    const { key } = await client.keys.create({ name: 'outage' });
    const headers = { authorization: `Bearer ${key}` };
    const errors: KeywardError[] = [];
    const closed = await buildApps(unreachable);
    const open = await buildApps(unreachable, 'open');
    for (const framework of FRAMEWORKS) {
      const refused = await closed[framework]('/v1/key', headers);
      expect(refused.status, framework).toBe(503);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
        'service_unavailable',
      );
      const through = await open[framework]('/v1/key', headers);
      expect(through.status, framework).toBe(200);
      expect(await through.json()).toEqual({ key_id: null });
    }
    await closed.close();
    await open.close();

    // A Keyward that refuses the service token is reachable and misconfigured: never open.
    const wrongToken = new Keyward({ baseUrl: k.url, token: 'kws_wrong' });
    const f = Fastify();
    await f.register(fastifyAuth, {
      client: wrongToken,
      failure: 'open',
      onError: (error) => errors.push(error),
    });
    f.get('/', async () => ({ ok: true }));
    expect((await f.inject({ url: '/', headers })).statusCode).toBe(503);
    expect(errors.map((e) => [e.status, e.code])).toEqual([[401, 'unauthorized']]);
    await f.close();
  });
});
