import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  promoteToAdmin,
  verifierToken,
} from '../helpers/harness.ts';

/** A throwaway ECDSA P-256 pair standing in for GitHub's signing key. */
function keyPair(): { privateKey: KeyObject; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

describe.each(DATABASES)('POST /v1/leaks on $name', (kind) => {
  let h: Harness;
  let owner: Account;
  let admin: Account;
  let verifier: string;
  const github = keyPair();
  const stranger = keyPair();
  const KEY_ID = 'a1b2c3d4e5f6';

  beforeAll(async () => {
    const keys = {
      public_keys: [
        { key_identifier: 'old-key', key: keyPair().publicPem, is_current: false },
        { key_identifier: KEY_ID, key: github.publicPem, is_current: true },
      ],
    };
    h = await createHarness(kind, { GITHUB_SECRET_SCANNING_KEYS: JSON.stringify(keys) });
    owner = await h.signup();
    admin = await h.signup();
    await promoteToAdmin(h, admin);
    verifier = await verifierToken(h);
  });
  afterAll(async () => {
    await h.close();
  });

  const signed = (
    payload: string,
    options: { keyId?: string; by?: KeyObject; signs?: string } = {},
  ) =>
    h.request({
      method: 'POST',
      url: '/v1/leaks',
      body: payload,
      headers: {
        'content-type': 'application/json',
        'github-public-key-identifier': options.keyId ?? KEY_ID,
        'github-public-key-signature': sign(
          'sha256',
          Buffer.from(options.signs ?? payload),
          options.by ?? github.privateKey,
        ).toString('base64'),
      },
    });
  const verify = (key: string) =>
    h.request({ method: 'POST', url: '/v1/verify', bearer: verifier, body: { key } });

  it('revokes a live key reported by GitHub, raises key.leaked with the audit entry, and labels every token', async () => {
    const live = await createKey(h, owner, { name: 'leaky' });
    const revoked = await createKey(h, owner, { name: 'already revoked' });
    await h.request({ method: 'POST', url: `/v1/keys/${revoked.id}/revoke`, as: owner });
    expect((await verify(live.key)).json().valid).toBe(true);
    const unknown = `sk_live_${'0'.repeat(40)}`;
    const url = 'https://github.com/octocat/hello/blob/abc/config.js';
    const payload = JSON.stringify([
      { token: live.key, type: 'keyward_api_key', url, source: 'content' },
      { token: revoked.key, type: 'keyward_api_key', url, source: 'content' },
      { token: unknown, type: 'keyward_api_key', url, source: 'commit' },
      { token: 'not-a-key', type: 'keyward_api_key', url, source: 'content' },
      { token: live.key, type: 'keyward_api_key', url: `${url}#L2`, source: 'content' },
    ]);
    const response = await signed(payload);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual([
      { token_raw: live.key, token_type: 'keyward_api_key', label: 'true_positive' },
      { token_raw: revoked.key, token_type: 'keyward_api_key', label: 'true_positive' },
      { token_raw: unknown, token_type: 'keyward_api_key', label: 'false_positive' },
      { token_raw: 'not-a-key', token_type: 'keyward_api_key', label: 'false_positive' },
      { token_raw: live.key, token_type: 'keyward_api_key', label: 'true_positive' },
    ]);
    // The cached key stops verifying at once.
    expect((await verify(live.key)).json().code).toBe('REVOKED');

    const events = await h.services.store.db
      .selectFrom('events')
      .select(['type', 'key_id', 'payload', 'mail_done_at'])
      .where('type', 'in', ['key.leaked', 'key.revoked'])
      .orderBy('seq')
      .execute();
    expect(events.map((e) => [e.type, e.key_id])).toEqual([
      ['key.revoked', revoked.id],
      ['key.revoked', live.id],
      ['key.leaked', live.id],
    ]);
    const leaked = JSON.parse(events[2]?.payload ?? '{}');
    expect(leaked.data.leak).toEqual({ url, source: 'content', type: 'keyward_api_key' });
    expect(leaked.data.key.status).toBe('revoked');
    expect(events[2]?.payload).not.toContain(live.key);
    // Waiting for the mailer.
    expect(events[2]?.mail_done_at).toBeNull();

    const audit = await h.services.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('target_id', '=', live.id)
      .where('action', '=', 'key.revoked')
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]?.actor_type).toBe('system');
    expect(audit[0]?.actor_id).toBe('github');
    expect(JSON.parse(audit[0]?.details ?? '{}')).toMatchObject({
      reason: 'leaked',
      reporter: 'github',
      url,
      source: 'content',
    });
  });

  it('refuses an unknown key id, a signature by another key, and a tampered body (401)', async () => {
    const live = await createKey(h, owner, { name: 'safe' });
    const payload = JSON.stringify([{ token: live.key, type: 'keyward_api_key', url: 'u' }]);
    const refusals = [
      await signed(payload, { keyId: 'no-such-key' }),
      await signed(payload, { by: stranger.privateKey }),
      await signed(payload.replace('"u"', '"v"'), { signs: payload }),
      await h.request({
        method: 'POST',
        url: '/v1/leaks',
        body: payload,
        headers: {
          'content-type': 'application/json',
          'github-public-key-identifier': KEY_ID,
          'github-public-key-signature': 'not base64 at all!',
        },
      }),
    ];
    for (const r of refusals) {
      expect(r.statusCode).toBe(401);
      expect(r.json().error.code).toBe('unauthorized');
    }
    expect((await verify(live.key)).json().valid).toBe(true);
  });

  it('accepts a service token with leaks:report and refuses one without it', async () => {
    const created = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: admin,
      body: { name: 'scanner', scopes: ['leaks:report'] },
    });
    expect(created.statusCode).toBe(201);
    const reporter = created.json().token as string;
    const live = await createKey(h, owner, { name: 'token reported' });
    const body = [{ token: live.key, type: 'keyward_api_key', url: 'https://example.com/paste' }];
    const denied = await h.request({ method: 'POST', url: '/v1/leaks', bearer: verifier, body });
    expect(denied.statusCode).toBe(403);
    expect((await verify(live.key)).json().valid).toBe(true);
    const ok = await h.request({ method: 'POST', url: '/v1/leaks', bearer: reporter, body });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()[0].label).toBe('true_positive');
    expect((await verify(live.key)).json().code).toBe('REVOKED');
    const audit = await h.services.store.db
      .selectFrom('audit_log')
      .select(['actor_type', 'actor_id'])
      .where('target_id', '=', live.id)
      .where('action', '=', 'key.revoked')
      .executeTakeFirstOrThrow();
    expect(audit).toEqual({ actor_type: 'token', actor_id: created.json().id });
    const anonymous = await h.request({ method: 'POST', url: '/v1/leaks', body });
    expect(anonymous.statusCode).toBe(401);
  });

  it('answers 400 for a body that is not a list of reports, or too long', async () => {
    const bad = [
      '{"token":"x"}',
      '[]',
      '[{"type":"keyward_api_key"}]',
      '[{"token": 5, "type": "t"}]',
      '[not json',
      JSON.stringify(Array.from({ length: 1001 }, () => ({ token: 'x', type: 't' }))),
    ];
    for (const payload of bad) {
      const r = await signed(payload);
      expect(r.statusCode, payload.slice(0, 40)).toBe(400);
      expect(r.json().error.code).toBe('validation_error');
    }
  });
});
