import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, type Harness } from '../helpers/harness.ts';

/**
 * Found by the crash harness (bench/crash.ts) on PostgreSQL: a rotation moves the key's credit
 * balance to the new key. Read without a lock, a spend committed between that read and the
 * rotation's write was handed to the new key again; two rotations at once both succeeded.
 */
describe.each(DATABASES)('rotation against concurrent writes on $name', (kind) => {
  let h: Harness;
  let owner: Account;
  beforeAll(async () => {
    h = await createHarness(kind, { PLANS: 'free:unlimited' });
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  const credits = async (ids: string[]) => {
    const rows = await h.services.store.db
      .selectFrom('api_keys')
      .select('credits_remaining')
      .where('id', 'in', ids)
      .execute();
    return rows.reduce((sum, row) => sum + Number(row.credits_remaining), 0);
  };

  it('a spend racing a rotation is charged once: old + new balance = initial − spends', async () => {
    for (let round = 0; round < 10; round++) {
      const created = await h.services.keys.create(CLI_ACTOR, {
        name: `race ${round}`,
        ownerId: owner.id,
        credits: { remaining: 1000, refill: null },
      });
      const spends = Array.from({ length: 20 }, () =>
        Promise.resolve(h.services.verify.verify({ key: created.secret, ip: null, cost: 1 })),
      );
      const rotated = h.services.keys.rotate(CLI_ACTOR, created.key.id, '0');
      const results = await Promise.all(spends);
      const fresh = await rotated;
      const spent = results.filter((r) => r.valid).length;
      expect(await credits([created.key.id, fresh.key.id])).toBe(1000 - spent);
    }
  });

  it('of two rotations at once, one succeeds: the balance is never duplicated', async () => {
    for (let round = 0; round < 10; round++) {
      const created = await h.services.keys.create(CLI_ACTOR, {
        name: `twice ${round}`,
        ownerId: owner.id,
        credits: { remaining: 100, refill: null },
      });
      const outcomes = await Promise.allSettled([
        h.services.keys.rotate(CLI_ACTOR, created.key.id, '0'),
        h.services.keys.rotate(CLI_ACTOR, created.key.id, '0'),
      ]);
      const fresh = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.key.id] : []));
      expect(fresh).toHaveLength(1);
      expect(await credits([created.key.id, ...fresh])).toBe(100);
    }
  });
});
