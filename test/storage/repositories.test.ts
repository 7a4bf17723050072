import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/core/api-key.ts';
import type { ApiKey } from '../../src/core/models.ts';
import { newId } from '../../src/core/secrets.ts';
import {
  applyUsageDeltas,
  countLiveKeys,
  deleteApiKey,
  findApiKeyByHash,
  findApiKeyById,
  insertApiKey,
  listApiKeys,
  updateApiKey,
} from '../../src/storage/api-keys-repository.ts';
import { insertAuditEntry, listAuditEntries } from '../../src/storage/audit-repository.ts';
import { openStore, type Store } from '../../src/storage/database.ts';
import { migrateToLatest, pendingMigrations } from '../../src/storage/migrations.ts';
import {
  addRollups,
  appendRequestLog,
  dailyUsage,
  hourlyUsage,
  pruneRequestLog,
  readRequestLog,
  sumValidUsage,
} from '../../src/storage/usage-repository.ts';
import { findUserByEmail, insertUser, updateUser } from '../../src/storage/users-repository.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

const NOW = Date.UTC(2026, 3, 1);

function makeKey(ownerId: string, overrides: Partial<ApiKey> = {}): ApiKey {
  const g = generateApiKey('sk', 'live');
  return {
    id: newId('key'),
    ownerId,
    name: 'k',
    environment: 'live',
    hash: g.hash,
    start: g.start,
    last4: g.last4,
    permissions: ['*'],
    ipAllowlist: [],
    allowedResources: [],
    expiresAt: null,
    enabled: true,
    revokedAt: null,
    createdAt: NOW,
    updatedAt: NOW,
    lastUsedAt: null,
    usageCount: 0,
    limits: { rate: [{ limit: 10, window: '1s' }] },
    credits: { remaining: 5, refill: { amount: 5, interval: 'daily' } },
    billing: 'per_request',
    metadata: { nested: { a: [1, 2] } },
    rotatedFrom: null,
    rotatedTo: null,
    ...overrides,
  };
}

describe.each(DATABASES)('repositories on $name', (kind) => {
  let database: TestDatabase;
  let store: Store;
  let ownerId: string;

  beforeAll(async () => {
    database = await kind.create();
    store = openStore(database.config);
    const report = await migrateToLatest(store.db, store.dialect);
    expect(report.applied).toEqual([
      '0001_initial',
      '0002_normalised_emails',
      '0003_events',
      '0004_account_recovery',
      '0007_owner_balances',
      '0009_scheduled',
    ]);
    ownerId = (
      await insertUser(store.db, {
        id: newId('usr'),
        email: 'owner@example.com',
        passwordHash: 'h',
        role: 'user',
        plan: 'free',
        now: NOW,
      })
    ).id;
  });
  afterAll(async () => {
    await store.close();
    await database.drop();
  });

  it('migrations are idempotent and none is pending afterwards', async () => {
    expect((await migrateToLatest(store.db, store.dialect)).applied).toEqual([]);
    expect(await pendingMigrations(store.db, store.dialect)).toEqual([]);
  });

  it('users: unique email, updates', async () => {
    await expect(
      insertUser(store.db, {
        id: newId('usr'),
        email: 'owner@example.com',
        passwordHash: 'h',
        role: 'user',
        plan: 'free',
        now: NOW,
      }),
    ).rejects.toThrow();
    const found = await findUserByEmail(store.db, 'owner@example.com');
    expect(found?.user).toMatchObject({
      id: ownerId,
      role: 'user',
      plan: 'free',
      disabled: false,
      createdAt: NOW,
    });
    const updated = await updateUser(store.db, ownerId, { plan: 'pro' }, NOW + 1);
    expect(updated).toMatchObject({ plan: 'pro', updatedAt: NOW + 1 });
  });

  it('api keys round-trip every field, JSON included, and are found by hash with the owner state', async () => {
    const key = makeKey(ownerId, { expiresAt: NOW + 1000 });
    await insertApiKey(store.db, key);
    expect(await findApiKeyById(store.db, key.id)).toEqual(key);
    expect(await findApiKeyByHash(store.db, key.hash)).toEqual({
      key,
      ownerDisabled: false,
      ownerBalances: null,
    });
    expect(await findApiKeyByHash(store.db, 'f'.repeat(64))).toBeUndefined();
    await expect(insertApiKey(store.db, { ...makeKey(ownerId), hash: key.hash })).rejects.toThrow();
  });

  it('updates only the given fields and deletes', async () => {
    const key = makeKey(ownerId);
    await insertApiKey(store.db, key);
    const updated = await updateApiKey(
      store.db,
      key.id,
      { name: 'renamed', enabled: false, credits: { remaining: null, refill: null } },
      NOW + 5,
    );
    expect(updated).toEqual({
      ...key,
      name: 'renamed',
      enabled: false,
      credits: { remaining: null, refill: null },
      updatedAt: NOW + 5,
    });
    await deleteApiKey(store.db, key.id);
    expect(await findApiKeyById(store.db, key.id)).toBeUndefined();
  });

  it('counts live keys: not revoked, not expired', async () => {
    const owner = (
      await insertUser(store.db, {
        id: newId('usr'),
        email: 'count@example.com',
        passwordHash: 'h',
        role: 'user',
        plan: 'free',
        now: NOW,
      })
    ).id;
    await insertApiKey(store.db, makeKey(owner));
    await insertApiKey(store.db, makeKey(owner, { enabled: false }));
    await insertApiKey(store.db, makeKey(owner, { revokedAt: NOW }));
    await insertApiKey(store.db, makeKey(owner, { expiresAt: NOW }));
    await insertApiKey(store.db, makeKey(owner, { expiresAt: NOW + 1 }));
    expect(await countLiveKeys(store.db, owner, NOW)).toBe(3);
    expect(await countLiveKeys(store.db, owner, NOW + 1)).toBe(2);
  });

  it('lists by status with the same derivation as the domain, searching names literally', async () => {
    const owner = (
      await insertUser(store.db, {
        id: newId('usr'),
        email: 'list@example.com',
        passwordHash: 'h',
        role: 'user',
        plan: 'free',
        now: NOW,
      })
    ).id;
    const keys = {
      active: makeKey(owner, { name: '100% live_key', createdAt: NOW + 1 }),
      disabled: makeKey(owner, { name: 'paused', enabled: false, createdAt: NOW + 2 }),
      revoked: makeKey(owner, { name: 'gone', revokedAt: NOW, createdAt: NOW + 3 }),
      expired: makeKey(owner, { name: 'old', expiresAt: NOW, createdAt: NOW + 4 }),
    };
    for (const key of Object.values(keys)) await insertApiKey(store.db, key);
    for (const status of ['active', 'disabled', 'revoked', 'expired'] as const) {
      const rows = await listApiKeys(store.db, { ownerId: owner, status, limit: 10, now: NOW });
      expect(
        rows.map((k) => k.id),
        status,
      ).toEqual([keys[status].id]);
    }
    const all = await listApiKeys(store.db, { ownerId: owner, limit: 10, now: NOW });
    expect(all.map((k) => k.name)).toEqual(['old', 'gone', 'paused', '100% live_key']);
    expect(
      (await listApiKeys(store.db, { ownerId: owner, search: '100%', limit: 10, now: NOW })).map(
        (k) => k.name,
      ),
    ).toEqual(['100% live_key']);
    expect(
      await listApiKeys(store.db, { ownerId: owner, search: '%', limit: 10, now: NOW }),
    ).toHaveLength(1);
    expect(
      await listApiKeys(store.db, { ownerId: owner, search: 'e_k', limit: 10, now: NOW }),
    ).toHaveLength(1);
    expect(
      await listApiKeys(store.db, { ownerId: owner, search: 'e__', limit: 10, now: NOW }),
    ).toHaveLength(0);
  });

  it('adds batched usage and keeps the latest last_used_at', async () => {
    const key = makeKey(ownerId);
    await insertApiKey(store.db, key);
    await applyUsageDeltas(store.db, [{ keyId: key.id, count: 3, lastUsedAt: NOW + 50 }]);
    await applyUsageDeltas(store.db, [
      { keyId: key.id, count: 2, lastUsedAt: NOW + 10 },
      { keyId: 'key_deleted', count: 1, lastUsedAt: NOW },
    ]);
    expect(await findApiKeyById(store.db, key.id)).toMatchObject({
      usageCount: 5,
      lastUsedAt: NOW + 50,
    });
    const hour = NOW;
    const valid = { keyId: key.id, ownerId, outcome: 'VALID' as const, hour };
    await addRollups(store.db, [{ ...valid, day: '2026-04-01', requests: 2, amount: 7 }]);
    await addRollups(store.db, [
      { ...valid, day: '2026-04-01', requests: 1, amount: 3 },
      { ...valid, day: '2026-04-02', hour: hour + 86_400_000, requests: 4, amount: 0 },
      { ...valid, outcome: 'RATE_LIMITED', day: '2026-04-01', requests: 9, amount: 9 },
    ]);
    expect(await sumValidUsage(store.db, key.id, '2026-04-01', '2026-04-01')).toEqual({
      requests: 3,
      amount: 10,
    });
    expect(await sumValidUsage(store.db, key.id, '2026-04-01', '2026-04-30')).toEqual({
      requests: 7,
      amount: 10,
    });
    expect(await sumValidUsage(store.db, 'key_none', '2026-04-01', '2026-04-30')).toEqual({
      requests: 0,
      amount: 0,
    });
    expect(await dailyUsage(store.db, key.id, '2026-04-01', '2026-04-01')).toEqual([
      { bucket: '2026-04-01', outcome: 'RATE_LIMITED', requests: 9, amount: 9 },
      { bucket: '2026-04-01', outcome: 'VALID', requests: 3, amount: 10 },
    ]);
    expect(await hourlyUsage(store.db, key.id, hour + 1, hour + 86_400_000)).toEqual([
      {
        bucket: new Date(hour + 86_400_000).toISOString(),
        outcome: 'VALID',
        requests: 4,
        amount: 0,
      },
    ]);
  });

  it('a lookup on readDb does not wait for an open write transaction, nor see it', async () => {
    const key = makeKey(ownerId);
    await insertApiKey(store.db, key);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let written = () => {};
    const inside = new Promise<void>((resolve) => {
      written = resolve;
    });
    const flush = store.db.transaction().execute(async (trx) => {
      await applyUsageDeltas(trx, [{ keyId: key.id, count: 1, lastUsedAt: NOW }]);
      written();
      await held;
    });
    await inside;
    // With one SQLite connection this lookup would queue behind the transaction and never end.
    expect((await findApiKeyByHash(store.readDb, key.hash))?.key.usageCount).toBe(0);
    release();
    await flush;
    expect((await findApiKeyByHash(store.readDb, key.hash))?.key.usageCount).toBe(1);
  });

  it('flush-sized batches: 600 keys in chunks of 500, twice, with rows merged per period', async () => {
    const keys = Array.from({ length: 600 }, () => makeKey(ownerId));
    for (const key of keys) await insertApiKey(store.db, key);
    const hour = NOW;
    for (let pass = 1; pass <= 2; pass++) {
      // The second pass runs the statements compiled by the first.
      await applyUsageDeltas(
        store.db,
        keys.map((k, i) => ({ keyId: k.id, count: i + 1, lastUsedAt: NOW + pass })),
      );
      // Two hours of one day per key: two hourly rows, and one daily row written once.
      await addRollups(
        store.db,
        keys.flatMap((k, i) => [
          {
            keyId: k.id,
            ownerId,
            outcome: 'VALID' as const,
            day: '2026-04-01',
            hour,
            requests: 1,
            amount: i,
          },
          {
            keyId: k.id,
            ownerId,
            outcome: 'VALID' as const,
            day: '2026-04-01',
            hour: hour + 3_600_000,
            requests: 2,
            amount: 1,
          },
        ]),
      );
    }
    for (const i of [0, 499, 500, 599]) {
      const key = keys[i] as ApiKey;
      expect(await findApiKeyById(store.db, key.id)).toMatchObject({
        usageCount: 2 * (i + 1),
        lastUsedAt: NOW + 2,
      });
      expect(await dailyUsage(store.db, key.id, '2026-04-01', '2026-04-01')).toEqual([
        { bucket: '2026-04-01', outcome: 'VALID', requests: 6, amount: 2 * (i + 1) },
      ]);
      expect(
        (await hourlyUsage(store.db, key.id, hour, hour + 3_600_000)).map((r) => r.requests),
      ).toEqual([2, 4]);
    }
  });

  it('the request log is appended in order, paged newest first, and pruned by age', async () => {
    const entry = {
      keyId: 'key_log',
      ownerId,
      outcome: 'VALID' as const,
      ip: '2001:db8::1',
      method: 'GET',
      path: '/v1/key',
      cost: 1,
    };
    await appendRequestLog(
      store.db,
      Array.from({ length: 1200 }, (_, i) => ({ ...entry, at: NOW + i })),
    );
    const page = await readRequestLog(store.db, 'key_log', 2);
    expect(page.map((e) => e.at)).toEqual([NOW + 1199, NOW + 1198, NOW + 1197]);
    expect(page[0]).toMatchObject({
      ip: '2001:db8::1',
      method: 'GET',
      path: '/v1/key',
      cost: 1,
      outcome: 'VALID',
    });
    const older = await readRequestLog(store.db, 'key_log', 1, page[1]?.seq);
    expect(older.map((e) => e.at)).toEqual([NOW + 1197, NOW + 1196]);
    await pruneRequestLog(store.db, NOW + 1000);
    expect(await readRequestLog(store.db, 'key_log', 500)).toHaveLength(200);
  });

  it('audit entries are appended and read newest first, per owner', async () => {
    for (const action of ['a.one', 'a.two', 'a.three']) {
      await insertAuditEntry(store.db, {
        created_at: NOW,
        actor_type: 'user',
        actor_id: ownerId,
        owner_id: ownerId,
        action,
        target_type: null,
        target_id: null,
        ip: '192.0.2.1',
        details: '{"x":1}',
      });
    }
    const entries = await listAuditEntries(store.db, { ownerId, limit: 2 });
    expect(entries.map((e) => e.action)).toEqual(['a.three', 'a.two', 'a.one']);
    expect(entries[0]).toMatchObject({ ip: '192.0.2.1', details: { x: 1 }, actorType: 'user' });
    const older = await listAuditEntries(store.db, {
      ownerId,
      limit: 5,
      beforeSeq: entries[1]?.seq as number,
    });
    expect(older.map((e) => e.action)).toEqual(['a.one']);
  });
});

describe.each(DATABASES)('session pruning on $name', (kind) => {
  it('deletes sessions past their absolute lifetime or idle too long, and keeps the rest', async () => {
    const { createHarness } = await import('../helpers/harness.ts');
    const h = await createHarness(kind, {
      SESSION_IDLE_TIMEOUT: '30m',
      SESSION_ABSOLUTE_TIMEOUT: '2h',
    });
    try {
      const idle = await h.signup();
      h.clock.advance(20 * 60_000);
      const fresh = await h.signup();
      h.clock.advance(11 * 60_000);
      await h.services.sessions.prune();
      const rows = await h.services.store.db.selectFrom('sessions').select('user_id').execute();
      expect(rows.map((r) => r.user_id)).toEqual([fresh.id]);
      expect(idle.id).not.toBe(fresh.id);
    } finally {
      await h.close();
    }
  });
});
