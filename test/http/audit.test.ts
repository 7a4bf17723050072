import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  type Harness,
  promoteToAdmin,
  SECRETS_SEEN,
  sessionCookie,
  uniqueEmail,
} from '../helpers/harness.ts';

interface Entry {
  id: number;
  created_at: string;
  actor_type: string;
  actor_id: string | null;
  owner_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

/** What each audited change must record: who, from where, when, to what. */
interface Expected {
  action: string;
  actor_type: string;
  actor_id: string | null;
  owner_id: string | null;
  target_id: string | null;
  ip: string;
  created_at: string;
}

const pick = (e: Entry): Expected => ({
  action: e.action,
  actor_type: e.actor_type,
  actor_id: e.actor_id,
  owner_id: e.owner_id,
  target_id: e.target_id,
  ip: e.ip as string,
  created_at: e.created_at,
});

/**
 * R15: every state change (key, token, account, login success and failure) has exactly one audit
 * entry with actor, IP and time; refused attempts and reads add none. Users see their own
 * entries, admins every entry.
 */
describe.each(DATABASES)('audit log on $name (R15)', (kind) => {
  let h: Harness;
  let admin: Account;
  let alice: Account;
  let bob: Account;
  /** Alice's expected entries, oldest first. */
  const expected: Expected[] = [];
  let ipCounter = 0;
  let tokenSecret = '';
  let unknownEmailIp = '';

  /** Moves the clock and picks a fresh client address for the next action. */
  const step = () => {
    h.clock.advance(61_000);
    ipCounter += 1;
    return { ip: `203.0.113.${ipCounter}`, at: new Date(h.clock.now()).toISOString() };
  };

  const readAll = async (auth: { as?: Account; bearer?: string }, query = ''): Promise<Entry[]> => {
    const entries: Entry[] = [];
    let cursor: number | null = null;
    do {
      const response = await h.request({
        method: 'GET',
        url: `/v1/audit-log?limit=3${query}${cursor === null ? '' : `&cursor=${cursor}`}`,
        ...auth,
      });
      expect(response.statusCode).toBe(200);
      const page = response.json() as { data: Entry[]; next_cursor: number | null };
      entries.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor !== null);
    return entries;
  };

  beforeAll(async () => {
    h = await createHarness(kind);
    admin = await h.signup();
    await promoteToAdmin(h, admin);
    bob = await h.signup();

    // Signup: by an anonymous caller, from its address.
    let s = step();
    const email = uniqueEmail('alice');
    const password = 'alice password 1';
    SECRETS_SEEN.add(password);
    const signup = await h.request({
      method: 'POST',
      url: '/v1/auth/signup',
      ip: s.ip,
      body: { email, password },
    });
    expect(signup.statusCode).toBe(201);
    const aliceId = signup.json().user.id as string;
    alice = {
      id: aliceId,
      email,
      password,
      cookie: sessionCookie(signup),
      csrf: signup.json().csrf_token,
    };
    expected.push({
      action: 'account.created',
      actor_type: 'anonymous',
      actor_id: null,
      owner_id: aliceId,
      target_id: aliceId,
      ip: s.ip,
      created_at: s.at,
    });
    const asAlice = (ip: string) => ({ as: alice, ip });
    const user = (action: string, target: string | null, at: { ip: string; at: string }) =>
      expected.push({
        action,
        actor_type: 'user',
        actor_id: aliceId,
        owner_id: aliceId,
        target_id: target,
        ip: at.ip,
        created_at: at.at,
      });

    // Login failure (known account), then success.
    s = step();
    const failed = await h.request({
      method: 'POST',
      url: '/v1/auth/login',
      ip: s.ip,
      body: { email, password: 'not alice password' },
    });
    expect(failed.statusCode).toBe(401);
    expected.push({
      action: 'auth.login_failed',
      actor_type: 'anonymous',
      actor_id: null,
      owner_id: aliceId,
      target_id: aliceId,
      ip: s.ip,
      created_at: s.at,
    });
    s = step();
    const login = await h.request({
      method: 'POST',
      url: '/v1/auth/login',
      ip: s.ip,
      body: { email, password },
    });
    expect(login.statusCode).toBe(200);
    alice = { ...alice, cookie: sessionCookie(login), csrf: login.json().csrf_token };
    user('auth.login', aliceId, s);

    // A login failure for an email nobody has: only the admin sees it.
    const u = step();
    unknownEmailIp = u.ip;
    await h.request({
      method: 'POST',
      url: '/v1/auth/login',
      ip: u.ip,
      body: { email: uniqueEmail('nobody'), password: 'whatever password' },
    });

    // Keys: create, update, revoke; create, rotate, delete.
    s = step();
    const created = await h.request({
      method: 'POST',
      url: '/v1/keys',
      ...asAlice(s.ip),
      body: { name: 'audited' },
    });
    expect(created.statusCode).toBe(201);
    const keyId = created.json().id as string;
    user('key.created', keyId, s);
    s = step();
    expect(
      (
        await h.request({
          method: 'PATCH',
          url: `/v1/keys/${keyId}`,
          ...asAlice(s.ip),
          body: { name: 'audited, renamed' },
        })
      ).statusCode,
    ).toBe(200);
    user('key.updated', keyId, s);
    s = step();
    expect(
      (await h.request({ method: 'POST', url: `/v1/keys/${keyId}/revoke`, ...asAlice(s.ip) }))
        .statusCode,
    ).toBe(200);
    user('key.revoked', keyId, s);

    s = step();
    const second = await h.request({
      method: 'POST',
      url: '/v1/keys',
      ...asAlice(s.ip),
      body: { name: 'to rotate' },
    });
    const secondId = second.json().id as string;
    user('key.created', secondId, s);
    s = step();
    const rotated = await h.request({
      method: 'POST',
      url: `/v1/keys/${secondId}/rotate`,
      ...asAlice(s.ip),
      body: { grace_period: '1h' },
    });
    expect(rotated.statusCode).toBe(201);
    const rotatedId = rotated.json().id as string;
    user('key.rotated', secondId, s);
    s = step();
    expect(
      (await h.request({ method: 'DELETE', url: `/v1/keys/${rotatedId}`, ...asAlice(s.ip) }))
        .statusCode,
    ).toBe(204);
    user('key.deleted', rotatedId, s);

    // Tokens: create, then a key created by the token (the token is the actor), then revoke.
    s = step();
    const token = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      ...asAlice(s.ip),
      body: { name: 'deploy script', scopes: ['keys:read', 'keys:write'] },
    });
    expect(token.statusCode).toBe(201);
    const tokenId = token.json().id as string;
    tokenSecret = token.json().token as string;
    user('token.created', tokenId, s);
    s = step();
    const byToken = await h.request({
      method: 'POST',
      url: '/v1/keys',
      bearer: tokenSecret,
      ip: s.ip,
      body: { name: 'made by a script' },
    });
    expect(byToken.statusCode).toBe(201);
    expected.push({
      action: 'key.created',
      actor_type: 'token',
      actor_id: tokenId,
      owner_id: aliceId,
      target_id: byToken.json().id,
      ip: s.ip,
      created_at: s.at,
    });
    // A second token, revoked from the session.
    s = step();
    const doomed = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      ...asAlice(s.ip),
      body: { name: 'short-lived', scopes: ['usage:read'] },
    });
    const doomedId = doomed.json().id as string;
    user('token.created', doomedId, s);
    s = step();
    expect(
      (await h.request({ method: 'DELETE', url: `/v1/tokens/${doomedId}`, ...asAlice(s.ip) }))
        .statusCode,
    ).toBe(204);
    user('token.deleted', doomedId, s);

    // Password change.
    s = step();
    const newPassword = 'alice password 2';
    SECRETS_SEEN.add(newPassword);
    const changed = await h.request({
      method: 'POST',
      url: '/v1/auth/password',
      ...asAlice(s.ip),
      body: { current_password: password, new_password: newPassword },
    });
    expect(changed.statusCode).toBe(200);
    // The change renews the session: Alice goes on with the new cookie and CSRF token.
    alice = { ...alice, cookie: sessionCookie(changed), csrf: changed.json().csrf_token };
    user('account.password_changed', aliceId, s);

    // The operator changes the plan: the admin is the actor, the entry is Alice's.
    s = step();
    expect(
      (
        await h.request({
          method: 'PATCH',
          url: `/v1/admin/users/${aliceId}`,
          as: admin,
          ip: s.ip,
          body: { plan: 'pro' },
        })
      ).statusCode,
    ).toBe(200);
    expected.push({
      action: 'account.updated',
      actor_type: 'user',
      actor_id: admin.id,
      owner_id: aliceId,
      target_id: aliceId,
      ip: s.ip,
      created_at: s.at,
    });

    // Refused attempts and reads change nothing and so add nothing, except a wrong current
    // password, which is a guess at it and is recorded like a failed sign-in.
    const refused = step();
    await h.request({ method: 'POST', url: `/v1/keys/${keyId}/revoke`, as: bob, ip: refused.ip });
    await h.request({
      method: 'PATCH',
      url: `/v1/keys/${keyId}`,
      as: alice,
      ip: refused.ip,
      body: { name: 'x' },
    });
    await h.request({ method: 'POST', url: `/v1/keys/${keyId}/rotate`, as: alice, ip: refused.ip });
    await h.request({
      method: 'POST',
      url: '/v1/keys',
      headers: { cookie: alice.cookie },
      ip: refused.ip,
      body: { name: 'no csrf' },
    });
    await h.request({
      method: 'POST',
      url: '/v1/auth/password',
      as: alice,
      ip: refused.ip,
      body: { current_password: 'wrong current', new_password: 'whatever password' },
    });
    user('account.password_change_failed', aliceId, refused);
    await h.request({ method: 'GET', url: '/v1/keys', as: alice, ip: refused.ip });
    await h.request({ method: 'GET', url: `/v1/keys/${keyId}`, as: alice, ip: refused.ip });
    await h.request({ method: 'GET', url: '/v1/tokens', as: alice, ip: refused.ip });

    // Logout last: it ends the session, so Alice reads her log with the token afterwards.
    s = step();
    expect(
      (await h.request({ method: 'POST', url: '/v1/auth/logout', ...asAlice(s.ip) })).statusCode,
    ).toBe(204);
    user('auth.logout', aliceId, s);
  });
  afterAll(async () => {
    await h.close();
  });

  /** Alice's view: what the admin did shows as "an administrator", without id or address. */
  const seenByAlice = () =>
    [...expected]
      .reverse()
      .map((e) =>
        e.actor_id === admin.id
          ? { ...e, actor_type: 'administrator', actor_id: null, ip: null as unknown as string }
          : e,
      );

  it('records every change exactly once, newest first, with actor, IP and time — and nothing else', async () => {
    const entries = await readAll({ bearer: tokenSecret });
    expect(entries.map(pick)).toEqual(seenByAlice());
    // Ids are unique and decrease down the list: the cursor walks the log without overlap.
    const ids = entries.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((x, y) => y - x)).toEqual(ids);
  });

  it('entries name their targets and carry useful details, never a secret', async () => {
    const entries = await readAll({ bearer: tokenSecret });
    const rotated = entries.find((e) => e.action === 'key.rotated');
    expect(rotated?.details).toMatchObject({ grace_period: '1h' });
    expect(String(rotated?.details.new_key_id)).toMatch(/^key_/);
    const token = entries.find((e) => e.action === 'token.created');
    expect(token?.target_type).toBe('token');
    expect(entries.find((e) => e.action === 'key.created')?.target_type).toBe('api_key');
    const updated = entries.find((e) => e.action === 'account.updated');
    expect(updated?.details).toMatchObject({ plan: 'pro' });
    const text = JSON.stringify(entries);
    for (const secret of SECRETS_SEEN) expect(text).not.toContain(secret);
    expect(text).not.toContain('not alice password');
  });

  it('names actors and targets: emails, key and token names, deleted ones by their recorded name', async () => {
    const owner = await h.signup();
    const token = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: owner,
      body: { name: 'Deploy script', scopes: ['keys:read', 'keys:write'] },
    });
    const viaToken = await h.request({
      method: 'POST',
      url: '/v1/keys',
      bearer: token.json().token,
      body: { name: 'Made by the script' },
    });
    const doomed = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: owner,
      body: { name: 'Short-lived key' },
    });
    await h.request({ method: 'DELETE', url: `/v1/keys/${doomed.json().id}`, as: owner });
    const entries = (await readAll({ as: owner })) as Array<
      Entry & { actor_name: string | null; target_name: string | null; target_exists: boolean }
    >;
    const created = entries.find(
      (e) => e.action === 'key.created' && e.target_id === viaToken.json().id,
    );
    expect(created).toMatchObject({
      actor_type: 'token',
      actor_name: 'Deploy script',
      target_name: 'Made by the script',
      target_exists: true,
    });
    const gone = entries.filter((e) => e.target_id === doomed.json().id);
    expect(gone.map((e) => [e.action, e.target_name, e.target_exists])).toEqual([
      ['key.deleted', 'Short-lived key', false],
      ['key.created', 'Short-lived key', false],
    ]);
    expect(gone[0]?.actor_name).toBe(owner.email);
    // Alice's view names nothing of the admin's: the admin stays "an administrator".
    const alices = (await readAll({ bearer: tokenSecret })) as Array<
      Entry & { actor_name: string | null }
    >;
    for (const e of alices.filter((x) => x.actor_type === 'administrator'))
      expect(e.actor_name).toBeNull();
    expect(JSON.stringify(alices)).not.toContain(admin.email);
  });

  it("names a page holding only an administrator's change to a key (no account id to look up)", async () => {
    const owner = await h.signup();
    const key = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: owner,
      body: { name: 'k' },
    });
    // The administrator revokes the owner's key: the newest entry names the admin and a key only.
    const revoked = await h.request({
      method: 'POST',
      url: `/v1/keys/${key.json().id}/revoke`,
      as: admin,
    });
    expect(revoked.statusCode).toBe(200);
    const page = await h.request({ method: 'GET', url: '/v1/audit-log?limit=1', as: owner });
    expect(page.statusCode).toBe(200);
    expect(page.json().data[0]).toMatchObject({
      action: 'key.revoked',
      actor_type: 'administrator',
      actor_name: null,
      target_name: 'k',
    });
  });

  it('a user sees only their own entries', async () => {
    const bobs = await readAll({ as: bob });
    expect(bobs.length).toBeGreaterThan(0);
    expect(bobs.every((e) => e.owner_id === bob.id)).toBe(true);
    const text = JSON.stringify(bobs);
    expect(text).not.toContain(alice.id);
    expect(text).not.toContain(unknownEmailIp);
    const alices = await readAll({ bearer: tokenSecret });
    expect(alices.every((e) => e.owner_id === alice.id)).toBe(true);
    expect(JSON.stringify(alices)).not.toContain(bob.id);
    expect(JSON.stringify(alices)).not.toContain(admin.id);
    expect(JSON.stringify(alices)).not.toContain(unknownEmailIp);
  });

  it('an admin sees every entry, including failed logins for unknown emails', async () => {
    const all = await readAll({ as: admin });
    const owners = new Set(all.map((e) => e.owner_id));
    expect(owners).toContain(alice.id);
    expect(owners).toContain(bob.id);
    expect(owners).toContain(admin.id);
    const unknown = all.filter((e) => e.ip === unknownEmailIp);
    expect(unknown.map((e) => [e.action, e.owner_id, e.actor_type])).toEqual([
      ['auth.login_failed', null, 'anonymous'],
    ]);
    // Alice's entries are all there, the admin's own with the admin's id and address.
    const alices = all.filter((e) => e.owner_id === alice.id).map(pick);
    expect(alices).toEqual([...expected].reverse());
    // The admin's filter by target works across owners.
    const created = expected.find((e) => e.action === 'key.created');
    const byTarget = await readAll({ as: admin }, `&target_id=${created?.target_id}`);
    expect(byTarget.map((e) => e.action)).toEqual(['key.revoked', 'key.updated', 'key.created']);
  });

  it('reading the log needs keys:read; a usage-only token is refused', async () => {
    const page = await h.request({
      method: 'POST',
      url: '/v1/auth/login',
      body: { email: bob.email, password: bob.password },
    });
    const session: Account = { ...bob, cookie: sessionCookie(page), csrf: page.json().csrf_token };
    const usageOnly = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: session,
      body: { name: 'usage only', scopes: ['usage:read'] },
    });
    const response = await h.request({
      method: 'GET',
      url: '/v1/audit-log',
      bearer: usageOnly.json().token,
    });
    expect(response.statusCode).toBe(403);
    expect((await h.request({ method: 'GET', url: '/v1/audit-log' })).statusCode).toBe(401);
  });
});
