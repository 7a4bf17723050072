import pg from 'pg';
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
 * Redis failures seen by `keyward serve` processes on PostgreSQL: a flushed or restarted Redis
 * (R14, for quotas), a Redis that is down (R5: how fast limited keys are answered, whether cached
 * keys keep being served and revocations keep arriving, what /readyz says). The Redis is the
 * test's own redis-server, so it can be flushed and killed.
 */
const postgres = DATABASES.find((kind) => kind.name === 'postgres');
const SLOW = 90_000;
/** Far above the documented bound on a verification while Redis is down (REDIS_COMMAND_TIMEOUT). */
const DEADLINE_MS = 2_000;

describe.skipIf(postgres === undefined)('Redis failures on PostgreSQL + Redis', () => {
  let database: TestDatabase;
  let redis: PrivateRedis;
  let sql: pg.Client;
  let env: Record<string, string>;
  let a: Node;
  let b: Node;
  let owner: Session;
  const started: Node[] = [];

  async function node(extra: Record<string, string> = {}): Promise<Node> {
    const started_ = await Node.start({ ...env, ...extra });
    started.push(started_);
    return started_;
  }

  const createKey = (on: Node, body: Record<string, unknown> = {}) =>
    createKeyAs(on, owner, { name: 'redis faults', ...body });

  /** `GET /v1/key` with an API key; the status only. */
  const holder = async (on: Node, key: string, signal?: AbortSignal) => {
    const response = await fetch(`${on.url}/v1/key`, {
      headers: { authorization: `Bearer ${key}` },
      ...(signal !== undefined && { signal }),
    });
    await response.arrayBuffer();
    return response.status;
  };

  /** Statuses of `count` requests spread over `nodes`, sent in sequence (quota order matters not). */
  async function statuses(nodes: Node[], key: string, count: number): Promise<number[]> {
    const results: number[] = [];
    for (let i = 0; i < count; i++)
      results.push(await holder(nodes[i % nodes.length] as Node, key));
    return results;
  }

  const tally = (results: Array<number | string>) => {
    const counts: Record<string, number> = {};
    for (const result of results) counts[result] = (counts[result] ?? 0) + 1;
    return counts;
  };

  /** Valid requests the usage history holds for a key today (what the nodes have flushed). */
  async function flushedUsage(keyId: string): Promise<number> {
    const result = await sql.query(
      `select coalesce(sum(requests), 0)::int as n from usage_daily where key_id = $1 and outcome = 'VALID'`,
      [keyId],
    );
    return (result.rows[0] as { n: number }).n;
  }

  /** Waits until Redis is back for the limiter of every node, using a key of its own. */
  async function limitsWorkAgain(nodes: Node[]): Promise<void> {
    const probe = await createKey(a, { limits: { rate: [{ limit: 100_000, window: '1h' }] } });
    for (const on of nodes) {
      await eventually(
        'the limiter reaches Redis again',
        async () => {
          return (await holder(on, probe.key)) === 200;
        },
        15_000,
      );
    }
  }

  beforeAll(async () => {
    database = await (postgres as NonNullable<typeof postgres>).create();
    sql = new pg.Client({ connectionString: database.config.url });
    await sql.connect();
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
      'owner@example.com',
      '--password',
      'cluster owner password',
    ]);
    owner = await login(a, 'owner@example.com', 'cluster owner password');
  }, SLOW);

  afterAll(async () => {
    await Promise.all(started.map((n) => n.stop()));
    await redis?.stop();
    await sql?.end();
    await database?.drop();
  }, SLOW);

  it(
    'R14: after FLUSHALL a daily quota of 50 with 40 used (flushed to the history, over two nodes) admits exactly 10 more',
    async () => {
      const { id, key } = await createKey(a, { limits: { daily: { requests: 50 } } });
      expect(tally(await statuses([a, b], key, 40))).toEqual({ 200: 40 });
      await eventually(
        'both nodes flushed their usage',
        async () => (await flushedUsage(id)) === 40,
      );
      expect((await redis.command('FLUSHALL')).startsWith('+OK')).toBe(true);
      expect(tally(await statuses([a, b], key, 60))).toEqual({ 200: 10, 429: 50 });
    },
    SLOW,
  );

  it(
    'R14: Redis killed and restarted before the node flushed its usage: the unflushed count is not granted again (daily requests, monthly amount)',
    async () => {
      // A flush interval far longer than the test: every count lives only in this node's memory.
      const holding = await node({ USAGE_FLUSH_INTERVAL: '1h' });
      const daily = await createKey(a, { limits: { daily: { requests: 50 } } });
      const monthly = await createKey(a, { limits: { monthly: { amount: 30 } } });
      expect(tally(await statuses([holding], daily.key, 40))).toEqual({ 200: 40 });
      expect(tally(await statuses([holding], monthly.key, 25))).toEqual({ 200: 25 });
      expect(await flushedUsage(daily.id)).toBe(0);
      await redis.stop();
      await redis.resume();
      await limitsWorkAgain([holding]);
      expect(tally(await statuses([holding], daily.key, 60))).toEqual({ 200: 10, 429: 50 });
      expect(tally(await statuses([holding], monthly.key, 20))).toEqual({ 200: 5, 429: 15 });
    },
    SLOW,
  );

  it(
    'R5: with Redis killed every request for a limited key is answered well inside a 2 s deadline: 503 when closed, 200 when open',
    async () => {
      const open = await node({ RATE_LIMIT_FAILURE: 'open' });
      const { key } = await createKey(a, { limits: { rate: [{ limit: 100_000, window: '1h' }] } });
      expect(await holder(a, key)).toBe(200);
      expect(await holder(open, key)).toBe(200);
      await redis.stop();
      try {
        const answer = (on: Node) =>
          holder(on, key, AbortSignal.timeout(DEADLINE_MS)).catch((error: Error) => error.name);
        // Two waves: the first meets a connection that just broke, the second one that is down.
        for (let wave = 0; wave < 2; wave++) {
          const closedAnswers = await Promise.all(Array.from({ length: 25 }, () => answer(a)));
          const openAnswers = await Promise.all(Array.from({ length: 25 }, () => answer(open)));
          expect(tally(closedAnswers)).toEqual({ 503: 25 });
          expect(tally(openAnswers)).toEqual({ 200: 25 });
        }
      } finally {
        await redis.resume();
      }
      await limitsWorkAgain([a, open]);
    },
    SLOW,
  );

  it(
    'R5: with Redis down, cached keys are still served from the cache and revocations still reach every node (over PostgreSQL), and /readyz says degraded',
    async () => {
      const served = await createKey(a);
      const revoked = await createKey(a);
      for (const on of [a, b]) {
        expect(await holder(on, served.key)).toBe(200);
        expect(await holder(on, revoked.key)).toBe(200);
      }
      await redis.stop();
      try {
        // Changed behind Keyward's back (no invalidation): a node that answers from its cache
        // still accepts the key; a node that reads the database for every request refuses it.
        await sql.query('update api_keys set revoked_at = $1 where id = $2', [
          Date.now(),
          served.id,
        ]);
        for (const on of [a, b]) expect(await holder(on, served.key)).toBe(200);
        expect(
          (await a.request('POST', `/v1/keys/${revoked.id}/revoke`, { headers: asUser(owner) }))
            .status,
        ).toBe(200);
        expect(await holder(a, revoked.key)).toBe(401);
        await eventually(
          'node B hears of the revocation',
          async () => {
            return (await holder(b, revoked.key)) === 401;
          },
          5_000,
        );
        const ready = await a.request('GET', '/readyz');
        expect(ready.status).toBe(200);
        expect(await ready.json()).toMatchObject({
          status: 'degraded',
          checks: { database: 'ok', redis: 'unavailable', invalidation_bus: 'ok' },
        });
      } finally {
        await redis.resume();
      }
      await eventually(
        '/readyz says ready again',
        async () => {
          const ready = await a.request('GET', '/readyz');
          return ((await ready.json()) as { status: string }).status === 'ready';
        },
        15_000,
      );
    },
    SLOW,
  );

  it(
    'docs: PostgreSQL down (Redis up), then Redis down too — cached refusals hold until KEY_CACHE_TTL then 503, nothing is ever accepted once both are gone',
    async () => {
      const url = new URL(database.config.url);
      const proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5432) });
      url.port = String(proxy.port);
      const behind = await node({ DATABASE_URL: url.toString(), KEY_CACHE_TTL: '3s' });
      const valid = await createKey(behind);
      const revoked = await createKey(behind);
      expect(await holder(behind, valid.key)).toBe(200);
      expect(
        (
          await behind.request('POST', `/v1/keys/${revoked.id}/revoke`, {
            headers: asUser(owner),
          })
        ).status,
      ).toBe(200);
      expect(await holder(behind, revoked.key)).toBe(401);
      await proxy.cut();
      try {
        // The bus is still up over Redis: cached records are used until they are KEY_CACHE_TTL old.
        expect(await holder(behind, revoked.key)).toBe(401);
        expect(await holder(behind, valid.key)).toBe(200);
        expect((await behind.request('GET', '/readyz')).status).toBe(503);
        await eventually('cached copies expire; the database cannot be read', async () => {
          return (
            (await holder(behind, revoked.key)) === 503 && (await holder(behind, valid.key)) === 503
          );
        });
        expect(await holder(behind, valid.key)).toBe(503);
        await redis.stop();
        expect(await holder(behind, valid.key)).toBe(503);
        expect(await holder(behind, revoked.key)).toBe(503);
      } finally {
        await redis.resume();
        await proxy.restore();
      }
      await eventually('it serves again', async () => (await holder(behind, valid.key)) === 200);
      expect(await holder(behind, revoked.key)).toBe(401);
      // Both gone while the copies are fresh: with no bus at all the caches are not trusted.
      await proxy.cut();
      await redis.stop();
      try {
        await eventually(
          'the node stops trusting its cache',
          async () => {
            return (await holder(behind, valid.key)) === 503;
          },
          5_000,
        );
        expect(await holder(behind, revoked.key)).toBe(503);
      } finally {
        await redis.resume();
      }
      await behind.stop();
    },
    SLOW,
  );
});
