import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  verifierToken,
} from '../helpers/harness.ts';
import { LIMITER_BACKENDS } from '../helpers/redis.ts';

const DAY = 86_400_000;

const COMBINATIONS = DATABASES.flatMap((database) =>
  LIMITER_BACKENDS.map((limiter) => ({
    name: `${database.name} with the ${limiter.name} limiter`,
    database,
    limiter,
  })),
);

describe.each(COMBINATIONS)('policy chain on $name', ({ database: kind, limiter }) => {
  let h: Harness;
  let owner: Account;
  let serviceToken: string;

  beforeAll(async () => {
    h = await createHarness(kind, {
      TRUSTED_PROXIES: '10.0.0.1',
      SESSION_IDLE_TIMEOUT: '400d',
      SESSION_ABSOLUTE_TIMEOUT: '400d',
      PLANS: 'free:unlimited',
      ...limiter.env(),
    });
    owner = await h.signup();
    serviceToken = await verifierToken(h);
  });
  afterAll(async () => {
    await h.close();
  });

  const holder = (key: string, ip = '127.0.0.1', headers: Record<string, string> = {}) =>
    h.request({ method: 'GET', url: '/v1/key', bearer: key, ip, headers });
  const verify = (body: Record<string, unknown>) =>
    h.request({ method: 'POST', url: '/v1/verify', bearer: serviceToken, body });
  const credits = async (id: string) =>
    (
      await h.services.store.db
        .selectFrom('api_keys')
        .select('credits_remaining')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).credits_remaining;

  describe('IP allowlist', () => {
    it('admits listed addresses and ranges (IPv4, IPv6, IPv4-mapped) and refuses others with 403', async () => {
      const { key } = await createKey(h, owner, {
        ip_allowlist: ['203.0.113.0/24', '2001:db8::/32'],
      });
      expect((await holder(key, '203.0.113.9')).statusCode).toBe(200);
      expect((await holder(key, '::ffff:203.0.113.9')).statusCode).toBe(200);
      expect((await holder(key, '2001:db8:1::5')).statusCode).toBe(200);
      const refused = await holder(key, '198.51.100.1');
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('ip_not_allowed');
    });

    it('ignores X-Forwarded-For from an untrusted peer and honours it from a trusted proxy (R7)', async () => {
      const { key } = await createKey(h, owner, { ip_allowlist: ['203.0.113.7'] });
      const spoofed = await holder(key, '198.51.100.1', { 'x-forwarded-for': '203.0.113.7' });
      expect(spoofed.statusCode).toBe(403);
      const proxied = await holder(key, '10.0.0.1', { 'x-forwarded-for': '203.0.113.7' });
      expect(proxied.statusCode).toBe(200);
      const me = await h.request({
        method: 'GET',
        url: '/v1/auth/me',
        as: owner,
        ip: '198.51.100.1',
        headers: { 'x-forwarded-for': '1.2.3.4' },
      });
      expect(me.json().ip).toBe('198.51.100.1');
    });

    it('verify uses the ip the caller reports, and refuses an allowlisted key without one', async () => {
      const { key } = await createKey(h, owner, { ip_allowlist: ['203.0.113.0/24'] });
      expect((await verify({ key, ip: '203.0.113.1' })).json().code).toBe('VALID');
      expect((await verify({ key, ip: '192.0.2.1' })).json().code).toBe('IP_NOT_ALLOWED');
      expect((await verify({ key })).json().code).toBe('IP_NOT_ALLOWED');
      for (const ip of ['not-an-ip', '203.0.113.0/24', '300.1.1.1']) {
        const bad = await verify({ key, ip });
        expect(bad.statusCode).toBe(400);
        expect(bad.json().error.code).toBe('validation_error');
      }
    });

    it('refuses malformed entries on create and PATCH, naming the entry', async () => {
      const bad = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: owner,
        body: { name: 'x', ip_allowlist: ['10.0.0.0/8', '300.1.1.1'] },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.message).toContain('300.1.1.1');
      const { id } = await createKey(h, owner);
      const patch = await h.request({
        method: 'PATCH',
        url: `/v1/keys/${id}`,
        as: owner,
        body: { ip_allowlist: ['fe80::/200'] },
      });
      expect(patch.statusCode).toBe(400);
      expect(patch.json().error.message).toContain('fe80::/200');
    });
  });

  describe('permissions and resources', () => {
    it('key-holder routes need key:read / usage:read; presets full and read_only', async () => {
      const readOnly = await createKey(h, owner, { permission_preset: 'read_only' });
      expect(readOnly.json.permissions).toEqual(['*:read']);
      expect((await holder(readOnly.key)).statusCode).toBe(200);
      expect(
        (await h.request({ method: 'GET', url: '/v1/usage', bearer: readOnly.key })).statusCode,
      ).toBe(200);
      const usageOnly = await createKey(h, owner, { permissions: ['usage:*'] });
      const refused = await holder(usageOnly.key);
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('forbidden');
      expect(
        (await h.request({ method: 'GET', url: '/v1/usage', bearer: usageOnly.key })).statusCode,
      ).toBe(200);
      expect((await verify({ key: readOnly.key, permission: 'models:invoke' })).json().code).toBe(
        'FORBIDDEN',
      );
      const full = await createKey(h, owner, { permission_preset: 'full' });
      expect((await verify({ key: full.key, permission: 'models:invoke' })).json().code).toBe(
        'VALID',
      );
    });

    it('allowed_resources restrict the resource a verification names', async () => {
      const { key } = await createKey(h, owner, { allowed_resources: ['gpt-4', 'gpt-4o'] });
      expect((await verify({ key, resource: 'gpt-4' })).json().code).toBe('VALID');
      expect((await verify({ key, resource: 'o1' })).json().code).toBe('FORBIDDEN');
    });

    it('max_cost_per_request refuses a larger cost with FORBIDDEN', async () => {
      const { key } = await createKey(h, owner, { limits: { max_cost_per_request: 4 } });
      expect((await verify({ key, cost: 4 })).json().code).toBe('VALID');
      expect((await verify({ key, cost: 5 })).json().code).toBe('FORBIDDEN');
    });
  });

  describe('rate limits', () => {
    it('429 with Retry-After and IETF headers; replenished exactly at the window edge (R8)', async () => {
      const { key } = await createKey(h, owner, { limits: { rate: [{ limit: 3, window: '1m' }] } });
      const start = h.clock.now();
      for (let i = 0; i < 3; i++) {
        const ok = await holder(key);
        expect(ok.statusCode).toBe(200);
        expect(ok.headers['ratelimit-policy']).toBe('"minute";q=3;w=60');
        expect(ok.headers.ratelimit).toMatch(new RegExp(`^"minute";r=${2 - i};t=\\d+$`));
      }
      const limited = await holder(key);
      expect(limited.statusCode).toBe(429);
      expect(limited.json().error.code).toBe('rate_limited');
      expect(limited.headers['retry-after']).toBe('20');
      expect(limited.headers.ratelimit).toBe('"minute";r=0;t=60');
      // One token comes back every 20 s: still refused 1 ms before, admitted at the instant.
      h.clock.set(start + 20_000 - 1);
      expect((await holder(key)).statusCode).toBe(429);
      h.clock.set(start + 20_000);
      expect((await holder(key)).statusCode).toBe(200);
    });

    it('several rules at once, cost-weighted, reported by verify', async () => {
      const { key } = await createKey(h, owner, {
        limits: {
          rate: [
            { limit: 10, window: '1s' },
            { limit: 25, window: '1h' },
          ],
        },
      });
      const first = (await verify({ key, cost: 4 })).json();
      expect(first).toMatchObject({ code: 'VALID', ratelimit: { limit: 10, remaining: 6 } });
      expect((await verify({ key, cost: 6 })).json().code).toBe('VALID');
      expect((await verify({ key, cost: 1 })).json()).toMatchObject({
        code: 'RATE_LIMITED',
        retry_after: 1,
      });
      h.clock.advance(1000);
      expect((await verify({ key, cost: 10 })).json().code).toBe('VALID');
      h.clock.advance(1000);
      expect((await verify({ key, cost: 10 })).json()).toMatchObject({ code: 'RATE_LIMITED' });
      expect((await verify({ key, cost: 5 })).json()).toMatchObject({
        code: 'VALID',
        ratelimit: { limit: 25, remaining: 0 },
      });
    });
  });

  describe('quotas', () => {
    it('daily requests: refused with 429 quota_exceeded until the calendar day ends (R8)', async () => {
      h.clock.set(Date.UTC(2026, 6, 10, 23, 59, 0));
      const { key } = await createKey(h, owner, { limits: { daily: { requests: 2 } } });
      expect((await holder(key)).statusCode).toBe(200);
      expect((await holder(key)).statusCode).toBe(200);
      const refused = await holder(key);
      expect(refused.statusCode).toBe(429);
      expect(refused.json().error.code).toBe('quota_exceeded');
      expect(refused.headers['retry-after']).toBe('60');
      h.clock.set(Date.UTC(2026, 6, 11) - 1);
      expect((await holder(key)).statusCode).toBe(429);
      h.clock.set(Date.UTC(2026, 6, 11));
      expect((await holder(key)).statusCode).toBe(200);
    });

    it('monthly amount counts cost; the period starts from the durable history after a restart', async () => {
      h.clock.set(Date.UTC(2026, 7, 5, 12));
      const { key, id } = await createKey(h, owner, { limits: { monthly: { amount: 10 } } });
      expect((await verify({ key, cost: 6 })).json().code).toBe('VALID');
      expect((await verify({ key, cost: 5 })).json().code).toBe('QUOTA_EXCEEDED');
      await h.services.usage.flush();
      // A second process over the same database starts from the stored history, not from zero.
      const { createServices } = await import('../../src/services/index.ts');
      const other = createServices(h.config, h.services.store, { clock: h.clock });
      const again = await other.verify.verify({ key, ip: null, cost: 5 });
      expect(again.code).toBe('QUOTA_EXCEEDED');
      expect((await other.verify.verify({ key, ip: null, cost: 4 })).code).toBe('VALID');
      await other.stop();
      expect(id).toMatch(/^key_/);
    });
  });

  describe('credits', () => {
    it('spend down to zero, then 402 insufficient_credits; verify reports the balance', async () => {
      const { key, id } = await createKey(h, owner, { credits: { remaining: 3 } });
      expect((await verify({ key })).json()).toMatchObject({
        code: 'VALID',
        credits: { remaining: 2 },
      });
      expect((await holder(key)).json().credits.remaining).toBe(1);
      expect((await verify({ key })).json()).toMatchObject({
        code: 'VALID',
        credits: { remaining: 0 },
      });
      const refused = await holder(key);
      expect(refused.statusCode).toBe(402);
      expect(refused.json().error.code).toBe('insufficient_credits');
      expect(await credits(id)).toBe(0);
    });

    it('refill resets the balance when the next period starts (R8)', async () => {
      h.clock.set(Date.UTC(2026, 8, 1, 10));
      const { key } = await createKey(h, owner, {
        credits: { remaining: 1, refill: { amount: 2, interval: 'daily' } },
      });
      expect((await verify({ key })).json().code).toBe('VALID');
      expect((await verify({ key })).json().code).toBe('INSUFFICIENT_CREDITS');
      h.clock.set(Date.UTC(2026, 8, 2) - 1);
      expect((await verify({ key })).json().code).toBe('INSUFFICIENT_CREDITS');
      h.clock.set(Date.UTC(2026, 8, 2));
      expect((await verify({ key })).json()).toMatchObject({
        code: 'VALID',
        credits: { remaining: 1 },
      });
    });

    it('a spend acknowledged before a crash is still spent after restart', async () => {
      const { key, id } = await createKey(h, owner, { credits: { remaining: 5 } });
      expect((await verify({ key, cost: 2 })).json().credits.remaining).toBe(3);
      // No flush, no graceful stop: a new process over the same database, as after a crash.
      const { openStore } = await import('../../src/storage/database.ts');
      const { createServices } = await import('../../src/services/index.ts');
      const store = openStore(h.config.database);
      const restarted = createServices(h.config, store, { clock: h.clock });
      try {
        expect(await credits(id)).toBe(3);
        expect(await restarted.verify.verify({ key, ip: null, cost: 3 })).toMatchObject({
          valid: true,
          creditsRemaining: 0,
        });
        expect((await restarted.verify.verify({ key, ip: null, cost: 1 })).code).toBe(
          'INSUFFICIENT_CREDITS',
        );
      } finally {
        await restarted.stop();
        await store.close();
      }
    });

    it('R1: N credits and 10·N concurrent verifications → exactly N succeed; cost 10 → ⌊N/10⌋; 1 credit → 1', async () => {
      for (const [remaining, cost, requests, expected] of [
        [100, 1, 1000, 100],
        [1, 1, 1000, 1],
        [105, 10, 200, 10],
      ] as const) {
        const { key, id } = await createKey(h, owner, { credits: { remaining } });
        const results = await Promise.all(
          Array.from({ length: requests }, () => h.services.verify.verify({ key, ip: null, cost })),
        );
        expect(results.filter((r) => r.valid)).toHaveLength(expected);
        expect(results.filter((r) => r.code === 'INSUFFICIENT_CREDITS')).toHaveLength(
          requests - expected,
        );
        expect(await credits(id)).toBe(remaining - expected * cost);
      }
    });

    it('usage billing: reserve at verify, settle the final amount once (refund or extra, never below zero)', async () => {
      const { key, id } = await createKey(h, owner, {
        billing: 'usage',
        credits: { remaining: 100 },
      });
      const first = (await verify({ key, cost: 10 })).json();
      expect(first.credits.remaining).toBe(90);
      const settle = (body: Record<string, unknown>) =>
        h.request({ method: 'POST', url: '/v1/usage', bearer: serviceToken, body });
      const refund = await settle({ verification_id: first.verification_id, amount: 4 });
      expect(refund.json()).toMatchObject({
        reserved: 10,
        amount: 4,
        adjusted: 6,
        credits: { remaining: 96 },
      });
      expect((await settle({ verification_id: first.verification_id, amount: 4 })).statusCode).toBe(
        404,
      );
      const second = (await verify({ key, cost: 10 })).json();
      const extra = await settle({ verification_id: second.verification_id, amount: 200 });
      expect(extra.json()).toMatchObject({
        reserved: 10,
        adjusted: -86,
        credits: { remaining: 0 },
      });
      expect(await credits(id)).toBe(0);
      const perRequest = await createKey(h, owner, { credits: { remaining: 5 } });
      expect((await settle({ key_id: perRequest.id, amount: 1 })).statusCode).toBe(409);
      expect((await settle({ amount: 1 })).statusCode).toBe(400);
    });
  });

  describe('SPEC §3 order: a refused request is charged nothing', () => {
    it('refused by IP / permission / cost: no rate token, quota or credit spent', async () => {
      const { key, id } = await createKey(h, owner, {
        ip_allowlist: ['203.0.113.0/24'],
        permissions: ['models:invoke'],
        limits: {
          rate: [{ limit: 1, window: '1h' }],
          daily: { requests: 1 },
          max_cost_per_request: 5,
        },
        credits: { remaining: 1 },
      });
      for (const body of [
        { key, ip: '192.0.2.1' },
        { key, ip: '203.0.113.1', permission: 'models:delete' },
        { key, ip: '203.0.113.1', cost: 6 },
      ]) {
        expect((await verify(body)).json().valid).toBe(false);
      }
      expect(await credits(id)).toBe(1);
      expect(
        (await verify({ key, ip: '203.0.113.1', permission: 'models:invoke' })).json().code,
      ).toBe('VALID');
    });

    it('refused by the rate limit: no quota or credit spent', async () => {
      const { key, id } = await createKey(h, owner, {
        limits: { rate: [{ limit: 1, window: '1h' }], daily: { requests: 2 } },
        credits: { remaining: 5 },
      });
      expect((await verify({ key })).json().code).toBe('VALID');
      expect((await verify({ key })).json().code).toBe('RATE_LIMITED');
      expect(await credits(id)).toBe(4);
      h.clock.advance(3_600_000);
      expect((await verify({ key })).json().code).toBe('VALID');
    });

    it('refused by the quota: no rate token or credit spent', async () => {
      h.clock.set(Date.UTC(2026, 9, 1, 8));
      const { key, id } = await createKey(h, owner, {
        limits: { rate: [{ limit: 2, window: '1d' }], daily: { requests: 1 } },
        credits: { remaining: 5 },
      });
      expect((await verify({ key })).json().code).toBe('VALID');
      expect((await verify({ key })).json().code).toBe('QUOTA_EXCEEDED');
      expect(await credits(id)).toBe(4);
      h.clock.advance(DAY);
      // The quota refusal did not spend the second rate token.
      expect((await verify({ key })).json().code).toBe('VALID');
    });

    it('refused for credits: the rate token and quota are given back', async () => {
      h.clock.set(Date.UTC(2026, 10, 1, 8));
      const { key } = await createKey(h, owner, {
        limits: { rate: [{ limit: 1, window: '1h' }], daily: { requests: 1 } },
        credits: { remaining: 0 },
      });
      expect((await verify({ key })).json().code).toBe('INSUFFICIENT_CREDITS');
      await h.request({
        method: 'PATCH',
        url: `/v1/keys/${(await verify({ key })).json().key_id}`,
        as: owner,
        body: { credits: { remaining: 1 } },
      });
      expect((await verify({ key })).json().code).toBe('VALID');
    });
  });

  describe('usage history and request log', () => {
    it('records every attributable request by outcome, per day and hour, and in the log', async () => {
      h.clock.set(Date.UTC(2026, 11, 1, 9, 30));
      const { key, id } = await createKey(h, owner, {
        limits: { rate: [{ limit: 2, window: '1h' }] },
      });
      for (let i = 0; i < 3; i++) await holder(key, '203.0.113.50');
      await verify({ key, cost: 1, ip: '198.51.100.2' });
      await h.services.usage.flush();
      const daily = await h.request({
        method: 'GET',
        url: `/v1/keys/${id}/usage?granularity=day`,
        as: owner,
      });
      expect(daily.json().data).toEqual([
        { bucket: '2026-12-01', requests: 4, amount: 2, outcomes: { VALID: 2, RATE_LIMITED: 2 } },
      ]);
      const hourly = await h.request({
        method: 'GET',
        url: `/v1/keys/${id}/usage?granularity=hour`,
        as: owner,
      });
      expect(hourly.json().data).toEqual([
        {
          bucket: '2026-12-01T09:00:00.000Z',
          requests: 4,
          amount: 2,
          outcomes: { VALID: 2, RATE_LIMITED: 2 },
        },
      ]);
      const logs = await h.request({
        method: 'GET',
        url: `/v1/keys/${id}/logs?limit=3`,
        as: owner,
      });
      expect(logs.json().data[0]).toMatchObject({
        outcome: 'RATE_LIMITED',
        ip: '198.51.100.2',
        method: null,
        cost: 1,
      });
      expect(logs.json().data[1]).toMatchObject({
        outcome: 'RATE_LIMITED',
        ip: '203.0.113.50',
        method: 'GET',
        path: '/v1/key',
      });
      expect(logs.json().next_cursor).not.toBeNull();
      const other = await h.signup();
      expect(
        (await h.request({ method: 'GET', url: `/v1/keys/${id}/logs`, as: other })).statusCode,
      ).toBe(404);
      expect(
        (await h.request({ method: 'GET', url: `/v1/keys/${id}/usage`, as: other })).statusCode,
      ).toBe(404);
    });

    it('prunes request-log entries older than the retention', async () => {
      const { key, id } = await createKey(h, owner);
      await holder(key);
      await h.services.usage.flush();
      h.clock.advance(31 * DAY);
      await h.services.usage.prune();
      expect(
        (await h.request({ method: 'GET', url: `/v1/keys/${id}/logs`, as: owner })).json().data,
      ).toEqual([]);
    });
  });
});
