import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, createKey, type Harness } from '../helpers/harness.ts';

describe.each(DATABASES)('plan limit under concurrency on $name (R2)', (kind) => {
  let h: Harness;
  let owner: Account;
  beforeAll(async () => {
    h = await createHarness(kind, { PLANS: 'free:10,pro:50' });
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  it('50 concurrent creates against a limit of 10 create exactly 10 keys', async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        h.request({ method: 'POST', url: '/v1/keys', as: owner, body: { name: `c${i}` } }),
      ),
    );
    const codes = responses.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 201)).toHaveLength(10);
    expect(codes.filter((c) => c === 403)).toHaveLength(40);
    const page = await h.services.keys.list(CLI_ACTOR, { ownerId: owner.id, limit: 100 });
    expect(page.keys).toHaveLength(10);
  });
});

describe.each(DATABASES)('usage accounting on $name', (kind) => {
  let h: Harness;
  let owner: Account;
  beforeAll(async () => {
    h = await createHarness(kind);
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  it('keeps REQUEST_LOG_MAX_PER_KEY log entries per key per flush; the counts stay exact', async () => {
    const capped = await createHarness(kind, { REQUEST_LOG_MAX_PER_KEY: '3' });
    try {
      const user = await capped.signup();
      const { id, key } = await createKey(capped, user);
      const other = await createKey(capped, user);
      const use = (k: string) => capped.request({ method: 'GET', url: '/v1/key', bearer: k });
      for (let i = 0; i < 5; i++) await use(key);
      await use(other.key);
      await capped.services.usage.flush();
      for (let i = 0; i < 2; i++) await use(key);
      await capped.services.usage.flush();
      const logs = await capped.request({
        method: 'GET',
        url: `/v1/keys/${id}/logs?limit=100`,
        as: user,
      });
      // 3 of the first interval's 5, then both of the second's.
      expect(logs.json().data).toHaveLength(5);
      const otherLogs = await capped.request({
        method: 'GET',
        url: `/v1/keys/${other.id}/logs`,
        as: user,
      });
      expect(otherLogs.json().data).toHaveLength(1);
      const stored = await capped.request({ method: 'GET', url: `/v1/keys/${id}`, as: user });
      expect(stored.json().usage_count).toBe(7);
      const usage = await capped.request({ method: 'GET', url: '/v1/usage', bearer: key });
      expect(usage.json().today_usage.requests).toBe(8);
    } finally {
      await capped.close();
    }
  });

  it('counts uses in memory and writes them in one batch, not per request', async () => {
    const { id, key } = await createKey(h, owner);
    for (let i = 0; i < 25; i++)
      expect((await h.request({ method: 'GET', url: '/v1/key', bearer: key })).statusCode).toBe(
        200,
      );
    const stored = await h.services.store.db
      .selectFrom('api_keys')
      .select(['usage_count', 'last_used_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(stored).toEqual({ usage_count: 0, last_used_at: null });
    const shown = await h.request({ method: 'GET', url: `/v1/keys/${id}`, as: owner });
    expect(shown.json()).toMatchObject({
      usage_count: 25,
      last_used_at: new Date(h.clock.now()).toISOString(),
    });
    await h.services.usage.flush();
    const flushed = await h.services.store.db
      .selectFrom('api_keys')
      .select(['usage_count', 'last_used_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(flushed).toEqual({ usage_count: 25, last_used_at: h.clock.now() });
    const usage = await h.request({ method: 'GET', url: '/v1/usage', bearer: key });
    expect(usage.json()).toEqual({
      today_usage: { requests: 26, amount: 26 },
      month_usage: { requests: 26, amount: 26 },
    });
  });

  it('a failed flush keeps its counts for the next one', async () => {
    const { id, key } = await createKey(h, owner);
    await h.request({ method: 'GET', url: '/v1/key', bearer: key });
    const db = h.services.store.db;
    const original = db.transaction.bind(db);
    (db as { transaction: unknown }).transaction = () => {
      throw new Error('database down');
    };
    await expect(h.services.usage.flush()).rejects.toThrow('database down');
    (db as { transaction: unknown }).transaction = original;
    await h.services.usage.flush();
    const row = await db
      .selectFrom('api_keys')
      .select('usage_count')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.usage_count).toBe(1);
  });

  it('graceful stop flushes what is pending', async () => {
    const { id, key } = await createKey(h, owner);
    for (let i = 0; i < 3; i++) await h.request({ method: 'GET', url: '/v1/key', bearer: key });
    await h.services.usage.stop();
    const row = await h.services.store.db
      .selectFrom('api_keys')
      .select('usage_count')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.usage_count).toBe(3);
  });
});
