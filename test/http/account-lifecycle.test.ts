import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { pruneAudit } from '../../src/services/audit.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  promoteToAdmin,
} from '../helpers/harness.ts';

const DAY_MS = 86_400_000;

/**
 * Issue 15 point 8: an account exports its data (never a secret or a hash), an admin deletes an
 * account (its keys stop verifying at once, its audit entries stay), and the audit log is pruned
 * by AUDIT_LOG_RETENTION.
 */
describe.each(DATABASES)('account export and deletion on $name', (kind) => {
  let h: Harness;
  let admin: Account;
  let alice: Account;
  let aliceKey: { id: string; key: string };
  let aliceToken: string;

  beforeAll(async () => {
    h = await createHarness(kind);
    admin = await h.signup();
    await promoteToAdmin(h, admin);
    alice = await h.signup();
    aliceKey = await createKey(h, alice, { name: 'alice production' });
    await createKey(h, alice, { name: 'alice staging', environment: 'test' });
    const token = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: alice,
      body: { name: 'alice ci', scopes: ['keys:read'] },
    });
    expect(token.statusCode).toBe(201);
    aliceToken = token.json().token;
    // Some usage, flushed into the daily rollups.
    for (let i = 0; i < 3; i += 1) {
      const used = await h.request({ method: 'GET', url: '/v1/key', bearer: aliceKey.key });
      expect(used.statusCode).toBe(200);
    }
    await h.services.usage.flush();
  });
  afterAll(async () => {
    await h.close();
  });

  it('GET /v1/account/export answers the account, keys, tokens, usage and audit log, without secrets or hashes', async () => {
    const response = await h.request({ method: 'GET', url: '/v1/account/export', as: alice });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-disposition']).toContain(`keyward-account-${alice.id}.json`);
    const body = response.json();
    expect(body.object).toBe('account_export');
    expect(body.account).toMatchObject({ id: alice.id, email: alice.email, role: 'user' });
    expect(body.keys.map((k: { name: string }) => k.name).sort()).toEqual([
      'alice production',
      'alice staging',
    ]);
    expect(body.tokens).toHaveLength(1);
    expect(body.tokens[0]).toMatchObject({ name: 'alice ci', scopes: ['keys:read'] });
    expect(body.usage_daily).toEqual([
      expect.objectContaining({ key_id: aliceKey.id, outcome: 'VALID', requests: 3 }),
    ]);
    const actions = body.audit_log.map((e: { action: string }) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['account.created', 'key.created', 'token.created']),
    );
    // No secret, no hash: not the key, the token, their SHA-256, nor the password or its hash.
    const text = response.body;
    const stored = await h.services.store.db
      .selectFrom('api_keys')
      .select('hash')
      .where('owner_id', '=', alice.id)
      .execute();
    const tokenRows = await h.services.store.db
      .selectFrom('tokens')
      .select('hash')
      .where('owner_id', '=', alice.id)
      .execute();
    const passwordHash = await h.services.store.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', alice.id)
      .executeTakeFirstOrThrow();
    for (const secret of [
      aliceKey.key,
      aliceToken,
      alice.password,
      passwordHash.password_hash,
      ...stored.map((r) => r.hash),
      ...tokenRows.map((r) => r.hash),
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/"hash"|password/);
  });

  it('the export is for a signed-in session only', async () => {
    expect((await h.request({ method: 'GET', url: '/v1/account/export' })).statusCode).toBe(401);
    const byToken = await h.request({
      method: 'GET',
      url: '/v1/account/export',
      bearer: aliceToken,
    });
    expect(byToken.statusCode).toBe(403);
  });

  it('DELETE /v1/admin/users/{id} is refused to non-admins, for unknown ids and for oneself', async () => {
    const bob = await h.signup();
    const byUser = await h.request({
      method: 'DELETE',
      url: `/v1/admin/users/${bob.id}`,
      as: alice,
    });
    expect(byUser.statusCode).toBe(403);
    const unknown = await h.request({
      method: 'DELETE',
      url: '/v1/admin/users/usr_doesnotexistatall2345',
      as: admin,
    });
    expect(unknown.statusCode).toBe(404);
    const self = await h.request({
      method: 'DELETE',
      url: `/v1/admin/users/${admin.id}`,
      as: admin,
    });
    expect(self.statusCode).toBe(409);
    expect(self.json().error.code).toBe('invalid_state');
  });

  it('deleting an account revokes its keys first (they stop verifying at once), removes it, and keeps the audit log', async () => {
    // The key is in this node's cache: deletion must drop it there too.
    expect(
      (await h.request({ method: 'GET', url: '/v1/key', bearer: aliceKey.key })).statusCode,
    ).toBe(200);
    const response = await h.request({
      method: 'DELETE',
      url: `/v1/admin/users/${alice.id}`,
      as: admin,
    });
    expect(response.statusCode).toBe(204);

    const refused = await h.request({ method: 'GET', url: '/v1/key', bearer: aliceKey.key });
    expect(refused.statusCode).toBe(401);
    const byToken = await h.request({ method: 'GET', url: '/v1/keys', bearer: aliceToken });
    expect(byToken.statusCode).toBe(401);
    const session = await h.request({ method: 'GET', url: '/v1/auth/me', as: alice });
    expect(session.statusCode).toBe(401);

    const db = h.services.store.db;
    for (const table of ['api_keys', 'tokens'] as const) {
      const rows = await db
        .selectFrom(table)
        .select('id')
        .where('owner_id', '=', alice.id)
        .execute();
      expect(rows, table).toEqual([]);
    }
    const sessions = await db
      .selectFrom('sessions')
      .select('user_id')
      .where('user_id', '=', alice.id)
      .execute();
    expect(sessions).toEqual([]);
    const requestLog = await db
      .selectFrom('request_log')
      .select('seq')
      .where('owner_id', '=', alice.id)
      .execute();
    expect(requestLog).toEqual([]);
    const rollups = await db
      .selectFrom('usage_daily')
      .select('requests')
      .where('owner_id', '=', alice.id)
      .execute();
    // The request just before the deletion was counted and logged: the count stays, the log entry
    // (the client address) went with the account, and no later flush writes it back.
    expect(rollups.map((r) => Number(r.requests))).toEqual([4]);
    await h.services.usage.flush();
    const afterFlush = await db
      .selectFrom('request_log')
      .select('seq')
      .where('owner_id', '=', alice.id)
      .execute();
    expect(afterFlush).toEqual([]);

    // The audit log keeps everything: the account's own entries, the revocations, the deletion.
    const audit = await h.request({ method: 'GET', url: '/v1/audit-log?limit=100', as: admin });
    expect(audit.statusCode).toBe(200);
    const entries = audit.json().data as Array<{
      action: string;
      actor_type: string;
      actor_id: string | null;
      owner_id: string | null;
      target_id: string | null;
      details: Record<string, unknown>;
    }>;
    const hers = entries.filter((e) => e.owner_id === alice.id);
    const deletion = hers.find((e) => e.action === 'account.deleted');
    expect(deletion).toMatchObject({ actor_type: 'user', actor_id: admin.id, target_id: alice.id });
    expect(deletion?.details).toMatchObject({ email: alice.email, revoked_keys: 2 });
    const revocations = hers.filter(
      (e) => e.action === 'key.revoked' && e.details.reason === 'account_deleted',
    );
    expect(revocations).toHaveLength(2);
    // What she did herself is kept, shown as the work of a deleted account.
    const created = hers.find((e) => e.action === 'key.created' && e.target_id === aliceKey.id);
    expect(created).toMatchObject({ actor_type: 'deleted_account', actor_id: alice.id });
  });
});

describe.each(DATABASES)('AUDIT_LOG_RETENTION on $name', (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(kind, { AUDIT_LOG_RETENTION: '30d' });
  });
  afterAll(async () => {
    await h.close();
  });

  it('the pruning job deletes audit entries older than the retention, oldest first', async () => {
    expect(h.config.auditLogRetentionMs).toBe(30 * DAY_MS);
    const old = await h.signup();
    await createKey(h, old, { name: 'old' });
    h.clock.advance(20 * DAY_MS);
    const recent = await h.signup();
    h.clock.advance(15 * DAY_MS);
    const db = h.services.store.db;
    const before = await db.selectFrom('audit_log').select(['owner_id']).execute();
    const deleted = await pruneAudit(db, h.clock.now(), h.config.auditLogRetentionMs);
    const after = await db.selectFrom('audit_log').select(['owner_id']).execute();
    // The first account's entries (35 days old) go, the second's (15 days old) stay.
    expect(deleted).toBe(before.filter((e) => e.owner_id === old.id).length);
    expect(deleted).toBeGreaterThanOrEqual(2);
    expect(after.every((e) => e.owner_id === recent.id)).toBe(true);
    expect(after.length).toBeGreaterThan(0);
    // Nothing more to delete: a second run changes nothing.
    expect(await pruneAudit(db, h.clock.now(), h.config.auditLogRetentionMs)).toBe(0);
  });

  it('keeps every entry by default (forever), and refuses a retention under a day', () => {
    expect(loadConfig({}).auditLogRetentionMs).toBeNull();
    expect(loadConfig({ AUDIT_LOG_RETENTION: '365d' }).auditLogRetentionMs).toBe(365 * DAY_MS);
    expect(() => loadConfig({ AUDIT_LOG_RETENTION: '12h' })).toThrow(/AUDIT_LOG_RETENTION/);
    expect(() => loadConfig({ AUDIT_LOG_RETENTION: 'a year' })).toThrow(/AUDIT_LOG_RETENTION/);
  });
});
