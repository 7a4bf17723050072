import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  LimitDecision,
  Limiter,
  LimitRequest,
  OwnerLimitRequest,
  QuotaRule,
  RateRule,
} from '../../src/limits/limiter.ts';
import { MemoryLimiter } from '../../src/limits/memory-limiter.ts';
import { RedisLimiter } from '../../src/limits/redis-limiter.ts';
import { dropRedisPrefix, LIMITER_BACKENDS, REDIS_URL, redisTestPrefix } from '../helpers/redis.ts';

const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const SECOND = 1000;
const HOUR = 3_600_000;

describe.each(LIMITER_BACKENDS)('limiter contract: $name', (backend) => {
  let limiter: Limiter;
  const prefix = redisTestPrefix();

  beforeAll(() => {
    limiter =
      backend.name === 'memory'
        ? new MemoryLimiter()
        : new RedisLimiter({ url: REDIS_URL, prefix });
  });
  afterAll(async () => {
    await limiter.close();
    if (backend.name === 'redis') await dropRedisPrefix(prefix);
  });

  const request = (
    keyId: string,
    now: number,
    options: { cost?: number; rate?: RateRule[]; quotas?: QuotaRule[] } = {},
  ): LimitRequest => ({
    keyId,
    now,
    cost: options.cost ?? 1,
    rate: options.rate ?? [],
    quotas: options.quotas ?? [],
  });

  const dayQuota = (
    limits: { requests?: number; amount?: number },
    used = { requests: 0, amount: 0 },
    periodKey = '2026-06-01',
  ): QuotaRule => ({
    period: 'day',
    periodKey,
    resetAt: Date.UTC(2026, 5, 2),
    ...limits,
    used,
  });

  async function admitted(requests: LimitRequest[]): Promise<number> {
    const decisions = await Promise.all(requests.map((r) => limiter.consume(r)));
    return decisions.filter((d) => d.allowed).length;
  }

  it('admits a full window at once, then one unit per interval, and says when to retry', async () => {
    const key = randomUUID();
    const rate = [{ limit: 10, windowMs: SECOND }];
    for (let i = 0; i < 10; i++) {
      const decision = await limiter.consume(request(key, T0, { rate }));
      expect(decision.allowed).toBe(true);
      expect(decision.rate[0]).toMatchObject({ limit: 10, remaining: 9 - i });
    }
    const refused = await limiter.consume(request(key, T0, { rate }));
    expect(refused).toMatchObject({ allowed: false, code: 'RATE_LIMITED', retryAfterMs: 100 });
    expect(refused.rate[0]).toMatchObject({ remaining: 0, resetMs: SECOND });
    expect((await limiter.consume(request(key, T0 + 99, { rate }))).allowed).toBe(false);
    expect((await limiter.consume(request(key, T0 + 100, { rate }))).allowed).toBe(true);
    expect((await limiter.consume(request(key, T0 + 100, { rate }))).allowed).toBe(false);
    const later = await limiter.consume(request(key, T0 + 100 + SECOND, { rate }));
    expect(later.allowed).toBe(true);
    expect(later.rate[0]?.remaining).toBe(9);
  });

  it('weighs requests by cost; a cost above the whole limit never passes', async () => {
    const key = randomUUID();
    const rate = [{ limit: 10, windowMs: SECOND }];
    expect(await admitted([1, 2, 3, 4].map(() => request(key, T0, { rate, cost: 3 })))).toBe(3);
    expect((await limiter.consume(request(key, T0, { rate, cost: 1 }))).allowed).toBe(true);
    const tooBig = await limiter.consume(request(randomUUID(), T0, { rate, cost: 11 }));
    expect(tooBig).toMatchObject({ allowed: false, code: 'RATE_LIMITED', retryAfterMs: SECOND });
  });

  it('several rules: every one must admit, and a refusal charges none of them', async () => {
    const key = randomUUID();
    const rate = [
      { limit: 10, windowMs: SECOND },
      { limit: 15, windowMs: HOUR },
    ];
    expect(await admitted(Array.from({ length: 12 }, () => request(key, T0, { rate })))).toBe(10);
    const next = await limiter.consume(request(key, T0 + SECOND, { rate }));
    expect(next.allowed).toBe(true);
    expect(next.rate.map((r) => r.remaining)).toEqual([9, 4]);
    expect(
      await admitted(Array.from({ length: 6 }, () => request(key, T0 + 2 * SECOND, { rate }))),
    ).toBe(4);
    const refused = await limiter.consume(request(key, T0 + 3 * SECOND, { rate }));
    expect(refused).toMatchObject({ allowed: false, code: 'RATE_LIMITED' });
    // The per-second rule had room: it must not have been charged by the refused request.
    expect(refused.rate[0]?.remaining).toBe(10);
    expect(refused.rate[1]?.remaining).toBe(0);
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(SECOND);
  });

  it('no overshoot under concurrency: 1,000 calls against 100 per hour → exactly 100', async () => {
    const key = randomUUID();
    const rate = [{ limit: 100, windowMs: HOUR }];
    expect(await admitted(Array.from({ length: 1000 }, () => request(key, T0, { rate })))).toBe(
      100,
    );
  });

  it('request quotas refuse with QUOTA_EXCEEDED until the period ends, and start the next period afresh', async () => {
    const key = randomUUID();
    const quotas = [dayQuota({ requests: 5 })];
    expect(await admitted(Array.from({ length: 8 }, () => request(key, T0, { quotas })))).toBe(5);
    const refused = await limiter.consume(request(key, T0, { quotas }));
    expect(refused).toMatchObject({
      allowed: false,
      code: 'QUOTA_EXCEEDED',
      retryAfterMs: Date.UTC(2026, 5, 2) - T0,
    });
    const tomorrow = [
      { ...dayQuota({ requests: 5 }, undefined, '2026-06-02'), resetAt: Date.UTC(2026, 5, 3) },
    ];
    expect(
      await admitted(
        Array.from({ length: 8 }, () => request(key, Date.UTC(2026, 5, 2), { quotas: tomorrow })),
      ),
    ).toBe(5);
  });

  it('amount quotas count cost', async () => {
    const key = randomUUID();
    const quotas = [dayQuota({ amount: 100 })];
    expect((await limiter.consume(request(key, T0, { quotas, cost: 40 }))).allowed).toBe(true);
    expect((await limiter.consume(request(key, T0, { quotas, cost: 40 }))).allowed).toBe(true);
    expect(await limiter.consume(request(key, T0, { quotas, cost: 40 }))).toMatchObject({
      allowed: false,
      code: 'QUOTA_EXCEEDED',
    });
    expect((await limiter.consume(request(key, T0, { quotas, cost: 20 }))).allowed).toBe(true);
    expect((await limiter.consume(request(key, T0, { quotas, cost: 1 }))).allowed).toBe(false);
  });

  it('a new period starts from the durable usage it is given; a running period ignores it', async () => {
    const key = randomUUID();
    const seeded = [dayQuota({ requests: 5 }, { requests: 3, amount: 3 })];
    expect(
      await admitted(Array.from({ length: 5 }, () => request(key, T0, { quotas: seeded }))),
    ).toBe(2);
    const reseeded = [dayQuota({ requests: 5 }, { requests: 0, amount: 0 })];
    expect((await limiter.consume(request(key, T0, { quotas: reseeded }))).allowed).toBe(false);
  });

  it('without the usage, a missing quota counter is reported and nothing is charged; an existing one is used', async () => {
    const key = randomUUID();
    const rate = [{ limit: 1, windowMs: HOUR }];
    const { used: _, ...unseeded } = dayQuota({ requests: 5 });
    expect(await limiter.consume(request(key, T0, { rate, quotas: [unseeded] }))).toMatchObject({
      allowed: false,
      code: 'QUOTA_UNSEEDED',
    });
    const seeded = dayQuota({ requests: 5 }, { requests: 3, amount: 3 });
    expect((await limiter.consume(request(key, T0, { rate, quotas: [seeded] }))).allowed).toBe(
      true,
    );
    expect((await limiter.consume(request(key, T0, { quotas: [unseeded] }))).allowed).toBe(true);
    expect(await limiter.consume(request(key, T0, { quotas: [unseeded] }))).toMatchObject({
      allowed: false,
      code: 'QUOTA_EXCEEDED',
    });
    const nextDay = { ...unseeded, periodKey: '2026-06-02' };
    expect(await limiter.consume(request(key, T0, { quotas: [nextDay] }))).toMatchObject({
      code: 'QUOTA_UNSEEDED',
    });
  });

  it('rate limits are checked before quotas, and a quota refusal spends no rate token', async () => {
    const key = randomUUID();
    const rate = [{ limit: 2, windowMs: HOUR }];
    const quotas = [dayQuota({ requests: 1 })];
    expect((await limiter.consume(request(key, T0, { rate, quotas }))).allowed).toBe(true);
    const byQuota = await limiter.consume(request(key, T0, { rate, quotas }));
    expect(byQuota).toMatchObject({ allowed: false, code: 'QUOTA_EXCEEDED' });
    expect(byQuota.rate[0]?.remaining).toBe(1);
    // The rate rule still has its second unit: spend it without the quota, then both are exhausted.
    expect((await limiter.consume(request(key, T0, { rate }))).allowed).toBe(true);
    expect(await limiter.consume(request(key, T0, { rate, quotas }))).toMatchObject({
      allowed: false,
      code: 'RATE_LIMITED',
    });
  });

  it('release gives back exactly what consume charged', async () => {
    const key = randomUUID();
    const rate = [{ limit: 3, windowMs: HOUR }];
    const quotas = [dayQuota({ requests: 3, amount: 30 })];
    const first = request(key, T0, { rate, quotas, cost: 2 });
    expect((await limiter.consume(first)).allowed).toBe(true);
    await limiter.release(first);
    // Everything is back: the full rate (3 units) and the full quota are available again.
    const again = request(key, T0, { rate, quotas, cost: 3 });
    const decision = await limiter.consume(again);
    expect(decision.allowed).toBe(true);
    expect(decision.rate[0]?.remaining).toBe(0);
    await limiter.release(again);
    expect(await admitted(Array.from({ length: 5 }, () => request(key, T0, { quotas })))).toBe(3);
  });

  it('keys are independent', async () => {
    const rate = [{ limit: 1, windowMs: HOUR }];
    const a = randomUUID();
    const b = randomUUID();
    expect((await limiter.consume(request(a, T0, { rate }))).allowed).toBe(true);
    expect((await limiter.consume(request(a, T0, { rate }))).allowed).toBe(false);
    expect((await limiter.consume(request(b, T0, { rate }))).allowed).toBe(true);
  });

  describe("owner balances: the owner's rules, shared by its keys, in the same atomic step", () => {
    const ownerRules = (
      options: { rate?: RateRule[]; quotas?: QuotaRule[] } = {},
    ): OwnerLimitRequest => ({
      ownerId: `usr_${randomUUID()}`,
      rate: options.rate ?? [],
      quotas: options.quotas ?? [],
    });
    const withOwner = (base: LimitRequest, owner: OwnerLimitRequest | null): LimitRequest => ({
      ...base,
      owner,
    });
    const outcome = (d: LimitDecision) => (d.allowed ? 'ok' : `${d.code}:${d.scope}`);

    it("the key's rules decide first, then the owner's; the owner's are shared by every key", async () => {
      const owner = ownerRules({ rate: [{ limit: 5, windowMs: HOUR }] });
      const rate = [{ limit: 3, windowMs: HOUR }];
      const keys = [randomUUID(), randomUUID(), randomUUID()];
      const seen: string[] = [];
      for (const key of keys)
        for (let i = 0; i < 3; i++)
          seen.push(outcome(await limiter.consume(withOwner(request(key, T0, { rate }), owner))));
      expect(seen).toEqual([
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
        'RATE_LIMITED:owner',
        'RATE_LIMITED:owner',
        'RATE_LIMITED:owner',
        'RATE_LIMITED:owner',
      ]);
      // Both refuse now: the key's rule is checked first, so the key is named.
      const both = await limiter.consume(
        withOwner(request(keys[0] as string, T0, { rate }), owner),
      );
      expect(outcome(both)).toBe('RATE_LIMITED:key');
      // The owner's rule states follow the key's, marked as the owner's.
      expect(both.rate.map((r) => [r.limit, r.remaining, r.owner === true])).toEqual([
        [3, 0, false],
        [5, 0, true],
      ]);
    });

    it('an owner refusal charges the key nothing, and a key refusal charges the owner nothing', async () => {
      const key = randomUUID();
      const keyQuota = [dayQuota({ requests: 10 })];
      const owner = ownerRules({ quotas: [dayQuota({ requests: 2 })] });
      const seen: string[] = [];
      for (let i = 0; i < 4; i++)
        seen.push(
          outcome(await limiter.consume(withOwner(request(key, T0, { quotas: keyQuota }), owner))),
        );
      expect(seen).toEqual(['ok', 'ok', 'QUOTA_EXCEEDED:owner', 'QUOTA_EXCEEDED:owner']);
      // The key's own quota was charged for the two admitted requests only: 8 are left.
      expect(
        await admitted(Array.from({ length: 12 }, () => request(key, T0, { quotas: keyQuota }))),
      ).toBe(8);

      const limited = randomUUID();
      const other = ownerRules({ quotas: [dayQuota({ requests: 5 })] });
      const byKey: string[] = [];
      for (let i = 0; i < 3; i++)
        byKey.push(
          outcome(
            await limiter.consume(
              withOwner(request(limited, T0, { quotas: [dayQuota({ requests: 1 })] }), other),
            ),
          ),
        );
      expect(byKey).toEqual(['ok', 'QUOTA_EXCEEDED:key', 'QUOTA_EXCEEDED:key']);
      // The owner's quota counted the one admitted request only: 4 are left for its other keys.
      expect(
        await admitted(
          Array.from({ length: 10 }, () => withOwner(request(randomUUID(), T0), other)),
        ),
      ).toBe(4);
    });

    it("no overshoot under concurrency: 3 keys × 100 calls against the owner's 50 per hour → exactly 50", async () => {
      const owner = ownerRules({
        rate: [{ limit: 50, windowMs: HOUR }],
        quotas: [dayQuota({ requests: 1000 })],
      });
      const keys = [randomUUID(), randomUUID(), randomUUID()];
      const calls = Array.from({ length: 300 }, (_, i) =>
        withOwner(request(keys[i % 3] as string, T0), owner),
      );
      expect(await admitted(calls)).toBe(50);
    });

    it('an owner quota without its counter is reported with scope owner and charges nothing', async () => {
      const key = randomUUID();
      const rate = [{ limit: 1, windowMs: HOUR }];
      const { used: _used, ...unseeded } = dayQuota({ requests: 3 });
      const owner = ownerRules({ quotas: [unseeded] });
      const first = await limiter.consume(withOwner(request(key, T0, { rate }), owner));
      expect(outcome(first)).toBe('QUOTA_UNSEEDED:owner');
      // The key's rate unit was not spent: the seeded retry is admitted.
      const seeded = { ...owner, quotas: [dayQuota({ requests: 3 }, { requests: 2, amount: 2 })] };
      expect(outcome(await limiter.consume(withOwner(request(key, T0, { rate }), seeded)))).toBe(
        'ok',
      );
      // Started from the usage given (2 of 3), the counter is now full.
      expect(outcome(await limiter.consume(withOwner(request(randomUUID(), T0), seeded)))).toBe(
        'QUOTA_EXCEEDED:owner',
      );
    });

    it('release gives back what consume charged to the key and to the owner', async () => {
      const owner = ownerRules({
        rate: [{ limit: 2, windowMs: HOUR }],
        quotas: [dayQuota({ requests: 2 })],
      });
      const key = randomUUID();
      const first = withOwner(request(key, T0, { rate: [{ limit: 2, windowMs: HOUR }] }), owner);
      expect((await limiter.consume(first)).allowed).toBe(true);
      await limiter.release(first);
      expect(
        await admitted(
          Array.from({ length: 4 }, () => withOwner(request(randomUUID(), T0), owner)),
        ),
      ).toBe(2);
      expect(
        await admitted(
          Array.from({ length: 4 }, () =>
            request(key, T0, { rate: [{ limit: 2, windowMs: HOUR }] }),
          ),
        ),
      ).toBe(2);
    });
  });
});
