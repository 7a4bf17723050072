import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  type RequestOptions,
} from '../helpers/harness.ts';

/**
 * R6: two accounts. Every route that takes an id is replayed by account B with account A's ids:
 * each answers exactly what an unknown id answers (404 not_found, never 403), and A's rows are
 * byte-for-byte what they were. PATCH refuses owner, hash and usage fields. An API key is never
 * a management credential.
 */
describe.each(DATABASES)('account isolation on $name (R6)', (kind) => {
  let h: Harness;
  let a: Account;
  let b: Account;
  let aKey: { id: string; key: string };
  let aToken: { id: string; token: string };
  let bToken: string;

  const UNKNOWN_KEY = 'key_aaaaaaaaaaaaaaaaaaaaaaaa';
  const UNKNOWN_TOKEN = 'tok_aaaaaaaaaaaaaaaaaaaaaaaa';

  const createToken = async (as: Account, scopes: string[]) => {
    const response = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as,
      body: { name: 'script', scopes },
    });
    expect(response.statusCode).toBe(201);
    const json = response.json() as { id: string; token: string };
    return { id: json.id, token: json.token };
  };

  /** A's rows exactly as stored: any change by B would show here. */
  const snapshot = async () => {
    const db = h.services.store.db;
    const keys = await db
      .selectFrom('api_keys')
      .selectAll()
      .where('owner_id', '=', a.id)
      .orderBy('id')
      .execute();
    const tokens = await db
      .selectFrom('tokens')
      .selectAll()
      .where('owner_id', '=', a.id)
      .orderBy('id')
      .execute();
    const user = await db.selectFrom('users').selectAll().where('id', '=', a.id).execute();
    const sessions = await db
      .selectFrom('sessions')
      .select(['id_hash', 'user_id', 'expires_at'])
      .where('user_id', '=', a.id)
      .orderBy('id_hash')
      .execute();
    return JSON.stringify({ keys, tokens, user, sessions });
  };

  beforeAll(async () => {
    h = await createHarness(kind);
    a = await h.signup();
    b = await h.signup();
    aKey = await createKey(h, a, { name: 'A production', credits: { remaining: 100 } });
    aToken = await createToken(a, ['keys:read', 'keys:write', 'usage:read']);
    bToken = (await createToken(b, ['keys:read', 'keys:write', 'usage:read'])).token;
    // B owns a key too, so B is a real customer with data, not an empty account.
    await createKey(h, b, { name: 'B key' });
  });
  afterAll(async () => {
    await h.close();
  });

  /** Every id-taking route, with the id (and, for writes, a body that would be valid). */
  const idRoutes = (keyId: string, tokenId: string): Omit<RequestOptions, 'as' | 'bearer'>[] => [
    { method: 'GET', url: `/v1/keys/${keyId}` },
    { method: 'PATCH', url: `/v1/keys/${keyId}`, body: { name: 'hijacked' } },
    { method: 'PATCH', url: `/v1/keys/${keyId}`, body: { enabled: false } },
    {
      method: 'PATCH',
      url: `/v1/keys/${keyId}`,
      body: { credits: { remaining: 1_000_000 }, ip_allowlist: ['10.0.0.0/8'] },
    },
    { method: 'POST', url: `/v1/keys/${keyId}/revoke` },
    { method: 'POST', url: `/v1/keys/${keyId}/rotate`, body: { grace_period: '0' } },
    { method: 'DELETE', url: `/v1/keys/${keyId}` },
    { method: 'GET', url: `/v1/keys/${keyId}/usage` },
    { method: 'GET', url: `/v1/keys/${keyId}/usage?granularity=hour` },
    { method: 'GET', url: `/v1/keys/${keyId}/logs` },
    { method: 'DELETE', url: `/v1/tokens/${tokenId}` },
  ];

  const errorOf = (response: { statusCode: number; json(): unknown }) => {
    const body = response.json() as { error: { code: string; message: string } };
    return { status: response.statusCode, code: body.error.code, message: body.error.message };
  };

  for (const via of ['session', 'management token'] as const) {
    it(`B (${via}) gets 404 on every route with A's ids, the same answer as an unknown id`, async () => {
      const before = await snapshot();
      const foreign = idRoutes(aKey.id, aToken.id);
      const unknown = idRoutes(UNKNOWN_KEY, UNKNOWN_TOKEN);
      for (const [index, route] of foreign.entries()) {
        // Token management is session-only, so B's token is refused there before any lookup.
        if (via === 'management token' && route.url.startsWith('/v1/tokens')) continue;
        const auth = via === 'session' ? { as: b } : { bearer: bToken };
        const response = await h.request({ ...route, ...auth });
        const label = `${route.method} ${route.url}`;
        expect(response.statusCode, label).toBe(404);
        expect(response.json().error.code, label).toBe('not_found');
        expect(response.body, label).not.toContain(a.id);
        expect(response.body, label).not.toContain('A production');
        const reference = await h.request({ ...(unknown[index] as RequestOptions), ...auth });
        expect(errorOf(response), label).toEqual(errorOf(reference));
      }
      expect(await snapshot()).toBe(before);
    });
  }

  it("B's token cannot delete A's token either (403 before any lookup), and A's token still works", async () => {
    const byToken = await h.request({
      method: 'DELETE',
      url: `/v1/tokens/${aToken.id}`,
      bearer: bToken,
    });
    expect(byToken.statusCode).toBe(403);
    const unknown = await h.request({
      method: 'DELETE',
      url: `/v1/tokens/${UNKNOWN_TOKEN}`,
      bearer: bToken,
    });
    expect(errorOf(byToken)).toEqual(errorOf(unknown));
    const stillWorks = await h.request({ method: 'GET', url: '/v1/keys', bearer: aToken.token });
    expect(stillWorks.statusCode).toBe(200);
  });

  it("lists, owner_id filters and creates for A's account answer 404 or nothing of A's", async () => {
    const before = await snapshot();
    for (const auth of [{ as: b }, { bearer: bToken }]) {
      const list = await h.request({ method: 'GET', url: '/v1/keys?limit=100', ...auth });
      expect(list.statusCode).toBe(200);
      const ids = list.json().data.map((k: { id: string }) => k.id);
      expect(ids).not.toContain(aKey.id);
      expect(list.json().data.every((k: { owner_id: string }) => k.owner_id === b.id)).toBe(true);

      for (const ownerId of [a.id, 'usr_aaaaaaaaaaaaaaaaaaaaaaaa']) {
        const filtered = await h.request({
          method: 'GET',
          url: `/v1/keys?owner_id=${ownerId}`,
          ...auth,
        });
        expect(filtered.statusCode).toBe(404);
        expect(filtered.json().error.code).toBe('not_found');
        const created = await h.request({
          method: 'POST',
          url: '/v1/keys',
          body: { name: 'planted', owner_id: ownerId },
          ...auth,
        });
        expect(created.statusCode).toBe(404);
        expect(created.json().error.code).toBe('not_found');
      }

      const audit = await h.request({
        method: 'GET',
        url: `/v1/audit-log?target_id=${aKey.id}`,
        ...auth,
      });
      expect(audit.statusCode).toBe(200);
      expect(audit.json().data).toEqual([]);
      const allAudit = await h.request({ method: 'GET', url: '/v1/audit-log?limit=100', ...auth });
      expect(allAudit.body).not.toContain(a.id);
      expect(allAudit.body).not.toContain(aKey.id);
    }
    const tokens = await h.request({ method: 'GET', url: '/v1/tokens', as: b });
    expect(tokens.json().data.map((t: { id: string }) => t.id)).not.toContain(aToken.id);
    expect(await snapshot()).toBe(before);
  });

  it('a non-admin gets the same 403 on admin routes for A and for an unknown user', async () => {
    const before = await snapshot();
    const forA = await h.request({
      method: 'PATCH',
      url: `/v1/admin/users/${a.id}`,
      as: b,
      body: { disabled: true },
    });
    const forNobody = await h.request({
      method: 'PATCH',
      url: '/v1/admin/users/usr_aaaaaaaaaaaaaaaaaaaaaaaa',
      as: b,
      body: { disabled: true },
    });
    expect(forA.statusCode).toBe(403);
    expect(errorOf(forA)).toEqual(errorOf(forNobody));
    const list = await h.request({ method: 'GET', url: '/v1/admin/users', as: b });
    expect(list.statusCode).toBe(403);
    expect(list.body).not.toContain(a.email);
    expect(await snapshot()).toBe(before);
  });

  it('PATCH with owner, hash, usage or other read-only fields → 400 unknown_field, nothing changed', async () => {
    const refused: Record<string, unknown>[] = [
      { owner_id: b.id },
      { user_id: b.id },
      { hash: 'a'.repeat(64) },
      { key_hash: 'a'.repeat(64) },
      { key: 'sk_live_0000000000000000000000000000000000000000' },
      { secret: 'x' },
      { start: 'sk_live_0000' },
      { last4: '0000' },
      { usage_count: 0 },
      { last_used_at: null },
      { revoked_at: null },
      { created_at: '2020-01-01T00:00:00.000Z' },
      { updated_at: '2020-01-01T00:00:00.000Z' },
      { id: 'key_bbbbbbbbbbbbbbbbbbbbbbbb' },
      { rotated_from: null },
      { rotated_to: null },
      { credits_remaining: 5 },
      { credits_refill_period: '2026-06' },
      { status: 'active' },
      { environment: 'test' },
      { object: 'api_key' },
      { masked: 'x' },
      { credits: { remaining: 5, used: 0 } },
      { limits: { daily: { requests: 10, used: 0 } } },
    ];
    const before = await snapshot();
    for (const extra of refused) {
      // Each rides along with a legitimate change: the whole request must be refused.
      for (const auth of [{ as: a }, { bearer: aToken.token }, { as: b }]) {
        const response = await h.request({
          method: 'PATCH',
          url: `/v1/keys/${aKey.id}`,
          body: { name: 'renamed', ...extra },
          ...auth,
        });
        const label = `${JSON.stringify(extra)} by ${'as' in auth ? 'session' : 'token'}`;
        expect(response.statusCode, label).toBe(400);
        expect(response.json().error.code, label).toBe('unknown_field');
      }
    }
    expect(await snapshot()).toBe(before);
    const fetched = await h.request({ method: 'GET', url: `/v1/keys/${aKey.id}`, as: a });
    expect(fetched.json()).toMatchObject({
      name: 'A production',
      owner_id: a.id,
      status: 'active',
      credits: { remaining: 100 },
    });
  });

  it('A still owns and uses everything afterwards', async () => {
    const holder = await h.request({ method: 'GET', url: '/v1/key', bearer: aKey.key });
    expect(holder.statusCode).toBe(200);
    expect(holder.json()).toMatchObject({ id: aKey.id, status: 'active' });
    const tokenUse = await h.request({
      method: 'GET',
      url: `/v1/keys/${aKey.id}`,
      bearer: aToken.token,
    });
    expect(tokenUse.statusCode).toBe(200);
    expect(tokenUse.json().owner_id).toBe(a.id);
    const audit = await h.request({
      method: 'GET',
      url: `/v1/audit-log?target_id=${aKey.id}`,
      as: a,
    });
    expect(audit.json().data.map((e: { action: string }) => e.action)).toEqual(['key.created']);
  });

  describe('an API key is never a management credential', () => {
    const managementRoutes = (): RequestOptions[] => [
      { method: 'GET', url: '/v1/keys' },
      { method: 'POST', url: '/v1/keys', body: { name: 'from a key' } },
      { method: 'GET', url: `/v1/keys/${aKey.id}` },
      { method: 'PATCH', url: `/v1/keys/${aKey.id}`, body: { name: 'from a key' } },
      { method: 'POST', url: `/v1/keys/${aKey.id}/revoke` },
      { method: 'POST', url: `/v1/keys/${aKey.id}/rotate`, body: {} },
      { method: 'DELETE', url: `/v1/keys/${aKey.id}` },
      { method: 'GET', url: `/v1/keys/${aKey.id}/usage` },
      { method: 'GET', url: `/v1/keys/${aKey.id}/logs` },
      { method: 'GET', url: '/v1/tokens' },
      { method: 'POST', url: '/v1/tokens', body: { name: 'from a key', scopes: ['keys:read'] } },
      { method: 'DELETE', url: `/v1/tokens/${aToken.id}` },
      { method: 'GET', url: '/v1/audit-log' },
      { method: 'GET', url: '/v1/auth/me' },
      { method: 'POST', url: '/v1/verify', body: { key: aKey.key } },
      { method: 'GET', url: '/v1/admin/users' },
    ];

    it('sk_ as Bearer or X-API-Key on key, token, audit and account routes → 403, nothing changed', async () => {
      const before = await snapshot();
      for (const route of managementRoutes()) {
        const variants: Record<string, string>[] = [
          { authorization: `Bearer ${aKey.key}` },
          { 'x-api-key': aKey.key },
        ];
        for (const headers of variants) {
          const response = await h.request({ ...route, headers });
          const label = `${route.method} ${route.url} ${Object.keys(headers)[0]}`;
          expect(response.statusCode, label).toBe(403);
          expect(response.json().error.code, label).toBe('forbidden');
        }
      }
      // Even next to a valid session cookie, the key is what is judged and refused.
      const mixed = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: a,
        headers: { authorization: `Bearer ${aKey.key}` },
        body: { name: 'mixed' },
      });
      expect(mixed.statusCode).toBe(403);
      expect(await snapshot()).toBe(before);
    });

    it('a test-environment key is refused just the same', async () => {
      const testKey = await createKey(h, a, { name: 'test env', environment: 'test' });
      expect(testKey.key).toMatch(/^sk_test_/);
      const response = await h.request({ method: 'GET', url: '/v1/keys', bearer: testKey.key });
      expect(response.statusCode).toBe(403);
      const tokens = await h.request({ method: 'GET', url: '/v1/tokens', bearer: testKey.key });
      expect(tokens.statusCode).toBe(403);
    });
  });
});
