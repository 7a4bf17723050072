import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asUser,
  createKeyAs,
  eventually,
  login,
  Node,
  PrivateRedis,
  type Session,
  TcpProxy,
} from '../helpers/cluster.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

/**
 * Several `keyward serve` processes sharing one PostgreSQL database and one Redis, as in a
 * scale-out deployment. PostgreSQL's absence skips this file locally and fails it in CI (see
 * databases.ts); the Redis here is the test's own redis-server, so it can be stopped and flushed.
 */
const postgres = DATABASES.find((kind) => kind.name === 'postgres');
const SLOW = 90_000;

describe.skipIf(postgres === undefined)('many nodes on PostgreSQL + Redis', () => {
  let database: TestDatabase;
  let redis: PrivateRedis;
  let env: Record<string, string>;
  let a: Node;
  let b: Node;
  let owner: Session;
  let serviceToken: string;
  const started: Node[] = [];

  async function node(extra: Record<string, string> = {}): Promise<Node> {
    const started_ = await Node.start({ ...env, ...extra });
    started.push(started_);
    return started_;
  }

  const createKey = (on: Node, body: Record<string, unknown> = {}) =>
    createKeyAs(on, owner, { name: 'cluster', ...body });

  const holder = (on: Node, key: string) =>
    on.request('GET', '/v1/key', { headers: { authorization: `Bearer ${key}` } });
  const verify = async (on: Node, key: string, cost = 1) => {
    const response = await on.request('POST', '/v1/verify', {
      headers: { authorization: `Bearer ${serviceToken}` },
      body: { key, cost },
    });
    return {
      status: response.status,
      body: (await response.json()) as { code: string; valid: boolean },
    };
  };
  const revoke = (on: Node, id: string) =>
    on.request('POST', `/v1/keys/${id}/revoke`, { headers: asUser(owner) });
  const balance = async (id: string) => {
    const response = await a.request('GET', `/v1/keys/${id}`, { headers: asUser(owner) });
    return ((await response.json()) as { credits: { remaining: number | null } }).credits.remaining;
  };

  beforeAll(async () => {
    database = await (postgres as NonNullable<typeof postgres>).create();
    redis = await PrivateRedis.start();
    env = {
      DATABASE_URL: database.config.url,
      REDIS_URL: redis.url,
      // Long enough that only the bus can explain a node refusing a key it has cached.
      KEY_CACHE_TTL: '60s',
      PLANS: 'free:unlimited',
    };
    a = await node();
    b = await node();
    await Node.cli(env, [
      'user',
      'create',
      '--email',
      'ops@example.com',
      '--password',
      'cluster admin password',
      '--admin',
    ]);
    await Node.cli(env, [
      'user',
      'create',
      '--email',
      'owner@example.com',
      '--password',
      'cluster owner password',
    ]);
    const admin = await login(a, 'ops@example.com', 'cluster admin password');
    owner = await login(a, 'owner@example.com', 'cluster owner password');
    const token = await a.request('POST', '/v1/tokens', {
      headers: asUser(admin),
      body: { name: 'api servers', scopes: ['keys:verify'] },
    });
    expect(token.status).toBe(201);
    serviceToken = ((await token.json()) as { token: string }).token;
  }, SLOW);

  afterAll(async () => {
    await Promise.all(started.map((n) => n.stop()));
    await redis?.stop();
    await database?.drop();
  }, SLOW);

  it(
    'R4: a key revoked on node A is refused by A on the next request and by B through the Redis bus',
    async () => {
      const { id, key } = await createKey(a);
      expect((await holder(a, key)).status).toBe(200);
      expect((await holder(b, key)).status).toBe(200);
      expect((await revoke(a, id)).status).toBe(200);
      expect((await holder(a, key)).status).toBe(401);
      await eventually(
        'node B refuses the revoked key',
        async () => (await holder(b, key)).status === 401,
        5_000,
      );
    },
    SLOW,
  );

  it(
    'R4: with the bus cut, a node refuses the revoked key once its cached copy is past the fresh-TTL',
    async () => {
      const deaf = await node({ INVALIDATION_BUS: 'local', KEY_CACHE_TTL: '2s' });
      const { id, key } = await createKey(a);
      expect((await holder(deaf, key)).status).toBe(200);
      expect((await revoke(a, id)).status).toBe(200);
      // No message reaches it: it still serves its cached copy…
      expect((await holder(deaf, key)).status).toBe(200);
      // …until the copy expires, then it reads the database and refuses.
      await eventually(
        'the deaf node refuses after the TTL',
        async () => (await holder(deaf, key)).status === 401,
        10_000,
      );
    },
    SLOW,
  );

  it(
    'R4: PostgreSQL LISTEN/NOTIFY carries invalidations when REDIS_URL is unset',
    async () => {
      const noRedis = { REDIS_URL: '' };
      const c = await node(noRedis);
      const d = await node(noRedis);
      const { id, key } = await createKey(c);
      expect((await holder(c, key)).status).toBe(200);
      expect((await holder(d, key)).status).toBe(200);
      expect((await revoke(c, id)).status).toBe(200);
      expect((await holder(c, key)).status).toBe(401);
      await eventually(
        'node D refuses the revoked key',
        async () => (await holder(d, key)).status === 401,
        5_000,
      );
    },
    SLOW,
  );

  it(
    'R1 across two nodes: N credits and 10·N concurrent verifications → exactly N; cost 10 → ⌊N/10⌋',
    async () => {
      for (const [remaining, cost, requests, expected] of [
        [100, 1, 1000, 100],
        [105, 10, 200, 10],
      ] as const) {
        const { id, key } = await createKey(a, { credits: { remaining } });
        const results = await Promise.all(
          Array.from({ length: requests }, (_, i) => verify(i % 2 === 0 ? a : b, key, cost)),
        );
        expect(results.every((r) => r.status === 200)).toBe(true);
        expect(results.filter((r) => r.body.valid)).toHaveLength(expected);
        expect(results.filter((r) => r.body.code === 'INSUFFICIENT_CREDITS')).toHaveLength(
          requests - expected,
        );
        expect(await balance(id)).toBe(remaining - expected * cost);
      }
    },
    SLOW,
  );

  it(
    'rate limits are shared: 50 per hour across two nodes admits exactly 50',
    async () => {
      const { key } = await createKey(a, { limits: { rate: [{ limit: 50, window: '1h' }] } });
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => verify(i % 2 === 0 ? a : b, key)),
      );
      expect(results.filter((r) => r.body.valid)).toHaveLength(50);
      expect(results.filter((r) => r.body.code === 'RATE_LIMITED')).toHaveLength(150);
    },
    SLOW,
  );

  it(
    'R14: FLUSHALL in the middle of a run grants no credit twice',
    async () => {
      const { id, key } = await createKey(a, {
        credits: { remaining: 200 },
        limits: { rate: [{ limit: 10_000, window: '1h' }] },
      });
      const wave = () =>
        Promise.all(Array.from({ length: 150 }, (_, i) => verify(i % 2 === 0 ? a : b, key)));
      const first = await wave();
      expect((await redis.command('FLUSHALL')).startsWith('+OK')).toBe(true);
      const second = await wave();
      const valid = [...first, ...second].filter((r) => r.body.valid).length;
      expect(valid).toBe(200);
      expect(await balance(id)).toBe(0);
    },
    SLOW,
  );

  it(
    'R5: Redis down — limits fail closed (or open when configured), credits and revocations hold, and it recovers',
    async () => {
      const open = await node({ RATE_LIMIT_FAILURE: 'open' });
      const limited = await createKey(a, { limits: { rate: [{ limit: 1000, window: '1h' }] } });
      const plain = await createKey(a);
      const revoked = await createKey(a);
      for (const n of [a, open]) {
        expect((await verify(n, limited.key)).body.valid).toBe(true);
        expect((await verify(n, revoked.key)).body.valid).toBe(true);
      }
      expect((await revoke(a, revoked.id)).status).toBe(200);
      await redis.stop();
      try {
        const closed = await verify(a, limited.key);
        expect(closed.status).toBe(503);
        const viaOpen = await verify(open, limited.key);
        expect(viaOpen.body.code).toBe('VALID');
        expect((await verify(a, plain.key)).body.code).toBe('VALID');
        // The revoking node refuses at once; the other hears of it over LISTEN/NOTIFY, which
        // carries the bus while Redis is away (R4: within 100 ms, more on a loaded machine).
        expect((await verify(a, revoked.key)).body.code).toBe('REVOKED');
        await eventually(
          'the other node refuses the revoked key',
          async () => (await verify(open, revoked.key)).body.code === 'REVOKED',
        );
        for (const n of [a, open])
          expect((await verify(n, `sk_live_${'0'.repeat(40)}`)).body.code).toBe('NOT_FOUND');
      } finally {
        await redis.resume();
      }
      await eventually(
        'limits work again',
        async () => (await verify(a, limited.key)).body.valid,
        15_000,
      );
    },
    SLOW,
  );

  it(
    'R5: PostgreSQL down — unknown keys are never accepted, management answers 503, cached keys as documented; it recovers',
    async () => {
      const url = new URL(database.config.url);
      const proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5432) });
      url.port = String(proxy.port);
      const behind = await node({ DATABASE_URL: url.toString() });
      // The same, with the bus on PostgreSQL: when the database goes, the bus goes with it.
      const behindNoRedis = await node({ DATABASE_URL: url.toString(), REDIS_URL: '' });
      // Made and revoked on `behind` itself: a late bus message from another node could otherwise
      // drop the entries this test expects `behind` to have cached.
      const cached = await createKey(behind);
      const revoked = await createKey(behind);
      expect((await holder(behind, cached.key)).status).toBe(200);
      expect((await holder(behindNoRedis, cached.key)).status).toBe(200);
      expect((await revoke(behind, revoked.id)).status).toBe(200);
      expect((await holder(behind, revoked.key)).status).toBe(401);
      const sessionOnBehind = await login(behind, 'owner@example.com', 'cluster owner password');
      const unknownKey = (await createKey(a)).key;
      await proxy.cut();
      try {
        const unknown = await holder(behind, unknownKey);
        expect(unknown.status).toBe(503);
        expect((await holder(behind, `sk_live_${'1'.repeat(40)}`)).status).toBe(503);
        expect((await holder(behind, revoked.key)).status).toBe(401);
        expect((await holder(behind, cached.key)).status).toBe(200);
        // Its bus is down, so it trusts no cached record: nothing is accepted.
        await eventually(
          'the PostgreSQL-bus node stops trusting its cache',
          async () => (await holder(behindNoRedis, cached.key)).status === 503,
          5_000,
        );
        expect((await holder(behindNoRedis, revoked.key)).status).toBe(503);
        const management = await behind.request('GET', '/v1/keys', {
          headers: asUser(sessionOnBehind),
        });
        expect(management.status).toBe(503);
        expect(((await management.json()) as { error: { code: string } }).error.code).toBe(
          'service_unavailable',
        );
        expect((await behind.request('GET', '/readyz')).status).toBe(503);
      } finally {
        await proxy.restore();
      }
      await eventually(
        'management answers again',
        async () => {
          const response = await behind.request('GET', '/v1/keys', {
            headers: asUser(sessionOnBehind),
          });
          return response.status === 200;
        },
        15_000,
      );
      expect((await holder(behind, unknownKey)).status).toBe(200);
      await eventually(
        'the PostgreSQL-bus node serves again',
        async () => (await holder(behindNoRedis, cached.key)).status === 200,
        15_000,
      );
      await Promise.all([behind.stop(), behindNoRedis.stop()]);
      await proxy.cut();
    },
    SLOW,
  );
});
