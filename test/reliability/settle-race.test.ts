import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, type Harness } from '../helpers/harness.ts';

/**
 * A settlement read the balance without a lock before its guarded UPDATE, and reported
 * `adjusted` as the difference: on PostgreSQL a spend committed between the two was counted in
 * the settlement's figure as well, so spends + adjustments came to more than the balance held.
 */
describe.each(DATABASES)('settlement against concurrent spends on $name', (kind) => {
  let h: Harness;
  let owner: Account;
  beforeAll(async () => {
    h = await createHarness(kind, { PLANS: 'free:unlimited' });
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  it('reports what it really charged: spends + charged + final balance = balance before', async () => {
    for (let round = 0; round < 10; round++) {
      const created = await h.services.keys.create(CLI_ACTOR, {
        name: `settle ${round}`,
        ownerId: owner.id,
        billing: 'usage',
        credits: { remaining: 100, refill: null },
      });
      const reserved = await h.services.verify.verify({ key: created.secret, ip: null, cost: 10 });
      expect(reserved.valid).toBe(true);
      const spends = Array.from({ length: 20 }, () =>
        Promise.resolve(h.services.verify.verify({ key: created.secret, ip: null, cost: 1 })),
      );
      const settled = h.services.billing.settle(CLI_ACTOR, {
        verificationId: reserved.verificationId as string,
        amount: 200,
      });
      const spent = (await Promise.all(spends)).filter((r) => r.valid).length;
      const { adjusted, remaining } = await settled;
      const row = await h.services.store.db
        .selectFrom('api_keys')
        .select('credits_remaining')
        .where('id', '=', created.key.id)
        .executeTakeFirstOrThrow();
      expect(spent - adjusted + Number(row.credits_remaining)).toBe(90);
      expect(remaining).toBeGreaterThanOrEqual(0);
    }
  });
});
