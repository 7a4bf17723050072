import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, createKey, type Harness } from '../helpers/harness.ts';

describe.each(DATABASES)('ENVIRONMENTS on $name', (kind) => {
  let h: Harness;
  let owner: Account;

  beforeAll(async () => {
    h = await createHarness(kind, { ENVIRONMENTS: 'dev,staging,prod' });
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  it('creates keys in the configured environments, the first by default, and refuses others', async () => {
    const me = await h.request({ method: 'GET', url: '/v1/auth/me', as: owner });
    expect(me.json().environments).toEqual(['dev', 'staging', 'prod']);

    const byDefault = await createKey(h, owner, { name: 'default' });
    expect(byDefault.key).toMatch(/^sk_dev_[0-9a-f]{40}$/);
    expect(byDefault.json.environment).toBe('dev');
    expect(byDefault.json.start).toBe(byDefault.key.slice(0, 11));
    const staging = await createKey(h, owner, { name: 'staging', environment: 'staging' });
    expect(staging.key).toMatch(/^sk_staging_[0-9a-f]{40}$/);
    for (const key of [byDefault.key, staging.key])
      expect((await h.request({ method: 'GET', url: '/v1/key', bearer: key })).statusCode).toBe(
        200,
      );

    for (const environment of ['live', 'test']) {
      const refused = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: owner,
        body: { name: 'x', environment },
      });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error.message).toBe('environment must be one of dev, staging, prod');
    }
    const malformed = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: owner,
      body: { name: 'x', environment: 'Prod!' },
    });
    expect(malformed.json().error.code).toBe('validation_error');
    // A key of an environment that is not configured is refused before any lookup.
    expect(
      (await h.request({ method: 'GET', url: '/v1/key', bearer: `sk_live_${'a'.repeat(40)}` }))
        .statusCode,
    ).toBe(401);
  });

  it('filters the list by environment and rotates within the environment', async () => {
    const prod = await createKey(h, owner, { name: 'prod key', environment: 'prod' });
    const list = await h.request({ method: 'GET', url: '/v1/keys?environment=prod', as: owner });
    expect(list.json().data.map((k: { id: string }) => k.id)).toEqual([prod.id]);
    const none = await h.request({ method: 'GET', url: '/v1/keys?environment=live', as: owner });
    expect(none.json().data).toEqual([]);
    const rotated = await h.request({
      method: 'POST',
      url: `/v1/keys/${prod.id}/rotate`,
      as: owner,
      body: {},
    });
    expect(rotated.json().key).toMatch(/^sk_prod_/);
  });

  it('refuses to rotate a key whose environment was removed from ENVIRONMENTS', async () => {
    const old = await h.services.keyImport.importKeys(
      { type: 'cli', id: null, user: null, scopes: [], ip: null },
      [
        {
          hash: `sha256:${'0'.repeat(64)}`,
          start: 'sk_live_0000',
          last4: '0000',
          owner_id: owner.id,
          environment: 'dev',
        },
      ],
    );
    const id = old.keys[0]?.id as string;
    await h.services.store.db
      .updateTable('api_keys')
      .set({ environment: 'live' })
      .where('id', '=', id)
      .execute();
    const rotated = await h.request({ method: 'POST', url: `/v1/keys/${id}/rotate`, as: owner });
    expect(rotated.statusCode).toBe(409);
    expect(rotated.json().error.message).toMatch(/"live" is no longer one of ENVIRONMENTS/);
  });
});
