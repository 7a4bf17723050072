import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asUser,
  createKeyAs,
  eventually,
  login,
  Node,
  PrivateRedis,
  type Session,
} from '../helpers/cluster.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

/**
 * Owner balances across two `keyward serve` processes sharing PostgreSQL and Redis: an account's
 * own quota, rate rule and credits admit exactly its allowance in total, whichever node and key
 * the requests use, and a change made with the CLI reaches both nodes.
 */
const postgres = DATABASES.find((kind) => kind.name === 'postgres');
const SLOW = 90_000;

interface Answer {
  code: string;
  valid: boolean;
  scope: 'key' | 'owner' | null;
}

describe.skipIf(postgres === undefined)('owner balances on two nodes (PostgreSQL + Redis)', () => {
  let database: TestDatabase;
  let redis: PrivateRedis;
  let env: Record<string, string>;
  let a: Node;
  let b: Node;
  let serviceToken: string;
  let adminSession: Session;
  let users = 0;

  const verify = async (on: Node, key: string, cost = 1): Promise<Answer> => {
    const response = await on.request('POST', '/v1/verify', {
      headers: { authorization: `Bearer ${serviceToken}` },
      body: { key, cost },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as Answer;
  };
  /** A new account with `count` keys, and its id; balances set over the admin API on node A. */
  const ownerWith = async (balances: Record<string, unknown>, count: number) => {
    users += 1;
    const email = `owner${users}@example.com`;
    await Node.cli(env, ['user', 'create', '--email', email, '--password', 'owner password long']);
    const session = await login(a, email, 'owner password long');
    const me = await a.request('GET', '/v1/auth/me', { headers: asUser(session) });
    const id = ((await me.json()) as { user: { id: string } }).user.id;
    if (Object.keys(balances).length > 0) {
      const set = await a.request('PATCH', `/v1/admin/users/${id}`, {
        headers: asUser(adminSession),
        body: balances,
      });
      expect(set.status).toBe(200);
    }
    const keys: string[] = [];
    for (let i = 0; i < count; i++)
      keys.push((await createKeyAs(i % 2 === 0 ? a : b, session, { name: `k${i}` })).key);
    return { id, email, keys };
  };
  /** `requests` verifications spread over both nodes and every key, all at once. */
  const burst = (keys: string[], requests: number, cost = 1) =>
    Promise.all(
      Array.from({ length: requests }, (_, i) =>
        verify(i % 2 === 0 ? a : b, keys[i % keys.length] as string, cost),
      ),
    );
  const outcomes = (answers: Answer[]) => {
    const counts: Record<string, number> = {};
    for (const r of answers) {
      const name = r.valid ? 'VALID' : `${r.code}:${r.scope}`;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  };

  beforeAll(async () => {
    database = await (postgres as NonNullable<typeof postgres>).create();
    redis = await PrivateRedis.start();
    env = {
      DATABASE_URL: database.config.url,
      REDIS_URL: redis.url,
      // Long enough that only the bus can explain a node seeing a change to a cached key.
      KEY_CACHE_TTL: '60s',
      PLANS: 'free:unlimited',
      // This is about exactness, on a machine loaded by other work: a slow Redis answer must
      // not be taken for a Redis that is down.
      REDIS_COMMAND_TIMEOUT_MS: '5000',
    };
    a = await Node.start(env);
    b = await Node.start(env);
    await Node.cli(env, [
      'user',
      'create',
      '--email',
      'ops@example.com',
      '--password',
      'cluster admin password',
      '--admin',
    ]);
    adminSession = await login(a, 'ops@example.com', 'cluster admin password');
    const token = await a.request('POST', '/v1/tokens', {
      headers: asUser(adminSession),
      body: { name: 'api servers', scopes: ['keys:verify'] },
    });
    serviceToken = ((await token.json()) as { token: string }).token;
  }, SLOW);

  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((n) => n.stop()));
    await redis?.stop();
    await database?.drop();
  }, SLOW);

  it(
    'an owner daily quota of 50 over 3 keys and 2 nodes, 300 concurrent verifications → exactly 50',
    async () => {
      const { keys } = await ownerWith({ limits: { daily: { requests: 50 } } }, 3);
      expect(outcomes(await burst(keys, 300))).toEqual({
        VALID: 50,
        'QUOTA_EXCEEDED:owner': 250,
      });
    },
    SLOW,
  );

  it(
    'an owner rate rule of 40 per hour over 3 keys and 2 nodes, 200 concurrent → exactly 40',
    async () => {
      const { keys } = await ownerWith({ limits: { rate: [{ limit: 40, window: '1h' }] } }, 3);
      expect(outcomes(await burst(keys, 200))).toEqual({ VALID: 40, 'RATE_LIMITED:owner': 160 });
    },
    SLOW,
  );

  it(
    'R1 for an owner: N credits over 3 keys and 2 nodes, 10·N concurrent → exactly N; cost 10 → ⌊N/10⌋; balance exact',
    async () => {
      for (const [remaining, cost, requests, expected] of [
        [60, 1, 600, 60],
        [105, 10, 200, 10],
      ] as const) {
        const { id, keys } = await ownerWith({ credits: { remaining } }, 3);
        expect(outcomes(await burst(keys, requests, cost))).toEqual({
          VALID: expected,
          'INSUFFICIENT_CREDITS:owner': requests - expected,
        });
        const user = await a.request('GET', `/v1/admin/users?limit=100`, {
          headers: asUser(adminSession),
        });
        const listed = ((await user.json()) as { data: { id: string; credits: object }[] }).data;
        expect(listed.find((u) => u.id === id)?.credits).toEqual({
          remaining: remaining - expected * cost,
          refill: null,
        });
      }
    },
    SLOW,
  );

  it(
    'keyward user set-limits reaches both nodes through the bus, for keys they have cached',
    async () => {
      const { email, keys } = await ownerWith({}, 2);
      for (const n of [a, b])
        for (const key of keys) expect((await verify(n, key)).valid).toBe(true);
      await Node.cli(env, ['user', 'set-limits', '--email', email, '--credits', '0']);
      for (const n of [a, b])
        await eventually(
          `${n.url} refuses with the owner's empty balance`,
          async () => (await verify(n, keys[1] as string)).scope === 'owner',
          5_000,
        );
      await Node.cli(env, ['user', 'set-limits', '--email', email, '--credits', 'unlimited']);
      for (const n of [a, b])
        await eventually(
          `${n.url} admits again`,
          async () => (await verify(n, keys[0] as string)).valid,
          5_000,
        );
    },
    SLOW,
  );
});
