import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, createKey, type Harness } from '../helpers/harness.ts';
import { dropRedisPrefix, LIMITER_BACKENDS } from '../helpers/redis.ts';

const redis = LIMITER_BACKENDS.find((backend) => backend.name === 'redis');

/**
 * R14 for quotas, in process: the Redis counters of this test's prefix are deleted (what a
 * FLUSHALL or a restart does to them) while usage sits partly in the database, partly in the
 * recorder's memory, and partly in a flush that has not committed yet.
 */
describe.skipIf(redis === undefined).each(DATABASES)(
  'quota counters lost with Redis on $name',
  (kind) => {
    let h: Harness;
    let owner: Account;

    beforeAll(async () => {
      h = await createHarness(kind, { PLANS: 'free:unlimited', ...redis?.env() });
      owner = await h.signup();
    });
    afterAll(async () => {
      await h?.close();
    });

    const verify = (key: string) => h.services.verify.verify({ key, ip: null });
    const valid = async (key: string, count: number) => {
      const results = await Promise.all(Array.from({ length: count }, () => verify(key)));
      return results.filter((r) => r.valid).length;
    };

    it('usage read while a flush is writing counts that flush exactly once', async () => {
      const { id, key } = await createKey(h, owner);
      expect(await valid(key, 30)).toBe(30);
      await h.services.usage.flush();
      expect(await valid(key, 10)).toBe(10);
      const flushing = h.services.usage.flush();
      const totals = await h.services.usage.totals(id);
      await flushing;
      expect(totals.today.requests).toBe(40);
      expect((await h.services.usage.totals(id)).today.requests).toBe(40);
    });

    it('a daily quota of 50 with 30 flushed, 10 unflushed and 5 in a flush in progress admits exactly 5 more', async () => {
      const { key } = await createKey(h, owner, { limits: { daily: { requests: 50 } } });
      expect(await valid(key, 30)).toBe(30);
      await h.services.usage.flush();
      expect(await valid(key, 5)).toBe(5);
      const flushing = h.services.usage.flush();
      expect(await valid(key, 10)).toBe(10);
      await dropRedisPrefix(h.config.redisKeyPrefix);
      const afterLoss = await valid(key, 20);
      await flushing;
      expect(afterLoss).toBe(5);
    });

    it("an owner's daily quota of 50 over three keys, with usage flushed, unflushed and in a flush, admits exactly the rest", async () => {
      const account = await h.signup();
      await h.services.accounts.update(CLI_ACTOR, account.id, {
        limits: { daily: { requests: 50 } },
      });
      const keys = [
        await createKey(h, account),
        await createKey(h, account),
        await createKey(h, account),
      ];
      expect(await valid(keys[0]?.key as string, 20)).toBe(20);
      await h.services.usage.flush();
      expect(await valid(keys[1]?.key as string, 10)).toBe(10);
      const flushing = h.services.usage.flush();
      expect(await valid(keys[2]?.key as string, 5)).toBe(5);
      const totals = await h.services.usage.ownerTotals(account.id);
      expect(totals.today.requests).toBe(35);
      await dropRedisPrefix(h.config.redisKeyPrefix);
      const afterLoss = await Promise.all(
        Array.from({ length: 30 }, (_, i) => verify(keys[i % 3]?.key as string)),
      );
      await flushing;
      expect(afterLoss.filter((r) => r.valid)).toHaveLength(15);
      expect(
        afterLoss.filter((r) => r.code === 'QUOTA_EXCEEDED' && r.scope === 'owner'),
      ).toHaveLength(15);
    });
  },
);
