import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  promoteToAdmin,
} from '../helpers/harness.ts';

const HOUR = 3_600_000;

describe.each(DATABASES)('plan limit and rotation on $name (security issue 11.1)', (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(kind, { PLANS: 'free:3,pro:50' });
  });
  afterAll(async () => {
    await h.close();
  });

  const used = async (as: Account) =>
    (await h.request({ method: 'GET', url: '/v1/auth/me', as })).json().plan_usage.keys_used;
  const rotate = (as: Account, id: string, grace = '0') =>
    h.request({
      method: 'POST',
      url: `/v1/keys/${id}/rotate`,
      as,
      body: { grace_period: grace },
    });
  const patch = (as: Account, id: string, body: Record<string, unknown>) =>
    h.request({ method: 'PATCH', url: `/v1/keys/${id}`, as, body });
  const fill = async (as: Account, n: number, body: Record<string, unknown> = {}) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await createKey(h, as, { name: `k${i}`, ...body })).id);
    return ids;
  };

  it('a rotated-away key cannot be revived by PATCHing expires_at, so rounds never exceed the plan', async () => {
    const owner = await h.signup();
    const ids = await fill(owner, 3);
    for (const id of ids) {
      expect((await rotate(owner, id)).statusCode).toBe(201);
      const revived = await patch(owner, id, { expires_at: null });
      expect(revived.statusCode).toBe(409);
      expect(revived.json().error.code).toBe('invalid_state');
      const later = new Date(h.clock.now() + 30 * 86_400_000).toISOString();
      expect((await patch(owner, id, { expires_at: later })).statusCode).toBe(409);
      expect(
        (await h.request({ method: 'GET', url: `/v1/keys/${id}`, as: owner })).json().status,
      ).toBe('expired');
    }
    expect(await used(owner)).toBe(3);
    expect(
      (await h.request({ method: 'POST', url: '/v1/keys', as: owner, body: { name: 'x' } }))
        .statusCode,
    ).toBe(403);
  });

  it('rotating at the limit succeeds, and the old and new key count as one during the grace period', async () => {
    const owner = await h.signup();
    const [first] = await fill(owner, 3);
    const rotated = await rotate(owner, first as string, '1h');
    expect(rotated.statusCode).toBe(201);
    expect(await used(owner)).toBe(3);
    const refused = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: owner,
      body: { name: 'one too many' },
    });
    expect(refused.statusCode).toBe(403);
    // A chain of rotations inside the grace periods is still one key.
    expect((await rotate(owner, rotated.json().id, '1h')).statusCode).toBe(201);
    expect(await used(owner)).toBe(3);
    h.clock.advance(2 * HOUR);
    expect(await used(owner)).toBe(3);
  });

  it('deleting the new key while the old one is in its grace period makes the old one count again', async () => {
    const owner = await h.signup();
    const [first] = await fill(owner, 3);
    const rotated = await rotate(owner, first as string, '24h');
    await h.request({ method: 'DELETE', url: `/v1/keys/${rotated.json().id}`, as: owner });
    expect(await used(owner)).toBe(3);
    const refused = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: owner,
      body: { name: 'one too many' },
    });
    expect(refused.statusCode).toBe(403);
  });

  it('un-expiring an expired key re-checks the plan', async () => {
    const owner = await h.signup();
    const soon = new Date(h.clock.now() + HOUR).toISOString();
    const [old] = await fill(owner, 1, { expires_at: soon });
    h.clock.advance(2 * HOUR);
    await fill(owner, 3);
    const refused = await patch(owner, old as string, { expires_at: null });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('plan_limit_reached');
    expect(await used(owner)).toBe(3);
    // Below the limit it is allowed; moving a live key's expiry needs no room.
    const other = await h.signup();
    const [expired] = await fill(other, 1, {
      expires_at: new Date(h.clock.now() + HOUR).toISOString(),
    });
    h.clock.advance(2 * HOUR);
    expect((await patch(other, expired as string, { expires_at: null })).statusCode).toBe(200);
    await fill(other, 2);
    const [live] = (
      await h.request({ method: 'GET', url: '/v1/keys?status=active', as: other })
    ).json().data;
    expect((await patch(other, live.id, { expires_at: null, name: 'renamed' })).statusCode).toBe(
      200,
    );
  });

  it('concurrent un-expiring PATCHes fill the last free place exactly once', async () => {
    const owner = await h.signup();
    const expired: string[] = [];
    for (let round = 0; round < 2; round++) {
      const soon = new Date(h.clock.now() + HOUR).toISOString();
      expired.push(...(await fill(owner, 3, { expires_at: soon })));
      h.clock.advance(2 * HOUR);
    }
    await fill(owner, 2);
    const answers = await Promise.all(expired.map((id) => patch(owner, id, { expires_at: null })));
    const codes = answers.map((r) => r.statusCode).sort();
    expect(codes).toEqual([200, 403, 403, 403, 403, 403]);
    expect(await used(owner)).toBe(3);
  });

  it('concurrent rotations of one key: exactly one succeeds', async () => {
    const owner = await h.signup();
    const [id] = await fill(owner, 1);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => rotate(owner, id as string, '1h')),
    );
    const codes = answers.map((r) => r.statusCode).sort();
    expect(codes).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    const all = (await h.request({ method: 'GET', url: '/v1/keys', as: owner })).json().data;
    expect(all).toHaveLength(2);
  });

  it('an admin acting for an owner cannot revive a rotated-away key either', async () => {
    const owner = await h.signup();
    const admin = await h.signup();
    await promoteToAdmin(h, admin);
    const [id] = await fill(owner, 1);
    expect((await rotate(owner, id as string)).statusCode).toBe(201);
    const revived = await patch(admin, id as string, { expires_at: null });
    expect(revived.statusCode).toBe(409);
  });
});
