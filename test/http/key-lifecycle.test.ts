import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, createKey, type Harness } from '../helpers/harness.ts';

describe.each(DATABASES)('key lifecycle on $name', (kind) => {
  let h: Harness;
  let owner: Account;

  beforeAll(async () => {
    h = await createHarness(kind);
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  const holder = (key: string) => h.request({ method: 'GET', url: '/v1/key', bearer: key });

  it('answers the secret once, then only the masked form', async () => {
    const created = await createKey(h, owner, { name: '  Production ✨  ' });
    expect(created.key).toMatch(/^sk_live_[0-9a-f]{40}$/);
    expect(created.json.name).toBe('Production ✨');
    expect(created.json.masked).toBe(`${created.key.slice(0, 12)}…${created.key.slice(-4)}`);
    const fetched = await h.request({ method: 'GET', url: `/v1/keys/${created.id}`, as: owner });
    expect(fetched.statusCode).toBe(200);
    expect(fetched.body).not.toContain(created.key);
    expect(fetched.body).not.toContain(created.key.slice(12, 40));
  });

  it('a valid key reads itself; a malformed or unknown one is 401 with the Bearer challenge', async () => {
    const { key, id } = await createKey(h, owner);
    const ok = await holder(key);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ id, status: 'active' });
    for (const bad of [
      'nope',
      `${key.slice(0, -1)}0`.replace(/.$/, key.endsWith('0') ? '1' : '0'),
      key.toUpperCase(),
      '',
    ]) {
      const response = await holder(bad);
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect(response.json().error.code).toBe('key_not_found');
    }
    const viaHeader = await h.request({
      method: 'GET',
      url: '/v1/key',
      headers: { 'x-api-key': key },
    });
    expect(viaHeader.statusCode).toBe(200);
  });

  it('revoke refuses the key on the very next request and keeps it listed', async () => {
    const { key, id } = await createKey(h, owner);
    expect((await holder(key)).statusCode).toBe(200);
    const revoked = await h.request({ method: 'POST', url: `/v1/keys/${id}/revoke`, as: owner });
    expect(revoked.json().status).toBe('revoked');
    const next = await holder(key);
    expect(next.statusCode).toBe(401);
    expect(next.json().error.code).toBe('key_revoked');
    const listed = await h.request({ method: 'GET', url: '/v1/keys?status=revoked', as: owner });
    expect(listed.json().data.map((k: { id: string }) => k.id)).toContain(id);
    const patch = await h.request({
      method: 'PATCH',
      url: `/v1/keys/${id}`,
      as: owner,
      body: { enabled: true },
    });
    expect(patch.statusCode).toBe(409);
  });

  it('expiry: valid 1 ms before expires_at, refused at it (fake clock)', async () => {
    const expiresAt = h.clock.now() + 60_000;
    const { key } = await createKey(h, owner, { expires_at: new Date(expiresAt).toISOString() });
    expect((await holder(key)).statusCode).toBe(200);
    h.clock.set(expiresAt - 1);
    expect((await holder(key)).statusCode).toBe(200);
    h.clock.set(expiresAt);
    const expired = await holder(key);
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.code).toBe('key_expired');
  });

  it('disable refuses the key on the next request; enable restores it', async () => {
    const { key, id } = await createKey(h, owner);
    expect((await holder(key)).statusCode).toBe(200);
    await h.request({
      method: 'PATCH',
      url: `/v1/keys/${id}`,
      as: owner,
      body: { enabled: false },
    });
    const disabled = await holder(key);
    expect(disabled.statusCode).toBe(401);
    expect(disabled.json().error.code).toBe('key_disabled');
    await h.request({ method: 'PATCH', url: `/v1/keys/${id}`, as: owner, body: { enabled: true } });
    expect((await holder(key)).statusCode).toBe(200);
  });

  it('delete refuses the key on the next request; the row is gone, the audit stays', async () => {
    const { key, id } = await createKey(h, owner);
    expect((await holder(key)).statusCode).toBe(200);
    const deleted = await h.request({ method: 'DELETE', url: `/v1/keys/${id}`, as: owner });
    expect(deleted.statusCode).toBe(204);
    expect((await holder(key)).json().error.code).toBe('key_not_found');
    expect((await h.request({ method: 'GET', url: `/v1/keys/${id}`, as: owner })).statusCode).toBe(
      404,
    );
    const audit = await h.request({
      method: 'GET',
      url: `/v1/audit-log?target_id=${id}`,
      as: owner,
    });
    expect(audit.json().data.map((e: { action: string }) => e.action)).toEqual([
      'key.deleted',
      'key.created',
    ]);
  });

  it('rotate with grace 0: the old key stops at once, the new one works with the same settings', async () => {
    const old = await createKey(h, owner, {
      name: 'rotating',
      permissions: ['usage:read', 'key:read'],
      metadata: { team: 'a' },
    });
    expect((await holder(old.key)).statusCode).toBe(200);
    const rotated = await h.request({
      method: 'POST',
      url: `/v1/keys/${old.id}/rotate`,
      as: owner,
      body: { grace_period: '0' },
    });
    expect(rotated.statusCode).toBe(201);
    const fresh = rotated.json();
    expect(fresh.key).not.toBe(old.key);
    expect(fresh).toMatchObject({
      name: 'rotating',
      permissions: ['usage:read', 'key:read'],
      metadata: { team: 'a' },
      rotated_from: old.id,
    });
    expect((await holder(old.key)).statusCode).toBe(401);
    expect((await holder(fresh.key)).statusCode).toBe(200);
    const before = await h.request({ method: 'GET', url: `/v1/keys/${old.id}`, as: owner });
    expect(before.json().rotated_to).toBe(fresh.id);
  });

  it('rotate with a grace period: the old key works until it ends', async () => {
    const old = await createKey(h, owner);
    const rotated = await h.request({
      method: 'POST',
      url: `/v1/keys/${old.id}/rotate`,
      as: owner,
      body: { grace_period: '1h' },
    });
    expect(rotated.statusCode).toBe(201);
    const start = h.clock.now();
    h.clock.set(start + 3_600_000 - 1);
    expect((await holder(old.key)).statusCode).toBe(200);
    h.clock.set(start + 3_600_000);
    expect((await holder(old.key)).statusCode).toBe(401);
    expect((await holder(rotated.json().key)).statusCode).toBe(200);
    const again = await h.request({
      method: 'POST',
      url: `/v1/keys/${old.id}/rotate`,
      as: owner,
      body: { grace_period: '0' },
    });
    expect(again.statusCode).toBe(409);
  });

  it('PATCH accepts only its fields; owner, hash and usage fields are refused with 400', async () => {
    const { id } = await createKey(h, owner);
    for (const body of [
      { owner_id: 'usr_x' },
      { hash: 'abc' },
      { usage_count: 5 },
      { last_used_at: null },
      { key: 'sk_live_x' },
      { start: 'x' },
    ]) {
      const response = await h.request({ method: 'PATCH', url: `/v1/keys/${id}`, as: owner, body });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('unknown_field');
    }
    const renamed = await h.request({
      method: 'PATCH',
      url: `/v1/keys/${id}`,
      as: owner,
      body: { name: 'renamed' },
    });
    expect(renamed.json().name).toBe('renamed');
  });

  it('lists with filters, name search and cursor pagination', async () => {
    const other = await h.signup();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      h.clock.advance(1);
      made.push(
        (
          await createKey(h, other, {
            name: `page-${i}`,
            environment: i % 2 === 0 ? 'live' : 'test',
          })
        ).id,
      );
    }
    const first = await h.request({ method: 'GET', url: '/v1/keys?limit=2', as: other });
    expect(first.json().data.map((k: { id: string }) => k.id)).toEqual([made[4], made[3]]);
    expect(first.json().has_more).toBe(true);
    const second = await h.request({
      method: 'GET',
      url: `/v1/keys?limit=2&cursor=${first.json().next_cursor}`,
      as: other,
    });
    expect(second.json().data.map((k: { id: string }) => k.id)).toEqual([made[2], made[1]]);
    const test = await h.request({ method: 'GET', url: '/v1/keys?environment=test', as: other });
    expect(test.json().data).toHaveLength(2);
    const search = await h.request({ method: 'GET', url: '/v1/keys?search=PAGE-3', as: other });
    expect(search.json().data.map((k: { name: string }) => k.name)).toEqual(['page-3']);
    // total_count counts the matches on every page; search also finds a key id and a start.
    expect(first.json().total_count).toBe(5);
    expect(test.json().total_count).toBe(2);
    expect(search.json().total_count).toBe(1);
    const byId = await h.request({ method: 'GET', url: `/v1/keys?search=${made[1]}`, as: other });
    expect(byId.json().data.map((k: { id: string }) => k.id)).toEqual([made[1]]);
    const keyOne = (
      await h.request({ method: 'GET', url: `/v1/keys/${made[1]}`, as: other })
    ).json();
    const byStart = await h.request({
      method: 'GET',
      url: `/v1/keys?search=${encodeURIComponent(keyOne.start)}`,
      as: other,
    });
    expect(byStart.json().data.map((k: { id: string }) => k.id)).toContain(made[1]);
    const typedPrefix = await h.request({
      method: 'GET',
      url: '/v1/keys?search=sk_test_',
      as: other,
    });
    expect(typedPrefix.json().total_count).toBe(2);
    // Another account's key id finds nothing.
    const foreign = await h.request({
      method: 'GET',
      url: `/v1/keys?search=${made[1]}`,
      as: owner,
    });
    expect(foreign.json().total_count).toBe(0);
    // A LIKE wildcard is a literal character, not "anything".
    const wildcard = await h.request({ method: 'GET', url: '/v1/keys?search=%25', as: other });
    expect(wildcard.json().total_count).toBe(0);
    const tooMany = await h.request({ method: 'GET', url: '/v1/keys?limit=101', as: other });
    expect(tooMany.statusCode).toBe(400);
    const badCursor = await h.request({ method: 'GET', url: '/v1/keys?cursor=garbage', as: other });
    expect(badCursor.statusCode).toBe(400);
  });

  it('validates names, permissions, IP entries and metadata size with 400s naming the problem', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: '   ' }, /name/],
      [{ name: 'x'.repeat(101) }, /100/],
      [{ permissions: ['not a permission'] }, /permission/],
      [{ ip_allowlist: ['10.0.0.0/33'] }, /10\.0\.0\.0\/33/],
      [{ ip_allowlist: ['999.1.1.1'] }, /999/],
      [{ metadata: { blob: 'x'.repeat(17_000) } }, /16 KB/],
      [{ expires_at: new Date(Date.UTC(2020, 0, 1)).toISOString() }, /future/],
      [{ environment: 'prod' }, /environment/],
    ];
    for (const [body, message] of cases) {
      const response = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: owner,
        body: { name: 'n', ...body },
      });
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json().error.message).toMatch(message);
    }
  });

  it('names the field a 400 is about in error.param, for forms to show it there', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: '   ' }, 'name'],
      [{ permissions: ['not a permission'] }, 'permissions'],
      [{ ip_allowlist: ['2001:db8::/129'] }, 'ip_allowlist'],
      [{ metadata: { blob: 'x'.repeat(17_000) } }, 'metadata'],
      [{ expires_at: new Date(Date.UTC(2020, 0, 1)).toISOString() }, 'expires_at'],
      [
        {
          limits: {
            rate: [
              { limit: 5, window: '1m' },
              { limit: 0, window: '1h' },
            ],
          },
        },
        'limits.rate[1].limit',
      ],
      [{ credits: { remaining: -1 } }, 'credits.remaining'],
    ];
    for (const [body, param] of cases) {
      const response = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: owner,
        body: { name: 'n', ...body },
      });
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json().error.param, JSON.stringify(body)).toBe(param);
    }
    // An error about no one field has no param.
    const unknown = await h.request({
      method: 'GET',
      url: '/v1/keys/key_aaaaaaaaaaaaaaaaaaaaaaaa',
      as: owner,
    });
    expect(unknown.json().error.param).toBeUndefined();
  });
});

describe.each(DATABASES)('plans and lifetimes on $name', (kind) => {
  it('refuses the key past the plan limit, counting neither revoked nor expired keys', async () => {
    const h = await createHarness(kind, { PLANS: 'free:2,pro:50', DEFAULT_PLAN: 'free' });
    try {
      const owner = await h.signup();
      const first = await createKey(h, owner);
      await createKey(h, owner, { expires_at: new Date(h.clock.now() + 1000).toISOString() });
      const refused = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: owner,
        body: { name: 'third' },
      });
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error).toMatchObject({ code: 'plan_limit_reached' });
      expect(refused.json().error.message).toMatch(/free plan allows 2/);
      h.clock.advance(1000);
      await createKey(h, owner);
      await h.request({ method: 'POST', url: `/v1/keys/${first.id}/revoke`, as: owner });
      await createKey(h, owner);
      const me = await h.request({ method: 'GET', url: '/v1/auth/me', as: owner });
      expect(me.json().plan_usage).toEqual({ plan: 'free', keys_used: 2, keys_limit: 2 });
    } finally {
      await h.close();
    }
  });

  it('MAX_KEY_LIFETIME turns "never" into the maximum and refuses longer expiries', async () => {
    const h = await createHarness(kind, { MAX_KEY_LIFETIME: '90d' });
    try {
      const owner = await h.signup();
      const never = await createKey(h, owner, { expiration: 'never' });
      expect(Date.parse(never.json.expires_at as string)).toBe(h.clock.now() + 90 * 86_400_000);
      const tooLong = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: owner,
        body: { name: 'n', expiration: '1y' },
      });
      expect(tooLong.statusCode).toBe(400);
      const ok = await createKey(h, owner, { expiration: '30d' });
      expect(Date.parse(ok.json.expires_at as string)).toBe(h.clock.now() + 30 * 86_400_000);
    } finally {
      await h.close();
    }
  });
});
