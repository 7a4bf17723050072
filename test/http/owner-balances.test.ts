import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/services/index.ts';
import type { Verification } from '../../src/services/verify.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  promoteToAdmin,
  verifierToken,
} from '../helpers/harness.ts';
import { dropRedisPrefix, LIMITER_BACKENDS } from '../helpers/redis.ts';

/**
 * Owner balances (SPEC §2, issue 16.3): an account's own limits and credits, shared by all its
 * keys, checked after each key's own in one atomic step, with the refusal's scope named.
 */
const COMBINATIONS = DATABASES.flatMap((database) =>
  LIMITER_BACKENDS.map((limiter) => ({
    name: `${database.name} with the ${limiter.name} limiter`,
    database,
    limiter,
  })),
);

describe.each(COMBINATIONS)('owner balances on $name', ({ database: kind, limiter }) => {
  let h: Harness;
  let admin: Account;
  let serviceToken: string;

  beforeAll(async () => {
    h = await createHarness(kind, {
      SESSION_IDLE_TIMEOUT: '400d',
      SESSION_ABSOLUTE_TIMEOUT: '400d',
      PLANS: 'free:unlimited',
      ...limiter.env(),
    });
    admin = await h.signup();
    await promoteToAdmin(h, admin);
    serviceToken = await verifierToken(h);
  });
  afterAll(async () => {
    await h.close();
  });

  const setBalances = (id: string, body: Record<string, unknown>) =>
    h.request({ method: 'PATCH', url: `/v1/admin/users/${id}`, as: admin, body });
  /** A new account with the balances given, and `count` keys with the settings given. */
  const ownerWith = async (
    balances: Record<string, unknown>,
    count: number,
    keyBody: Record<string, unknown> = {},
  ) => {
    const owner = await h.signup();
    if (Object.keys(balances).length > 0) {
      const response = await setBalances(owner.id, balances);
      expect(response.statusCode, response.body).toBe(200);
    }
    const keys = [];
    for (let i = 0; i < count; i++) keys.push(await createKey(h, owner, keyBody));
    return { owner, keys };
  };
  const verify = (key: string, cost = 1) => h.services.verify.verify({ key, ip: null, cost });
  const burst = (keys: { key: string }[], requests: number, cost = 1) =>
    Promise.all(
      Array.from({ length: requests }, (_, i) =>
        verify((keys[i % keys.length] as { key: string }).key, cost),
      ),
    );
  const outcomes = (results: Verification[]) => {
    const counts: Record<string, number> = {};
    for (const r of results) {
      const name = r.valid ? 'VALID' : `${r.code}:${r.scope}`;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  };
  const ownerCredits = async (id: string) =>
    (
      await h.services.store.db
        .selectFrom('users')
        .select('credits_remaining')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).credits_remaining;
  const keyCredits = async (id: string) =>
    (
      await h.services.store.db
        .selectFrom('api_keys')
        .select('credits_remaining')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).credits_remaining;

  describe('setting them', () => {
    it('an admin or a users:manage token sets limits and credits; the account sees them; the user cannot', async () => {
      const user = await h.signup();
      const balances = {
        limits: { rate: [{ limit: 100, window: '1m' }], daily: { requests: 1000 } },
        credits: { remaining: 5000, refill: { amount: 5000, interval: 'monthly' } },
      };
      const set = await setBalances(user.id, balances);
      expect(set.statusCode, set.body).toBe(200);
      expect(set.json()).toMatchObject(balances);
      const me = await h.request({ method: 'GET', url: '/v1/auth/me', as: user });
      expect(me.json().user).toMatchObject(balances);

      const byUser = await h.request({
        method: 'PATCH',
        url: `/v1/admin/users/${user.id}`,
        as: user,
        body: { credits: { remaining: 1e9 } },
      });
      expect(byUser.statusCode).toBe(403);

      const token = await h.request({
        method: 'POST',
        url: '/v1/tokens',
        as: admin,
        body: { name: 'billing', scopes: ['users:manage'] },
      });
      const byToken = await h.request({
        method: 'PATCH',
        url: `/v1/admin/users/${user.id}`,
        bearer: token.json().token,
        body: { limits: {}, credits: { remaining: null } },
      });
      expect(byToken.statusCode, byToken.body).toBe(200);
      expect(byToken.json()).toMatchObject({
        limits: {},
        credits: { remaining: null, refill: null },
      });

      const audit = await h.request({ method: 'GET', url: '/v1/audit-log?limit=100', as: admin });
      const entries = (
        audit.json().data as { action: string; target_id: string; details: object }[]
      )
        .filter((e) => e.action === 'account.updated' && e.target_id === user.id)
        .map((e) => e.details);
      expect(entries).toContainEqual(balances);
    });

    it('refuses what is not a balance, with a 400 and nothing changed', async () => {
      const user = await h.signup();
      for (const body of [
        { limits: { max_cost_per_request: 5 } },
        { limits: { rate: [{ limit: 10, window: '5x' }] } },
        { limits: { daily: { requests: -1 } } },
        { credits: { remaining: null, refill: { amount: 10, interval: 'daily' } } },
        { credits: { remaining: 10, refill: { amount: 10, interval: 'hourly' } } },
        { credits: { remaining: 1.5 } },
      ]) {
        const response = await setBalances(user.id, body);
        expect(response.statusCode, JSON.stringify(body)).toBe(400);
        expect(['validation_error', 'unknown_field']).toContain(response.json().error.code);
      }
      const me = await h.request({ method: 'GET', url: '/v1/auth/me', as: user });
      expect(me.json().user).toMatchObject({ limits: {}, credits: { remaining: null } });
      const unknown = await setBalances('usr_nobody', { credits: { remaining: 5 } });
      expect(unknown.statusCode).toBe(404);
    });
  });

  describe('exactness (like R1 and R2): the owner allowance in total, over all its keys', () => {
    it('owner daily quota of 50, 3 keys, 500 concurrent verifications → exactly 50', async () => {
      const { keys } = await ownerWith({ limits: { daily: { requests: 50 } } }, 3);
      const results = await burst(keys, 500);
      expect(outcomes(results)).toEqual({ VALID: 50, 'QUOTA_EXCEEDED:owner': 450 });
    });

    it('owner rate rule of 50 per hour, 3 keys, 300 concurrent verifications → exactly 50', async () => {
      const { keys } = await ownerWith({ limits: { rate: [{ limit: 50, window: '1h' }] } }, 3);
      const results = await burst(keys, 300);
      expect(outcomes(results)).toEqual({ VALID: 50, 'RATE_LIMITED:owner': 250 });
    });

    it('owner credits: N credits, 10·N concurrent over keys with and without their own credits → exactly N; cost 10 → ⌊N/10⌋', async () => {
      for (const [remaining, cost, requests, expected] of [
        [100, 1, 1000, 100],
        [1, 1, 200, 1],
        [105, 10, 200, 10],
      ] as const) {
        const { owner, keys } = await ownerWith({ credits: { remaining } }, 2);
        const funded = await createKey(h, owner, { credits: { remaining: 10_000 } });
        const results = await burst([...keys, funded], requests, cost);
        expect(outcomes(results)).toEqual({
          VALID: expected,
          'INSUFFICIENT_CREDITS:owner': requests - expected,
        });
        expect(await ownerCredits(owner.id)).toBe(remaining - expected * cost);
        // The key's own balance paid for exactly its admitted requests, no more.
        const fundedValid = results.filter((r, i) => r.valid && i % 3 === 2).length;
        expect(await keyCredits(funded.id)).toBe(10_000 - fundedValid * cost);
      }
    });
  });

  describe('nothing is charged to either when one refuses', () => {
    it("the owner refusing credits leaves the key's credits and rate token; the key refusing leaves the owner's credits", async () => {
      const { owner, keys } = await ownerWith({ credits: { remaining: 0 } }, 1, {
        credits: { remaining: 10 },
        limits: { rate: [{ limit: 1, window: '1h' }] },
      });
      const [k] = keys as unknown as [{ key: string; id: string }];
      const refused = await verify(k.key);
      expect([refused.code, refused.scope]).toEqual(['INSUFFICIENT_CREDITS', 'owner']);
      expect(await keyCredits(k.id)).toBe(10);
      // The key's one rate token of the hour was given back: with owner credits it is admitted.
      expect((await setBalances(owner.id, { credits: { remaining: 3 } })).statusCode).toBe(200);
      const admitted = await verify(k.key);
      expect(admitted.valid).toBe(true);
      expect([admitted.creditsRemaining, admitted.ownerCreditsRemaining]).toEqual([9, 2]);

      const poor = await createKey(h, owner, { credits: { remaining: 0 } });
      const byKey = await verify(poor.key);
      expect([byKey.code, byKey.scope]).toEqual(['INSUFFICIENT_CREDITS', 'key']);
      expect(await ownerCredits(owner.id)).toBe(2);
    });

    it("the owner refusing a quota leaves the key's quota; the key refusing leaves the owner's", async () => {
      const { owner, keys } = await ownerWith({ limits: { daily: { requests: 2 } } }, 1, {
        limits: { daily: { requests: 5 } },
      });
      const [k] = keys as unknown as [{ key: string }];
      expect(outcomes(await burst([k], 4))).toEqual({ VALID: 2, 'QUOTA_EXCEEDED:owner': 2 });
      // Without the owner's quota the key has its own 3 left (5 - the 2 admitted).
      expect((await setBalances(owner.id, { limits: {} })).statusCode).toBe(200);
      expect(outcomes(await burst([k], 5))).toEqual({ VALID: 3, 'QUOTA_EXCEEDED:key': 2 });

      const other = await ownerWith({ limits: { daily: { requests: 5 } } }, 0);
      const tight = await createKey(h, other.owner, { limits: { daily: { requests: 1 } } });
      expect(outcomes(await burst([tight], 3))).toEqual({ VALID: 1, 'QUOTA_EXCEEDED:key': 2 });
      // The owner's quota counted the one admitted request only: 4 are left for another key.
      const free = await createKey(h, other.owner);
      expect(outcomes(await burst([free], 6))).toEqual({ VALID: 4, 'QUOTA_EXCEEDED:owner': 2 });
    });
  });

  describe('what callers see', () => {
    it('/v1/verify names the scope and the owner balance; key-holder refusals carry scope and say whose', async () => {
      const { owner, keys } = await ownerWith(
        { credits: { remaining: 1 }, limits: { rate: [{ limit: 5, window: '1m' }] } },
        1,
      );
      const [k] = keys as unknown as [{ key: string }];
      const first = await h.request({
        method: 'POST',
        url: '/v1/verify',
        bearer: serviceToken,
        body: { key: k.key },
      });
      expect(first.json()).toMatchObject({
        valid: true,
        scope: null,
        credits: { remaining: null },
        owner_credits: { remaining: 0 },
        rate_limits: [{ name: 'owner-minute', limit: 5, remaining: 4 }],
      });
      const second = await h.request({
        method: 'POST',
        url: '/v1/verify',
        bearer: serviceToken,
        body: { key: k.key },
      });
      expect(second.json()).toMatchObject({
        valid: false,
        code: 'INSUFFICIENT_CREDITS',
        scope: 'owner',
      });
      const holder = await h.request({ method: 'GET', url: '/v1/key', bearer: k.key });
      expect(holder.statusCode).toBe(402);
      expect(holder.json().error).toMatchObject({ code: 'insufficient_credits', scope: 'owner' });
      expect(holder.json().error.message).toMatch(/account/);
      expect(holder.headers['ratelimit-policy']).toBe('"owner-minute";q=5;w=60');

      await setBalances(owner.id, { credits: { remaining: null } });
      const own = await createKey(h, owner, { credits: { remaining: 0 } });
      const byKey = await h.request({ method: 'GET', url: '/v1/key', bearer: own.key });
      expect(byKey.statusCode).toBe(402);
      expect(byKey.json().error).toMatchObject({
        code: 'insufficient_credits',
        scope: 'key',
        message: 'this API key has no credits left for this request',
      });
    });

    it("a change to the owner's balances reaches a cached key on the next verification", async () => {
      const { owner, keys } = await ownerWith({}, 1);
      const [k] = keys as unknown as [{ key: string }];
      expect((await verify(k.key)).valid).toBe(true);
      await setBalances(owner.id, { credits: { remaining: 0 } });
      expect((await verify(k.key)).scope).toBe('owner');
      await setBalances(owner.id, {
        credits: { remaining: null },
        limits: { daily: { requests: 2 } },
      });
      // The first verification of the day counts: one request is left of the two.
      expect(outcomes(await burst([k], 2))).toEqual({ VALID: 1, 'QUOTA_EXCEEDED:owner': 1 });
      await setBalances(owner.id, { limits: {} });
      expect((await verify(k.key)).valid).toBe(true);
    });
  });

  describe('usage billing and quota rebuilds', () => {
    it('a reservation debits the key and the owner; the settlement moves both, once', async () => {
      const { owner, keys } = await ownerWith({ credits: { remaining: 100 } }, 1, {
        billing: 'usage',
        credits: { remaining: 100 },
      });
      const [k] = keys as unknown as [{ key: string; id: string }];
      const settle = (body: Record<string, unknown>) =>
        h.request({ method: 'POST', url: '/v1/usage', bearer: serviceToken, body });
      const reserved = await verify(k.key, 10);
      expect([reserved.creditsRemaining, reserved.ownerCreditsRemaining]).toEqual([90, 90]);
      const refund = await settle({ verification_id: reserved.verificationId, amount: 4 });
      expect(refund.json()).toMatchObject({
        adjusted: 6,
        credits: { remaining: 96 },
        owner_credits: { remaining: 96 },
      });
      expect(
        (await settle({ verification_id: reserved.verificationId, amount: 4 })).statusCode,
      ).toBe(404);

      const unlimited = await createKey(h, owner, { billing: 'usage' });
      const onOwner = await verify(unlimited.key, 10);
      expect([onOwner.creditsRemaining, onOwner.ownerCreditsRemaining]).toEqual([null, 86]);
      const extra = await settle({ verification_id: onOwner.verificationId, amount: 15 });
      expect(extra.json()).toMatchObject({
        credits: { remaining: null },
        owner_credits: { remaining: 81 },
      });
      const byKeyId = await settle({ key_id: unlimited.id, amount: 100 });
      expect(byKeyId.json().owner_credits).toEqual({ remaining: 0 });
      expect(await ownerCredits(owner.id)).toBe(0);
    });

    it('an owner quota lost with the limiter is rebuilt from the usage of all its keys', async () => {
      const { keys } = await ownerWith({ limits: { monthly: { requests: 10 } } }, 2);
      expect(outcomes(await burst(keys, 6))).toEqual({ VALID: 6 });
      await h.services.usage.flush();
      // Another process (a fresh in-memory limiter), or a Redis that lost its data.
      if (h.config.redisUrl !== null) await dropRedisPrefix(h.config.redisKeyPrefix);
      const other = createServices(h.config, h.services.store, { clock: h.clock });
      try {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            other.verify.verify({ key: (keys[i % 2] as { key: string }).key, ip: null }),
          ),
        );
        expect(outcomes(results)).toEqual({ VALID: 4, 'QUOTA_EXCEEDED:owner': 6 });
      } finally {
        await other.stop();
      }
    });
  });
});
