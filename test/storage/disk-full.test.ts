import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/cluster.ts';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, type Harness } from '../helpers/harness.ts';

const sqlite = DATABASES.find((d) => d.name === 'sqlite');
if (sqlite === undefined) throw new Error('SQLite is always available');

const KEYS = 200;

/**
 * SQLite's max_page_count, set on the writing connection at the database's current size, makes
 * every write that needs a new page fail with SQLITE_FULL, as a full disk does, without a mount.
 */
async function fillDisk(h: Harness): Promise<void> {
  const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(
    h.services.store.db,
  );
  await sql.raw(`pragma max_page_count = ${rows[0]?.page_count}`).execute(h.services.store.db);
}

async function freeSpace(h: Harness): Promise<void> {
  await sql`pragma max_page_count = 1000000`.execute(h.services.store.db);
}

describe('SQLite disk full', () => {
  let h: Harness;
  let owner: Account;
  const keys: Array<{ id: string; secret: string }> = [];
  beforeAll(async () => {
    h = await createHarness(sqlite, { PLANS: 'free:unlimited' });
    owner = await h.signup();
    for (let i = 0; i < KEYS; i += 1) {
      const created = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: owner,
        body: { name: `k${i}` },
      });
      expect(created.statusCode).toBe(201);
      keys.push({ id: created.json().id, secret: created.json().key });
    }
  });
  afterAll(async () => {
    await freeSpace(h);
    await h.close();
  });

  it('answers 503 storage_full with the real cause logged once, is not ready, keeps usage and writes it once there is room', async () => {
    await fillDisk(h);
    const failures: Array<{ statusCode: number; json(): { error: { code: string } } }> = [];
    for (let i = 0; failures.length < 3 && i < 100; i += 1) {
      const created = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: owner,
        body: { name: `more${i}`, metadata: { pad: 'x'.repeat(2000) } },
      });
      if (created.statusCode !== 201) failures.push(created);
    }
    expect(failures).toHaveLength(3);
    for (const failure of failures) {
      expect(failure.statusCode).toBe(503);
      expect(failure.json().error.code).toBe('storage_full');
    }
    const ready = await h.request({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'unavailable', reason: 'storage full' });

    // Verification only reads: it goes on, and its usage waits in memory.
    for (const key of keys) {
      const used = await h.request({ method: 'GET', url: '/v1/key', bearer: key.secret });
      expect(used.statusCode).toBe(200);
    }
    await expect(h.services.usage.flush()).rejects.toMatchObject({ code: 'SQLITE_FULL' });
    expect(h.services.usage.pendingFor(keys[0]?.id ?? '').requests).toBe(1);

    const logs = h.logs.join('');
    expect(logs).not.toContain('cannot rollback');
    expect(logs.match(/SQLITE_FULL/g)).toHaveLength(1);
    expect(h.logs.filter((line) => line.includes('"level":50'))).toHaveLength(1);

    await freeSpace(h);
    await h.services.usage.flush();
    const stored = await h.services.store.db
      .selectFrom('api_keys')
      .select(['id', 'usage_count'])
      .where('owner_id', '=', owner.id)
      .where('usage_count', '=', 1)
      .execute();
    expect(stored).toHaveLength(KEYS);
    // Ready again once the background probe has committed a write that needed new pages.
    await eventually(
      'ready again',
      async () => (await h.request({ method: 'GET', url: '/readyz' })).statusCode === 200,
    );
    expect(h.logs.join('')).toContain('database storage has room again');
  });
});
