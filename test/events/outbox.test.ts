import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/events/events.ts';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, createKey, type Harness } from '../helpers/harness.ts';

describe.each(DATABASES)('event outbox on $name', (kind) => {
  let h: Harness;
  let owner: Account;
  beforeAll(async () => {
    h = await createHarness(kind, { PLANS: 'free:2', DEFAULT_PLAN: 'free' });
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  const events = (keyId: string) =>
    h.services.store.db
      .selectFrom('events')
      .selectAll()
      .where('key_id', '=', keyId)
      .orderBy('seq')
      .execute();

  it('writes one event per key change, with the key as every event shows it and no secret', async () => {
    const created = await createKey(h, owner, { name: 'outbox' });
    await h.request({
      method: 'PATCH',
      url: `/v1/keys/${created.id}`,
      as: owner,
      body: { name: 'outbox renamed' },
    });
    const rotated = await h.request({
      method: 'POST',
      url: `/v1/keys/${created.id}/rotate`,
      as: owner,
      body: { grace_period: '1h' },
    });
    expect(rotated.statusCode).toBe(201);
    const newKey = rotated.json() as { id: string; key: string };
    await h.request({ method: 'POST', url: `/v1/keys/${newKey.id}/revoke`, as: owner });
    await h.request({ method: 'DELETE', url: `/v1/keys/${newKey.id}`, as: owner });

    const old = await events(created.id);
    expect(old.map((e) => e.type)).toEqual(['key.created', 'key.updated', 'key.rotated']);
    const fresh = await events(newKey.id);
    expect(fresh.map((e) => e.type)).toEqual(['key.revoked', 'key.deleted']);

    const all = [...old, ...fresh];
    for (const row of all) {
      expect(EVENT_TYPES).toContain(row.type);
      expect(row.owner_id).toBe(owner.id);
      expect(row.webhooks_done_at).toBeNull();
      // None of these kinds is mailed: done for the mailer from the start.
      expect(row.mail_done_at).not.toBeNull();
      expect(row.payload).not.toContain(created.key);
      expect(row.payload).not.toContain(newKey.key);
      const payload = JSON.parse(row.payload) as {
        type: string;
        timestamp: string;
        data: { key: Record<string, unknown> };
      };
      expect(payload.type).toBe(row.type);
      expect(new Date(payload.timestamp).getTime()).toBe(Number(row.created_at));
      expect(Object.keys(payload.data.key).sort()).toEqual(
        ['environment', 'expires_at', 'id', 'masked', 'name', 'owner_id', 'status'].sort(),
      );
    }
    const rotation = JSON.parse(old[2]?.payload ?? '{}') as {
      data: { key: { id: string; expires_at: string }; new_key: { id: string } };
    };
    expect(rotation.data.key.id).toBe(created.id);
    expect(rotation.data.new_key.id).toBe(newKey.id);
    expect(rotation.data.key.expires_at).toBe(new Date(h.clock.now() + 3_600_000).toISOString());
    const update = JSON.parse(old[1]?.payload ?? '{}') as {
      data: { key: { name: string }; changed: string[] };
    };
    expect(update.data.key.name).toBe('outbox renamed');
    expect(update.data.changed).toEqual(['name']);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
  });

  it('writes no event when the change is refused', async () => {
    // The plan allows 2 live keys: the first test left one (rotated, in its grace period).
    const second = await createKey(h, owner, { name: 'second' });
    const before = await h.services.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const refused = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: owner,
      body: { name: 'over the plan' },
    });
    expect(refused.statusCode).toBe(403);
    const noChange = await h.request({
      method: 'PATCH',
      url: `/v1/keys/${second.id}`,
      as: owner,
      body: { name: '' },
    });
    expect(noChange.statusCode).toBe(400);
    const after = await h.services.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });
});
