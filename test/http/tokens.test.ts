import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/secrets.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  promoteToAdmin,
  type RequestOptions,
} from '../helpers/harness.ts';

interface CreatedToken {
  id: string;
  token: string;
  kind: string;
  masked: string;
  scopes: string[];
}

/** Management tokens (kwm_) and service tokens (kws_): SPEC §1 and §4. */
describe.each(DATABASES)('management and service tokens on $name', (kind) => {
  let h: Harness;
  let user: Account;
  let admin: Account;
  let keyId: string;

  const create = async (as: Account, scopes: string[], extra: Record<string, unknown> = {}) => {
    const response = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as,
      body: { name: `token ${scopes.join(' ')}`, scopes, ...extra },
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as CreatedToken;
  };

  const tokenRows = async () =>
    h.services.store.db.selectFrom('tokens').selectAll().orderBy('id').execute();

  beforeAll(async () => {
    h = await createHarness(kind);
    user = await h.signup();
    admin = await h.signup();
    await promoteToAdmin(h, admin);
    keyId = (await createKey(h, user, { name: 'target' })).id;
  });
  afterAll(async () => {
    await h.close();
  });

  it('the secret is shown once; only its SHA-256 is stored', async () => {
    const created = await create(user, ['keys:read']);
    expect(created.token).toMatch(/^kwm_[0-9a-f]{40}$/);
    expect(created.kind).toBe('management');
    expect(created.masked).toBe(`${created.token.slice(0, 8)}…${created.token.slice(-4)}`);
    expect(created.scopes).toEqual(['keys:read']);

    const listed = await h.request({ method: 'GET', url: '/v1/tokens', as: user });
    expect(listed.statusCode).toBe(200);
    const entry = listed.json().data.find((t: { id: string }) => t.id === created.id);
    expect(entry).toMatchObject({ id: created.id, kind: 'management', masked: created.masked });
    expect(entry).not.toHaveProperty('token');
    expect(listed.body).not.toContain(created.token);
    expect(listed.body).not.toContain(created.token.slice(8, -4));

    const row = (await tokenRows()).find((r) => r.id === created.id);
    expect(row?.hash).toBe(sha256Hex(created.token));
    expect(row?.start).toBe(created.token.slice(0, 8));
    expect(row?.last4).toBe(created.token.slice(-4));
    expect(JSON.stringify(row)).not.toContain(created.token.slice(4));
    expect(JSON.stringify(row)).not.toContain(created.token.slice(8, -4));
  });

  it('each token holds only its scopes: a route needing another scope answers 403', async () => {
    const read = await create(user, ['keys:read']);
    const write = await create(user, ['keys:write']);
    const usage = await create(user, ['usage:read']);
    const routes: Array<{
      route: RequestOptions;
      needs: 'keys:read' | 'keys:write' | 'usage:read' | 'keys:verify';
    }> = [
      { route: { method: 'GET', url: '/v1/keys' }, needs: 'keys:read' },
      { route: { method: 'GET', url: `/v1/keys/${keyId}` }, needs: 'keys:read' },
      { route: { method: 'GET', url: '/v1/audit-log' }, needs: 'keys:read' },
      {
        route: { method: 'PATCH', url: `/v1/keys/${keyId}`, body: { metadata: { n: 1 } } },
        needs: 'keys:write',
      },
      { route: { method: 'GET', url: `/v1/keys/${keyId}/usage` }, needs: 'usage:read' },
      { route: { method: 'GET', url: `/v1/keys/${keyId}/logs` }, needs: 'usage:read' },
      {
        route: { method: 'POST', url: '/v1/verify', body: { key: 'sk_live_x' } },
        needs: 'keys:verify',
      },
    ];
    // keys:write includes keys:read (writing implies reading), nothing else implies anything.
    const grants: Record<string, string[]> = {
      [read.token]: ['keys:read'],
      [write.token]: ['keys:read', 'keys:write'],
      [usage.token]: ['usage:read'],
    };
    for (const [token, granted] of Object.entries(grants)) {
      for (const { route, needs } of routes) {
        const response = await h.request({ ...route, bearer: token });
        const label = `${route.method} ${route.url} with ${granted.join(',')}`;
        if (granted.includes(needs)) {
          expect(response.statusCode, label).toBe(200);
        } else {
          expect(response.statusCode, label).toBe(403);
          expect(response.json().error.code, label).toBe('forbidden');
        }
      }
    }
    // Creating, revoking, rotating and deleting keys needs keys:write.
    for (const token of [read.token, usage.token]) {
      const before = await h.request({ method: 'GET', url: '/v1/keys', as: user });
      for (const route of [
        { method: 'POST', url: '/v1/keys', body: { name: 'nope' } },
        { method: 'POST', url: `/v1/keys/${keyId}/revoke` },
        { method: 'POST', url: `/v1/keys/${keyId}/rotate`, body: {} },
        { method: 'DELETE', url: `/v1/keys/${keyId}` },
      ] as RequestOptions[]) {
        expect((await h.request({ ...route, bearer: token })).statusCode).toBe(403);
      }
      const after = await h.request({ method: 'GET', url: '/v1/keys', as: user });
      expect(after.json()).toEqual(before.json());
    }
    const made = await h.request({
      method: 'POST',
      url: '/v1/keys',
      bearer: write.token,
      body: { name: 'by writer' },
    });
    expect(made.statusCode).toBe(201);
  });

  it('no token can create, list or delete tokens: only a session can', async () => {
    const all = await create(user, ['keys:read', 'keys:write', 'usage:read']);
    const service = await create(admin, [
      'keys:read',
      'keys:write',
      'usage:read',
      'keys:verify',
      'keys:manage',
      'users:manage',
    ]);
    const before = await tokenRows();
    for (const token of [all, service]) {
      for (const scopes of [['keys:read'], token.scopes]) {
        const response = await h.request({
          method: 'POST',
          url: '/v1/tokens',
          bearer: token.token,
          body: { name: 'child', scopes },
        });
        expect(response.statusCode).toBe(403);
        expect(response.json().error.code).toBe('forbidden');
        expect(response.body).not.toMatch(/kw[ms]_[0-9a-f]{40}/);
      }
      expect(
        (await h.request({ method: 'GET', url: '/v1/tokens', bearer: token.token })).statusCode,
      ).toBe(403);
      expect(
        (await h.request({ method: 'DELETE', url: `/v1/tokens/${token.id}`, bearer: token.token }))
          .statusCode,
      ).toBe(403);
    }
    expect(await tokenRows()).toEqual(before);
  });

  it('revoking a token refuses it on the very next request (401), even right after a use', async () => {
    const token = await create(user, ['keys:read']);
    expect(
      (await h.request({ method: 'GET', url: '/v1/keys', bearer: token.token })).statusCode,
    ).toBe(200);
    const deleted = await h.request({ method: 'DELETE', url: `/v1/tokens/${token.id}`, as: user });
    expect(deleted.statusCode).toBe(204);
    const next = await h.request({ method: 'GET', url: '/v1/keys', bearer: token.token });
    expect(next.statusCode).toBe(401);
    expect(next.json().error.code).toBe('unauthorized');
    expect((await tokenRows()).some((r) => r.id === token.id)).toBe(false);
    const listed = await h.request({ method: 'GET', url: '/v1/tokens', as: user });
    expect(listed.json().data.map((t: { id: string }) => t.id)).not.toContain(token.id);
    // Revoking again, or an id that never existed: 404.
    expect(
      (await h.request({ method: 'DELETE', url: `/v1/tokens/${token.id}`, as: user })).statusCode,
    ).toBe(404);
  });

  it('unknown, altered and malformed tokens are 401', async () => {
    const token = await create(user, ['keys:read']);
    const last = token.token.at(-1) === '0' ? '1' : '0';
    for (const bad of [
      `${token.token.slice(0, -1)}${last}`,
      `kwm_${'0'.repeat(40)}`,
      token.token.replace('kwm_', 'kws_'),
      token.token.toUpperCase(),
      'kwm_',
      'not-a-token',
    ]) {
      const response = await h.request({ method: 'GET', url: '/v1/keys', bearer: bad });
      expect(response.statusCode, bad).toBe(401);
      expect(response.json().error.code, bad).toBe('unauthorized');
    }
  });

  it('expires_in: valid 1 ms before, refused at the expiry; bad durations are 400', async () => {
    const start = h.clock.now();
    const token = await create(user, ['keys:read'], { expires_in: '1h' });
    const listed = await h.request({ method: 'GET', url: '/v1/tokens', as: user });
    const entry = listed.json().data.find((t: { id: string }) => t.id === token.id);
    expect(entry.expires_at).toBe(new Date(start + 3_600_000).toISOString());
    h.clock.set(start + 3_600_000 - 1);
    expect(
      (await h.request({ method: 'GET', url: '/v1/keys', bearer: token.token })).statusCode,
    ).toBe(200);
    h.clock.set(start + 3_600_000);
    const expired = await h.request({ method: 'GET', url: '/v1/keys', bearer: token.token });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.message).toMatch(/expired/);
    // Like a key's expiration: 6m is six months, never is no expiry; minutes are ambiguous.
    const createdAt = h.clock.now();
    const sixMonths = await create(user, ['keys:read'], { expires_in: '6m' });
    const never = await create(user, ['keys:read'], { expires_in: 'never' });
    const all = (await h.request({ method: 'GET', url: '/v1/tokens', as: user })).json().data;
    const expiryOf = (id: string) => all.find((t: { id: string }) => t.id === id).expires_at;
    const inSixMonths = new Date(createdAt);
    inSixMonths.setUTCMonth(inSixMonths.getUTCMonth() + 6);
    expect(expiryOf(sixMonths.id)).toBe(inSixMonths.toISOString());
    expect(expiryOf(never.id)).toBeNull();
    for (const expires_in of ['soon', '0', '-1h', '', '15m', '6mo']) {
      const response = await h.request({
        method: 'POST',
        url: '/v1/tokens',
        as: user,
        body: { name: 'bad', scopes: ['keys:read'], expires_in },
      });
      expect(response.statusCode, expires_in).toBe(400);
    }
  });

  it('only an admin may grant service scopes; any service scope makes a kws_ token', async () => {
    const before = await tokenRows();
    for (const scope of ['keys:verify', 'keys:manage', 'users:manage']) {
      const response = await h.request({
        method: 'POST',
        url: '/v1/tokens',
        as: user,
        body: { name: 'escalate', scopes: ['keys:read', scope] },
      });
      expect(response.statusCode, scope).toBe(403);
      expect(response.body).not.toMatch(/kw[ms]_[0-9a-f]{40}/);
    }
    for (const body of [
      { name: 'no scopes', scopes: [] },
      { name: 'made up', scopes: ['keys:delete'] },
      { name: '   ', scopes: ['keys:read'] },
    ]) {
      const response = await h.request({ method: 'POST', url: '/v1/tokens', as: user, body });
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
    }
    expect(await tokenRows()).toEqual(before);
    const service = await create(admin, ['keys:read', 'keys:verify']);
    expect(service.token).toMatch(/^kws_[0-9a-f]{40}$/);
    expect(service.kind).toBe('service');
    const plain = await create(admin, ['keys:read']);
    expect(plain.token).toMatch(/^kwm_/);
  });

  it('keys:manage acts on any owner; users:manage reaches the admin routes; kwm_ does not', async () => {
    const manage = await create(admin, ['keys:manage']);
    const got = await h.request({ method: 'GET', url: `/v1/keys/${keyId}`, bearer: manage.token });
    expect(got.statusCode).toBe(200);
    expect(got.json().owner_id).toBe(user.id);
    const made = await h.request({
      method: 'POST',
      url: '/v1/keys',
      bearer: manage.token,
      body: { name: 'for a customer', owner_id: user.id },
    });
    expect(made.statusCode).toBe(201);
    expect(made.json().owner_id).toBe(user.id);

    const users = await create(admin, ['users:manage']);
    expect(
      (await h.request({ method: 'GET', url: '/v1/admin/users', bearer: users.token })).statusCode,
    ).toBe(200);
    expect(
      (await h.request({ method: 'GET', url: '/v1/admin/users', bearer: manage.token })).statusCode,
    ).toBe(403);
    const userToken = await create(user, ['keys:read', 'keys:write', 'usage:read']);
    expect(
      (await h.request({ method: 'GET', url: '/v1/admin/users', bearer: userToken.token }))
        .statusCode,
    ).toBe(403);
    // An admin's management token carries its scopes only: no other owner's keys without keys:manage.
    const adminToken = await create(admin, ['keys:read', 'keys:write']);
    expect(adminToken.token).toMatch(/^kwm_/);
    for (const [method, url] of [
      ['GET', `/v1/keys/${keyId}`],
      ['POST', `/v1/keys/${keyId}/revoke`],
    ] as const) {
      expect((await h.request({ method, url, bearer: adminToken.token })).statusCode).toBe(404);
    }
    const listed = await h.request({ method: 'GET', url: '/v1/keys', bearer: adminToken.token });
    expect(listed.json().data.map((k: { owner_id: string }) => k.owner_id)).not.toContain(user.id);
    // A customer's token never reaches another customer's keys.
    const otherKey = await createKey(h, admin, { name: "admin's own" });
    expect(
      (await h.request({ method: 'GET', url: `/v1/keys/${otherKey.id}`, bearer: userToken.token }))
        .statusCode,
    ).toBe(404);
  });

  describe('POST /v1/verify', () => {
    let verifier: CreatedToken;
    const verify = (token: string, body: Record<string, unknown>) =>
      h.request({ method: 'POST', url: '/v1/verify', bearer: token, body });

    beforeAll(async () => {
      verifier = await create(admin, ['keys:verify']);
    });

    it('answers 200 with valid/code for a good, revoked, disabled, expired, unknown and malformed key', async () => {
      const good = await createKey(h, user, { name: 'good', metadata: { plan: 'gold' } });
      const revoked = await createKey(h, user, { name: 'revoked' });
      await h.request({ method: 'POST', url: `/v1/keys/${revoked.id}/revoke`, as: user });
      const disabled = await createKey(h, user, { name: 'disabled' });
      await h.request({
        method: 'PATCH',
        url: `/v1/keys/${disabled.id}`,
        as: user,
        body: { enabled: false },
      });
      const expires = new Date(h.clock.now() + 60_000).toISOString();
      const expiring = await createKey(h, user, { name: 'expiring', expires_at: expires });

      const ok = await verify(verifier.token, { key: good.key });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({
        valid: true,
        code: 'VALID',
        key_id: good.id,
        owner_id: user.id,
        name: 'good',
        metadata: { plan: 'gold' },
      });
      expect(ok.json().verification_id).toEqual(expect.any(String));
      expect(ok.body).not.toContain(good.key);

      const cases: Array<[string, string, string | null]> = [
        [revoked.key, 'REVOKED', revoked.id],
        [disabled.key, 'DISABLED', disabled.id],
        [`sk_live_${'0'.repeat(40)}`, 'NOT_FOUND', null],
        [`${good.key.slice(0, -1)}${good.key.endsWith('0') ? '1' : '0'}`, 'NOT_FOUND', null],
        ['sk_live_short', 'NOT_FOUND', null],
        ['', 'NOT_FOUND', null],
      ];
      for (const [key, code, id] of cases) {
        const response = await verify(verifier.token, { key });
        expect(response.statusCode, code).toBe(200);
        expect(response.json(), key).toMatchObject({ valid: false, code, key_id: id });
        expect(response.json().permissions).toEqual([]);
        expect(response.json().metadata).toEqual({});
      }
      expect((await verify(verifier.token, { key: expiring.key })).json().code).toBe('VALID');
      h.clock.set(Date.parse(expires));
      expect((await verify(verifier.token, { key: expiring.key })).json()).toMatchObject({
        valid: false,
        code: 'EXPIRED',
      });
    });

    it('needs a token with keys:verify: sessions of users, kwm_ and other kws_ tokens are refused', async () => {
      const good = await createKey(h, user, { name: 'good 2' });
      const userToken = await create(user, ['keys:read', 'keys:write', 'usage:read']);
      const manage = await create(admin, ['keys:manage', 'users:manage']);
      for (const token of [userToken.token, manage.token]) {
        const response = await verify(token, { key: good.key });
        expect(response.statusCode).toBe(403);
        expect(response.json().error.code).toBe('forbidden');
        expect(response.body).not.toContain('"valid"');
      }
      const bySession = await h.request({
        method: 'POST',
        url: '/v1/verify',
        as: user,
        body: { key: good.key },
      });
      expect(bySession.statusCode).toBe(403);
      const anonymous = await h.request({
        method: 'POST',
        url: '/v1/verify',
        body: { key: good.key },
      });
      expect(anonymous.statusCode).toBe(401);
      // The key itself cannot vouch for itself.
      expect((await verify(good.key, { key: good.key })).statusCode).toBe(403);
    });

    it('a revoked service token is refused on the next call', async () => {
      const good = await createKey(h, user, { name: 'good 3' });
      const temporary = await create(admin, ['keys:verify']);
      expect((await verify(temporary.token, { key: good.key })).json().valid).toBe(true);
      await h.request({ method: 'DELETE', url: `/v1/tokens/${temporary.id}`, as: admin });
      const response = await verify(temporary.token, { key: good.key });
      expect(response.statusCode).toBe(401);
      expect((await verify(verifier.token, { key: good.key })).json().valid).toBe(true);
    });
  });

  it("disabling the owner refuses the account's tokens at once (403 account_disabled)", async () => {
    const owner = await h.signup();
    const token = await create(owner, ['keys:read']);
    expect(
      (await h.request({ method: 'GET', url: '/v1/keys', bearer: token.token })).statusCode,
    ).toBe(200);
    const disabled = await h.request({
      method: 'PATCH',
      url: `/v1/admin/users/${owner.id}`,
      as: admin,
      body: { disabled: true },
    });
    expect(disabled.statusCode).toBe(200);
    const refused = await h.request({ method: 'GET', url: '/v1/keys', bearer: token.token });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('account_disabled');
    await h.request({
      method: 'PATCH',
      url: `/v1/admin/users/${owner.id}`,
      as: admin,
      body: { disabled: false },
    });
    expect(
      (await h.request({ method: 'GET', url: '/v1/keys', bearer: token.token })).statusCode,
    ).toBe(200);
  });
});
