// A record read from the database just before a change commits must not be cached after that
// change's invalidation: the cache would then serve the old record (a deleted or revoked key as
// VALID) until the next invalidation, forever where the bus sees every change. Found by the crash
// harness (R3) on PostgreSQL under load: a key deleted and acknowledged answered VALID.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/secrets.ts';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, createKey, type Harness } from '../helpers/harness.ts';

describe.each(DATABASES)('cache fill racing an invalidation on $name', (kind) => {
  let h: Harness;
  let owner: Account;
  beforeAll(async () => {
    h = await createHarness(kind);
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  it('a key looked up while it is invalidated is not cached: the next check reads the database', async () => {
    const { id, key } = await createKey(h, owner);
    // The lookup of a cache miss is on its way to the database...
    const first = h.services.verify.verify({ key, ip: '127.0.0.1' });
    // ...when a change to the key is announced (here: by hand, for a deterministic order).
    h.services.bus.publish({ kind: 'key', hash: sha256Hex(key) });
    expect((await first).code).toBe('VALID');
    // The change itself: the row is gone (written without another announcement).
    await h.services.store.db.deleteFrom('api_keys').where('id', '=', id).execute();
    const second = await h.services.verify.verify({ key, ip: '127.0.0.1' });
    expect(second.code).toBe('NOT_FOUND');
  });

  it('the same for a management token', async () => {
    const created = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: owner,
      body: { name: 'racing', scopes: ['keys:read'] },
    });
    const { id, token } = created.json() as { id: string; token: string };
    const first = h.services.tokens.authenticate(token);
    h.services.bus.publish({ kind: 'token', hash: sha256Hex(token) });
    expect((await first).ok).toBe(true);
    await h.services.store.db.deleteFrom('tokens').where('id', '=', id).execute();
    expect((await h.services.tokens.authenticate(token)).ok).toBe(false);
  });
});
