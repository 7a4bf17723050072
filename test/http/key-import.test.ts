import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  type Harness,
  promoteToAdmin,
  SECRETS_SEEN,
  uniqueEmail,
} from '../helpers/harness.ts';

const ONE_API_SHAPE = '^sk-[A-Za-z0-9]{48}$';
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function oneApiKey(): string {
  const bytes = randomBytes(48);
  let out = 'sk-';
  for (const byte of bytes) out += ALPHANUMERIC[byte % ALPHANUMERIC.length];
  SECRETS_SEEN.add(out);
  return out;
}

function nativeKey(environment = 'live'): string {
  const key = `sk_${environment}_${randomBytes(20).toString('hex')}`;
  SECRETS_SEEN.add(key);
  return key;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describe.each(DATABASES)('key import on $name', (kind) => {
  let h: Harness;
  let admin: Account;
  let owner: Account;
  let manager: string;

  beforeAll(async () => {
    h = await createHarness(kind, {
      ACCEPTED_KEY_SHAPES: ONE_API_SHAPE,
      ENVIRONMENTS: 'live,test,staging',
    });
    admin = await h.signup();
    await promoteToAdmin(h, admin);
    owner = await h.signup();
    const token = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: admin,
      body: { name: 'importer', scopes: ['keys:manage'] },
    });
    manager = token.json().token;
  });
  afterAll(async () => {
    await h.close();
  });

  const importKeys = (keys: unknown[], bearer = manager) =>
    h.request({ method: 'POST', url: '/v1/keys/import', bearer, body: { keys } });
  const holder = (key: string) => h.request({ method: 'GET', url: '/v1/key', bearer: key });

  it('imports plaintext and hashed keys, which then verify unchanged; the plaintext is not stored', async () => {
    const plain = oneApiKey();
    const native = nativeKey('staging');
    const hashedSecret = nativeKey('live');
    const response = await importKeys([
      {
        key: plain,
        owner_id: owner.id,
        name: 'From one-api',
        credits: { remaining: 500 },
        allowed_resources: ['gpt-4'],
        created_at: '2025-01-02T03:04:05.000Z',
        last_used_at: '2026-05-01T00:00:00.000Z',
        metadata: { source: 'one-api' },
      },
      { key: native, owner_id: owner.id },
      {
        hash: `sha256:${sha256(hashedSecret)}`,
        start: hashedSecret.slice(0, 12),
        last4: hashedSecret.slice(-4),
        owner_id: owner.id,
        name: 'Hashed',
        expires_at: '2030-01-01T00:00:00.000Z',
        permissions: ['key:read'],
      },
    ]);
    expect(response.statusCode).toBe(200);
    const result = response.json();
    expect(result).toMatchObject({ object: 'import_result', imported: 3, skipped: 0 });
    expect(result.keys.map((k: { status: string }) => k.status)).toEqual([
      'imported',
      'imported',
      'imported',
    ]);
    expect(response.body).not.toContain(plain);

    const [first, second, third] = result.keys as { id: string }[];
    const one = await h.request({ method: 'GET', url: `/v1/keys/${first?.id}`, as: owner });
    expect(one.json()).toMatchObject({
      name: 'From one-api',
      environment: 'live',
      start: plain.slice(0, 7),
      last4: plain.slice(-4),
      credits: { remaining: 500 },
      allowed_resources: ['gpt-4'],
      created_at: '2025-01-02T03:04:05.000Z',
      last_used_at: '2026-05-01T00:00:00.000Z',
      status: 'active',
    });
    const two = await h.request({ method: 'GET', url: `/v1/keys/${second?.id}`, as: owner });
    expect(two.json()).toMatchObject({
      name: 'Imported key',
      environment: 'staging',
      start: native.slice(0, 15),
    });
    const three = await h.request({ method: 'GET', url: `/v1/keys/${third?.id}`, as: owner });
    expect(three.json()).toMatchObject({
      name: 'Hashed',
      masked: `${hashedSecret.slice(0, 12)}…${hashedSecret.slice(-4)}`,
      expires_at: '2030-01-01T00:00:00.000Z',
      permissions: ['key:read'],
    });

    for (const key of [plain, native, hashedSecret])
      expect((await holder(key)).statusCode).toBe(200);

    const rows = await h.services.store.db.selectFrom('api_keys').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(plain);
    expect(rows.find((row) => row.id === first?.id)?.hash).toBe(sha256(plain));
    const audit = await h.services.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'key.imported')
      .execute();
    expect(audit.map((a) => a.target_id)).toEqual(
      expect.arrayContaining([first?.id, second?.id, third?.id]),
    );
    expect(h.logs.join('\n')).not.toContain(plain);
  });

  it('is all or nothing: one refused item lists every refusal and imports nothing', async () => {
    const good = oneApiKey();
    const response = await importKeys([
      { key: good, owner_id: owner.id },
      { key: 'pk_live_notakeyofanyacceptedshape', owner_id: owner.id },
      { hash: `sha256:${sha256('x')}`, owner_id: owner.id },
      { key: oneApiKey(), owner_id: 'usr_doesnotexist' },
      { key: oneApiKey(), owner_id: owner.id, environment: 'prod' },
      { key: oneApiKey(), owner_id: owner.id, surprise: true },
      { key: good, owner_id: owner.id },
      { key: oneApiKey(), owner_id: owner.id, ip_allowlist: ['not-an-ip'] },
    ]);
    expect(response.statusCode).toBe(400);
    const error = response.json().error;
    expect(error.code).toBe('import_refused');
    expect(error.message).toMatch(/nothing was imported/);
    // The schema refusal (unknown field) is reported first, on its own.
    expect(error.items).toEqual([
      { index: 5, code: 'validation_error', message: 'unknown field "surprise"' },
    ]);

    const again = await importKeys([
      { key: good, owner_id: owner.id },
      { key: 'pk_live_notakeyofanyacceptedshape', owner_id: owner.id },
      { hash: `sha256:${sha256('x')}`, owner_id: owner.id },
      { key: oneApiKey(), owner_id: owner.id, environment: 'prod' },
      { key: good, owner_id: owner.id },
      { key: oneApiKey(), owner_id: owner.id, ip_allowlist: ['not-an-ip'] },
    ]);
    expect(again.statusCode).toBe(400);
    const items = again.json().error.items as { index: number; message: string }[];
    expect(items.map((i) => i.index)).toEqual([1, 2, 3, 4, 5]);
    expect(items[0]?.message).toMatch(/ACCEPTED_KEY_SHAPES/);
    expect(items[1]?.message).toMatch(/needs start and last4/);
    expect(items[2]?.message).toMatch(/environment must be one of live, test, staging/);
    expect(items[3]?.message).toBe('the same key as item 0');
    expect(items[4]?.message).toMatch(/ip_allowlist/);
    expect(again.body).not.toContain(good);

    const unknownOwner = await importKeys([
      { key: good, owner_id: owner.id },
      { key: oneApiKey(), owner_id: 'usr_doesnotexist' },
    ]);
    expect(unknownOwner.statusCode).toBe(400);
    expect(unknownOwner.json().error.items).toEqual([
      { index: 1, code: 'not_found', message: 'owner not found' },
    ]);
    expect((await holder(good)).statusCode).toBe(401);
  });

  it('skips keys already present, so a repeated call changes nothing', async () => {
    const keys = [oneApiKey(), oneApiKey()];
    const first = await importKeys(keys.map((key) => ({ key, owner_id: owner.id })));
    expect(first.json()).toMatchObject({ imported: 2, skipped: 0 });
    const more = oneApiKey();
    const second = await importKeys(
      [...keys, more].map((key) => ({ key, owner_id: owner.id, name: 'renamed' })),
    );
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ imported: 1, skipped: 2 });
    expect(second.json().keys[0].id).toBe(first.json().keys[0].id);
    const kept = await h.request({
      method: 'GET',
      url: `/v1/keys/${first.json().keys[0].id}`,
      as: owner,
    });
    expect(kept.json().name).toBe('Imported key');
    // By hash too: the same key given as its hash is the same key.
    const byHash = await importKeys([
      {
        hash: `sha256:${sha256(more).toUpperCase()}`,
        start: 'sk-abcd',
        last4: 'wxyz',
        owner_id: owner.id,
      },
    ]);
    expect(byHash.json()).toMatchObject({ imported: 0, skipped: 1 });
  });

  it('matches or creates owners by email; a created owner cannot sign in', async () => {
    const email = uniqueEmail('imported');
    const keys = [oneApiKey(), oneApiKey()];
    const response = await importKeys([
      { key: keys[0], owner_email: email.toUpperCase() },
      { key: keys[1], owner_email: owner.email },
    ]);
    expect(response.statusCode).toBe(200);
    expect(response.json().owners_created).toBe(1);
    const created = await h.services.accounts.findByEmail(email);
    expect(created).toBeDefined();
    const listed = await h.request({
      method: 'GET',
      url: `/v1/keys?owner_id=${created?.id}`,
      bearer: manager,
    });
    expect(listed.json().data).toHaveLength(1);
    const login = await h.request({
      method: 'POST',
      url: '/v1/auth/login',
      body: { email, password: 'any password at all' },
    });
    expect(login.statusCode).toBe(401);
    expect((await holder(keys[0] as string)).statusCode).toBe(200);
  });

  it('refuses 1,001 items, callers without keys:manage, and bad envelopes', async () => {
    const many = Array.from({ length: 1001 }, () => ({
      hash: `sha256:${randomBytes(32).toString('hex')}`,
      start: 'sk_live_0000',
      last4: '0000',
      owner_id: owner.id,
    }));
    const tooMany = await importKeys(many);
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error.code).toBe('validation_error');
    expect(tooMany.json().error.message).toMatch(/1000/);
    const thousand = await importKeys(many.slice(0, 1000));
    expect(thousand.statusCode).toBe(200);
    expect(thousand.json().imported).toBe(1000);

    const asUser = await h.request({
      method: 'POST',
      url: '/v1/keys/import',
      as: owner,
      body: { keys: [{ key: oneApiKey(), owner_id: owner.id }] },
    });
    expect(asUser.statusCode).toBe(403);
    const asAdmin = await h.request({
      method: 'POST',
      url: '/v1/keys/import',
      as: admin,
      body: { keys: [{ key: oneApiKey(), owner_id: owner.id }] },
    });
    expect(asAdmin.statusCode).toBe(200);
    const anonymous = await h.request({
      method: 'POST',
      url: '/v1/keys/import',
      body: { keys: [{ key: oneApiKey(), owner_id: owner.id }] },
    });
    expect(anonymous.statusCode).toBe(401);
    expect((await importKeys([])).statusCode).toBe(400);
    const notArray = await h.request({
      method: 'POST',
      url: '/v1/keys/import',
      bearer: manager,
      body: { keys: 'sk-' },
    });
    expect(notArray.statusCode).toBe(400);
  });

  it('refuses other shapes before any lookup; accepted shapes are looked up', async () => {
    const verify = h.services.verify;
    // Synchronous answers: no lookup was started.
    for (const key of [
      'sk-short',
      'pk_live_123',
      `sk-${'a'.repeat(300)}`,
      `sk_prod_${'a'.repeat(40)}`,
    ]) {
      const result = verify.verify({ key, ip: null });
      expect(result).not.toBeInstanceOf(Promise);
      expect((result as { code: string }).code).toBe('NOT_FOUND');
    }
    const unknown = verify.verify({ key: oneApiKey(), ip: null });
    expect(unknown).toBeInstanceOf(Promise);
    expect((await unknown).code).toBe('NOT_FOUND');
    const staging = verify.verify({ key: nativeKey('staging'), ip: null });
    expect(staging).toBeInstanceOf(Promise);
  });

  it('masks an imported key of another shape pasted into a URL, in the answer and the logs', async () => {
    const key = oneApiKey();
    const response = await h.request({ method: 'GET', url: `/v1/keys/x/${key}`, bearer: manager });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.message).toBe(`no route for GET /v1/keys/x/${key.slice(0, 7)}…`);
    expect(h.logs.join('\n')).not.toContain(key.slice(7));
  });
});
