import type { LightMyRequestResponse } from 'fastify';
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
  SECRETS_SEEN,
  sessionCookie,
} from '../helpers/harness.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function login(
  h: Harness,
  email: string,
  password: string,
  options: { ip?: string; headers?: Record<string, string> } = {},
): Promise<LightMyRequestResponse> {
  SECRETS_SEEN.add(password);
  return h.request({
    method: 'POST',
    url: '/v1/auth/login',
    body: { email, password },
    ...(options.ip !== undefined && { ip: options.ip }),
    ...(options.headers !== undefined && { headers: options.headers }),
  });
}

/** Signs an existing account in again and answers it with the new session. */
async function signIn(h: Harness, account: Account, ip?: string): Promise<Account> {
  const response = await login(h, account.email, account.password, { ...(ip && { ip }) });
  expect(response.statusCode).toBe(200);
  return { ...account, cookie: sessionCookie(response), csrf: response.json().csrf_token };
}

const me = (h: Harness, account: Account) =>
  h.request({ method: 'GET', url: '/v1/auth/me', as: account });

function cookieValue(account: Account): string {
  return account.cookie.slice(account.cookie.indexOf('=') + 1);
}

async function sessionRows(h: Harness, userId: string): Promise<string[]> {
  const rows = await h.services.store.db
    .selectFrom('sessions')
    .select('id_hash')
    .where('user_id', '=', userId)
    .execute();
  return rows.map((r) => r.id_hash).sort();
}

/** The error part of an answer without its request id, to compare two answers. */
function comparable(response: LightMyRequestResponse) {
  const body = response.json() as { error: { code: string; message: string } };
  const headers = { ...response.headers };
  delete headers.date;
  return {
    status: response.statusCode,
    code: body.error.code,
    message: body.error.message,
    keys: Object.keys(response.json()).sort(),
    errorKeys: Object.keys(body.error).sort(),
    headers,
  };
}

describe.each(DATABASES)('sessions on $name (R10)', (kind) => {
  describe('over plain HTTP', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness(kind);
    });
    afterAll(async () => {
      await h.close();
    });

    it('the session cookie is HttpOnly, SameSite=Lax, Path=/, not Secure, named keyward_session', async () => {
      const email = `cookie-${Date.now()}@example.com`;
      const password = 'correct horse battery';
      SECRETS_SEEN.add(password);
      const signup = await h.request({
        method: 'POST',
        url: '/v1/auth/signup',
        body: { email, password },
      });
      expect(signup.statusCode).toBe(201);
      for (const response of [signup, await login(h, email, password)]) {
        const cookies = response.cookies;
        expect(cookies).toHaveLength(1);
        const cookie = cookies[0] as (typeof cookies)[number] & { sameSite?: string };
        SECRETS_SEEN.add(cookie.value);
        expect(cookie.name).toBe('keyward_session');
        expect(cookie.httpOnly).toBe(true);
        expect(cookie.sameSite).toBe('Lax');
        expect(cookie.path).toBe('/');
        expect(cookie.secure).toBeFalsy();
        expect(cookie.domain).toBeUndefined();
        expect(cookie.maxAge).toBe(7 * 24 * 3600);
        // 32 random bytes, base64url: 256 bits the server never stores.
        expect(cookie.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(response.body).not.toContain(cookie.value);
        const raw = String(response.headers['set-cookie']);
        expect(raw).toMatch(/HttpOnly/);
        expect(raw).toMatch(/SameSite=Lax/);
      }
    });

    it('login always issues a new session id, even when the client offers one (no fixation)', async () => {
      const account = await h.signup();
      const first = await signIn(h, account);
      expect(cookieValue(first)).not.toBe(cookieValue(account));
      // A planted (or the previous) cookie sent along with the login is never adopted.
      const withOld = await login(h, account.email, account.password, {
        headers: { cookie: account.cookie },
      });
      const second = sessionCookie(withOld);
      expect(second).not.toBe(account.cookie);
      expect(second).not.toBe(first.cookie);
      const planted = 'A'.repeat(43);
      const withPlanted = await login(h, account.email, account.password, {
        headers: { cookie: `keyward_session=${planted}` },
      });
      expect(sessionCookie(withPlanted)).not.toBe(`keyward_session=${planted}`);
      expect(
        (
          await h.request({
            method: 'GET',
            url: '/v1/auth/me',
            headers: { cookie: `keyward_session=${planted}` },
          })
        ).statusCode,
      ).toBe(401);
      // Each session has its own CSRF token; the stored row is the hash of the id, not the id.
      expect(withOld.json().csrf_token).not.toBe(first.csrf);
      const rows = await sessionRows(h, account.id);
      expect(rows).toContain(sha256Hex(cookieValue(first)));
      expect(rows).not.toContain(cookieValue(first));
      expect((await me(h, first)).statusCode).toBe(200);
    });

    it('logout ends the session on the server: the same cookie is then 401', async () => {
      const account = await h.signup();
      const other = await signIn(h, account);
      const before = await sessionRows(h, account.id);
      expect(before).toHaveLength(2);
      const logout = await h.request({ method: 'POST', url: '/v1/auth/logout', as: account });
      expect(logout.statusCode).toBe(204);
      const cleared = logout.cookies.find((c) => c.name === 'keyward_session');
      expect(cleared?.value).toBe('');
      expect(
        (cleared?.maxAge ?? 1) <= 0 || (cleared?.expires?.getTime() ?? Infinity) < Date.now(),
      ).toBe(true);
      // A client that ignores the clearing header still gets nowhere with the old id.
      const replay = await me(h, account);
      expect(replay.statusCode).toBe(401);
      expect(replay.json().error.code).toBe('session_expired');
      const write = await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: account,
        body: { name: 'after logout' },
      });
      expect(write.statusCode).toBe(401);
      expect(await sessionRows(h, account.id)).toEqual(
        before.filter((hash) => hash !== sha256Hex(cookieValue(account))),
      );
      // Logging out one browser does not end the account's other sessions.
      expect((await me(h, other)).statusCode).toBe(200);
      // A second logout with the dead cookie is refused, not a 5xx.
      expect(
        (await h.request({ method: 'POST', url: '/v1/auth/logout', as: account })).statusCode,
      ).toBe(401);
    });

    it('password change: ends every session server-side, renews this one, swaps the password', async () => {
      const account = await h.signup();
      const laptop = await signIn(h, account, '192.0.2.10');
      const phone = await signIn(h, account, '192.0.2.11');
      const token = await h.request({
        method: 'POST',
        url: '/v1/tokens',
        as: laptop,
        body: { name: 'ci', scopes: ['keys:read'] },
      });
      expect(token.statusCode).toBe(201);

      // Wrong current password: refused, nothing ends.
      const wrong = await h.request({
        method: 'POST',
        url: '/v1/auth/password',
        as: laptop,
        body: { current_password: 'not-the-password', new_password: 'a brand new password' },
      });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json().error.code).toBe('invalid_credentials');
      const tooShort = await h.request({
        method: 'POST',
        url: '/v1/auth/password',
        as: laptop,
        body: { current_password: account.password, new_password: 'short' },
      });
      expect(tooShort.statusCode).toBe(400);
      expect(await sessionRows(h, account.id)).toHaveLength(3);
      expect((await me(h, phone)).statusCode).toBe(200);

      // Only a session may change it: a token cannot.
      const byToken = await h.request({
        method: 'POST',
        url: '/v1/auth/password',
        bearer: token.json().token,
        body: { current_password: account.password, new_password: 'a brand new password' },
      });
      expect(byToken.statusCode).toBe(403);

      const newPassword = `new-${Math.random().toString(36).slice(2)}-password`;
      SECRETS_SEEN.add(newPassword);
      const changed = await h.request({
        method: 'POST',
        url: '/v1/auth/password',
        as: laptop,
        body: { current_password: account.password, new_password: newPassword },
      });
      expect(changed.statusCode).toBe(200);
      const renewed = {
        ...laptop,
        cookie: sessionCookie(changed),
        csrf: changed.json().csrf_token as string,
      };
      expect(await sessionRows(h, account.id)).toEqual([sha256Hex(cookieValue(renewed))]);
      for (const ended of [account, phone, laptop]) {
        const response = await me(h, ended);
        expect(response.statusCode).toBe(401);
        expect(response.json().error.code).toBe('session_expired');
      }
      expect((await me(h, renewed)).statusCode).toBe(200);
      expect((await login(h, account.email, account.password)).statusCode).toBe(401);
      expect((await login(h, account.email, newPassword)).statusCode).toBe(200);
    });

    it('idle timeout (12h): sliding with activity, 401 once idle for the whole timeout', async () => {
      const account = await signIn(h, await h.signup());
      const start = h.clock.now();
      h.clock.set(start + 12 * HOUR - 1);
      expect((await me(h, account)).statusCode).toBe(200);
      // The request above counted as activity: another almost-12h gap is still fine.
      const lastSeen = h.clock.now();
      h.clock.set(lastSeen + 12 * HOUR - 1);
      expect((await me(h, account)).statusCode).toBe(200);
      h.clock.set(h.clock.now() + 12 * HOUR);
      const idle = await me(h, account);
      expect(idle.statusCode).toBe(401);
      expect(idle.json().error.code).toBe('session_expired');
      expect(await sessionRows(h, account.id)).not.toContain(sha256Hex(cookieValue(account)));
      // Gone for good: going back in time does not revive it.
      h.clock.set(lastSeen);
      expect((await me(h, account)).statusCode).toBe(401);
      h.clock.set(start + 30 * DAY);
    });

    it('absolute timeout (7d): ends even a session in constant use', async () => {
      const account = await h.signup();
      const start = h.clock.now();
      let at = start;
      while (at + 6 * HOUR < start + 7 * DAY) {
        at += 6 * HOUR;
        h.clock.set(at);
        expect((await me(h, account)).statusCode).toBe(200);
      }
      h.clock.set(start + 7 * DAY - 1);
      expect((await me(h, account)).statusCode).toBe(200);
      h.clock.set(start + 7 * DAY);
      const response = await me(h, account);
      expect(response.statusCode).toBe(401);
      expect(response.json().error.code).toBe('session_expired');
      h.clock.set(start + 30 * DAY);
    });

    it('disabling an account ends its sessions at once; it cannot sign in again', async () => {
      const admin = await h.signup();
      await promoteToAdmin(h, admin);
      const account = await h.signup();
      expect((await me(h, account)).statusCode).toBe(200);
      const disabled = await h.request({
        method: 'PATCH',
        url: `/v1/admin/users/${account.id}`,
        as: admin,
        body: { disabled: true },
      });
      expect(disabled.statusCode).toBe(200);
      expect((await me(h, account)).statusCode).toBe(401);
      expect(await sessionRows(h, account.id)).toEqual([]);
      const again = await login(h, account.email, account.password);
      expect(again.statusCode).toBe(403);
      expect(again.json().error.code).toBe('account_disabled');
      expect(again.cookies).toHaveLength(0);
    });
  });

  describe('over HTTPS (PUBLIC_URL https://…)', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness(kind, { PUBLIC_URL: 'https://keys.example.com' });
    });
    afterAll(async () => {
      await h.close();
    });

    it('the cookie is __Host-keyward_session, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain', async () => {
      const account = await h.signup();
      const response = await login(h, account.email, account.password, {
        headers: { origin: 'https://keys.example.com' },
      });
      expect(response.statusCode).toBe(200);
      const cookie = response.cookies[0] as LightMyRequestResponse['cookies'][number] & {
        sameSite?: string;
      };
      SECRETS_SEEN.add(cookie.value);
      expect(response.cookies).toHaveLength(1);
      expect(cookie.name).toBe('__Host-keyward_session');
      expect(cookie.secure).toBe(true);
      expect(cookie.httpOnly).toBe(true);
      expect(cookie.sameSite).toBe('Lax');
      expect(cookie.path).toBe('/');
      expect(cookie.domain).toBeUndefined();
      expect(String(response.headers['set-cookie'])).toMatch(/;\s*Secure/);

      const session = {
        ...account,
        cookie: `${cookie.name}=${cookie.value}`,
        csrf: response.json().csrf_token,
      };
      expect((await me(h, session)).statusCode).toBe(200);
      // The unprefixed name means nothing here: a cookie planted without __Host- is ignored.
      const unprefixed = await h.request({
        method: 'GET',
        url: '/v1/auth/me',
        headers: { cookie: `keyward_session=${cookie.value}` },
      });
      expect(unprefixed.statusCode).toBe(401);

      const logout = await h.request({ method: 'POST', url: '/v1/auth/logout', as: session });
      expect(logout.statusCode).toBe(204);
      const cleared = logout.cookies.find((c) => c.name === '__Host-keyward_session');
      expect(cleared?.secure).toBe(true);
      expect(cleared?.path).toBe('/');
      expect((await me(h, session)).statusCode).toBe(401);
    });
  });
});

describe.each(DATABASES)('CSRF on $name (R11)', (kind) => {
  let h: Harness;
  let admin: Account;
  let user: Account;
  let keyId: string;
  let tokenId: string;
  let otherSession: Account;

  beforeAll(async () => {
    h = await createHarness(kind);
    admin = await h.signup();
    await promoteToAdmin(h, admin);
    user = await h.signup();
    otherSession = await h.signup();
    keyId = (await createKey(h, user, { name: 'csrf target' })).id;
    const token = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: user,
      body: { name: 'csrf target', scopes: ['keys:read'] },
    });
    tokenId = token.json().id;
  });
  afterAll(async () => {
    await h.close();
  });

  const state = async () => {
    const db = h.services.store.db;
    return JSON.stringify({
      users: await db.selectFrom('users').selectAll().orderBy('id').execute(),
      keys: await db.selectFrom('api_keys').selectAll().orderBy('id').execute(),
      tokens: await db.selectFrom('tokens').selectAll().orderBy('id').execute(),
      audit: await db.selectFrom('audit_log').selectAll().orderBy('seq').execute(),
      sessions: await db
        .selectFrom('sessions')
        .select(['id_hash', 'user_id'])
        .orderBy('id_hash')
        .execute(),
    });
  };

  /** Every cookie-authenticated write, with who may do it and a body that would be accepted. */
  const writes = (): Array<{ who: () => Account; route: Omit<RequestOptions, 'as'> }> => [
    { who: () => user, route: { method: 'POST', url: '/v1/keys', body: { name: 'forged' } } },
    {
      who: () => user,
      route: { method: 'PATCH', url: `/v1/keys/${keyId}`, body: { name: 'forged' } },
    },
    {
      who: () => user,
      route: { method: 'PATCH', url: `/v1/keys/${keyId}`, body: { enabled: false } },
    },
    { who: () => user, route: { method: 'POST', url: `/v1/keys/${keyId}/revoke` } },
    { who: () => user, route: { method: 'POST', url: `/v1/keys/${keyId}/rotate`, body: {} } },
    { who: () => user, route: { method: 'DELETE', url: `/v1/keys/${keyId}` } },
    {
      who: () => user,
      route: {
        method: 'POST',
        url: '/v1/tokens',
        body: { name: 'forged', scopes: ['keys:write'] },
      },
    },
    { who: () => user, route: { method: 'DELETE', url: `/v1/tokens/${tokenId}` } },
    { who: () => user, route: { method: 'POST', url: '/v1/auth/logout' } },
    {
      who: () => user,
      route: {
        method: 'POST',
        url: '/v1/auth/password',
        body: { current_password: user.password, new_password: 'attacker chosen password' },
      },
    },
    {
      who: () => admin,
      route: { method: 'PATCH', url: `/v1/admin/users/${user.id}`, body: { disabled: true } },
    },
    {
      who: () => admin,
      route: {
        method: 'POST',
        url: '/v1/tokens',
        body: { name: 'forged', scopes: ['keys:verify'] },
      },
    },
    {
      who: () => admin,
      route: {
        method: 'POST',
        url: '/v1/verify',
        body: { key: 'sk_live_0000000000000000000000000000000000000000' },
      },
    },
    {
      who: () => admin,
      route: { method: 'POST', url: '/v1/usage', body: { key_id: keyId, amount: 1 } },
    },
  ];

  it('every cookie-authenticated write without, with a wrong, or with another session’s X-CSRF-Token → 403 csrf_failed, nothing changed', async () => {
    const before = await state();
    for (const { who, route } of writes()) {
      const account = who();
      const variants: Record<string, Record<string, string>> = {
        missing: { cookie: account.cookie },
        empty: { cookie: account.cookie, 'x-csrf-token': '' },
        wrong: { cookie: account.cookie, 'x-csrf-token': 'x'.repeat(account.csrf.length) },
        "another session's": { cookie: account.cookie, 'x-csrf-token': otherSession.csrf },
        'the cookie value': { cookie: account.cookie, 'x-csrf-token': cookieValue(account) },
      };
      for (const [variant, headers] of Object.entries(variants)) {
        const response = await h.request({ ...route, headers });
        const label = `${route.method} ${route.url} with ${variant} token`;
        expect(response.statusCode, label).toBe(403);
        expect(response.json().error.code, label).toBe('csrf_failed');
      }
    }
    expect(await state()).toBe(before);
  });

  it('a right token with a foreign Origin is refused as well (403 csrf_failed)', async () => {
    const before = await state();
    for (const { who, route } of writes()) {
      for (const origin of ['https://evil.example', 'null', 'http://localhost:8080.evil.example']) {
        const response = await h.request({ ...route, as: who(), headers: { origin } });
        const label = `${route.method} ${route.url} from ${origin}`;
        expect(response.statusCode, label).toBe(403);
        expect(response.json().error.code, label).toBe('csrf_failed');
      }
    }
    expect(await state()).toBe(before);
  });

  it('a cross-site form post (cookie only, form or text body) changes nothing', async () => {
    const before = await state();
    for (const contentType of [
      'application/x-www-form-urlencoded',
      'text/plain',
      'multipart/form-data; boundary=x',
    ]) {
      const response = await h.app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: {
          cookie: user.cookie,
          'content-type': contentType,
          origin: 'https://evil.example',
        },
        payload: 'name=forged',
      });
      expect([403, 415]).toContain(response.statusCode);
    }
    expect(await state()).toBe(before);
  });

  it('login and signup refuse a foreign Origin (login CSRF), accept their own', async () => {
    const foreign = await login(h, user.email, user.password, {
      headers: { origin: 'https://evil.example' },
    });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().error.code).toBe('csrf_failed');
    expect(foreign.cookies).toHaveLength(0);
    const signup = await h.request({
      method: 'POST',
      url: '/v1/auth/signup',
      headers: { origin: 'https://evil.example' },
      body: { email: `forged-${Date.now()}@example.com`, password: 'forged password' },
    });
    expect(signup.statusCode).toBe(403);
    expect(signup.cookies).toHaveLength(0);
    const own = await login(h, user.email, user.password, {
      headers: { origin: 'http://localhost:8080' },
    });
    expect(own.statusCode).toBe(200);
    sessionCookie(own);
  });

  it('GETs need no CSRF token and change nothing', async () => {
    const before = await state();
    for (const url of [
      '/v1/keys',
      `/v1/keys/${keyId}`,
      `/v1/keys/${keyId}/usage`,
      `/v1/keys/${keyId}/logs`,
      '/v1/tokens',
      '/v1/audit-log',
      '/v1/auth/me',
    ]) {
      const response = await h.request({ method: 'GET', url, headers: { cookie: user.cookie } });
      expect(response.statusCode, url).toBe(200);
    }
    // Write paths answer nothing to a GET: state changes need the write method.
    for (const url of [`/v1/keys/${keyId}/revoke`, `/v1/keys/${keyId}/rotate`, '/v1/auth/logout']) {
      const response = await h.request({ method: 'GET', url, headers: { cookie: user.cookie } });
      expect(response.statusCode, url).toBe(404);
    }
    const adminList = await h.request({
      method: 'GET',
      url: '/v1/admin/users',
      headers: { cookie: admin.cookie },
    });
    expect(adminList.statusCode).toBe(200);
    expect(await state()).toBe(before);
    expect((await me(h, user)).json().csrf_token).toBe(user.csrf);
  });

  it('bearer-token writes need no CSRF token', async () => {
    const created = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: user,
      body: { name: 'writer', scopes: ['keys:read', 'keys:write'] },
    });
    const token = created.json().token as string;
    const key = await h.request({
      method: 'POST',
      url: '/v1/keys',
      bearer: token,
      body: { name: 'by token' },
    });
    expect(key.statusCode).toBe(201);
    const id = key.json().id as string;
    const patched = await h.request({
      method: 'PATCH',
      url: `/v1/keys/${id}`,
      bearer: token,
      body: { name: 'renamed by token' },
    });
    expect(patched.statusCode).toBe(200);
    expect(
      (await h.request({ method: 'POST', url: `/v1/keys/${id}/revoke`, bearer: token })).statusCode,
    ).toBe(200);
    expect(
      (await h.request({ method: 'DELETE', url: `/v1/keys/${id}`, bearer: token })).statusCode,
    ).toBe(204);
  });

  it('with the right token and no foreign Origin the same writes go through (the check is not blanket)', async () => {
    const ok = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: user,
      body: { name: 'real' },
    });
    expect(ok.statusCode).toBe(201);
    const sameOrigin = await h.request({
      method: 'PATCH',
      url: `/v1/keys/${keyId}`,
      as: user,
      headers: { origin: 'http://localhost:8080' },
      body: { name: 'renamed' },
    });
    expect(sameOrigin.statusCode).toBe(200);
    expect(
      (await h.request({ method: 'DELETE', url: `/v1/tokens/${tokenId}`, as: user })).statusCode,
    ).toBe(204);
    expect((await h.request({ method: 'POST', url: '/v1/auth/logout', as: user })).statusCode).toBe(
      204,
    );
  });
});

describe.each(DATABASES)('login throttling on $name (R12)', (kind) => {
  let h: Harness;
  let owner: Account;
  let ipCounter = 0;
  const freshIp = () => {
    ipCounter += 1;
    return `198.51.100.${ipCounter}`;
  };

  beforeAll(async () => {
    h = await createHarness(kind, {
      LOGIN_MAX_FAILURES_PER_ACCOUNT_IP: '3',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '6',
      LOGIN_MAX_FAILURES_PER_IP: '5',
      LOGIN_THROTTLE_WINDOW: '15m',
    });
  });
  afterAll(async () => {
    await h.close();
  });

  /** Starts every test in a fresh throttle window. */
  const nextWindow = () => h.clock.advance(15 * 60_000 + 1);

  it('an unknown email and a wrong password answer the same: status, body and headers', async () => {
    nextWindow();
    owner = await h.signup();
    const ip = freshIp();
    const wrongPassword = await login(h, owner.email, 'wrong password!', { ip });
    const unknownEmail = await login(h, `nobody-${Date.now()}@example.com`, 'wrong password!', {
      ip,
    });
    const unknownEmailRightPassword = await login(h, `x${owner.email}`, owner.password, { ip });
    expect(wrongPassword.statusCode).toBe(401);
    expect(wrongPassword.json().error.code).toBe('invalid_credentials');
    expect(comparable(unknownEmail)).toEqual(comparable(wrongPassword));
    expect(comparable(unknownEmailRightPassword)).toEqual(comparable(wrongPassword));
    expect(wrongPassword.cookies).toHaveLength(0);
    expect(unknownEmail.cookies).toHaveLength(0);
  });

  it('per account and IP: blocked after the limit, even with the right password; the owner elsewhere is not', async () => {
    nextWindow();
    const attacker = freshIp();
    const firstFailure = h.clock.now();
    for (let i = 0; i < 3; i++) {
      expect((await login(h, owner.email, `guess-${i}-guess`, { ip: attacker })).statusCode).toBe(
        401,
      );
      h.clock.advance(1000);
    }
    const blocked = await login(h, owner.email, owner.password, { ip: attacker });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().error.code).toBe('too_many_attempts');
    expect(blocked.cookies).toHaveLength(0);
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(retryAfter).toBe(15 * 60 - 3);
    // Case and spaces do not open a fresh counter.
    const variant = await login(h, `  ${owner.email.toUpperCase()} `, owner.password, {
      ip: attacker,
    });
    expect(variant.statusCode).toBe(429);

    const ownerElsewhere = await login(h, owner.email, owner.password, { ip: freshIp() });
    expect(ownerElsewhere.statusCode).toBe(200);
    sessionCookie(ownerElsewhere);

    // The block ends with its window, which opened at the first failure.
    h.clock.set(firstFailure + 15 * 60_000 - 1);
    expect((await login(h, owner.email, owner.password, { ip: attacker })).statusCode).toBe(429);
    h.clock.set(firstFailure + 15 * 60_000);
    const reopened = await login(h, owner.email, owner.password, { ip: attacker });
    expect(reopened.statusCode).toBe(200);
    sessionCookie(reopened);
  });

  it('per account: guesses spread over many IPs block the account for the window', async () => {
    nextWindow();
    const victim = await h.signup();
    for (let i = 0; i < 6; i++) {
      const response = await login(h, victim.email, `guess-${i}-guess`, { ip: freshIp() });
      expect(response.statusCode).toBe(401);
    }
    const next = await login(h, victim.email, `guess-x-guess`, { ip: freshIp() });
    expect(next.statusCode).toBe(429);
    expect(next.json().error.code).toBe('too_many_attempts');
    // Other accounts are untouched.
    const bystander = await login(h, owner.email, owner.password, { ip: freshIp() });
    expect(bystander.statusCode).toBe(200);
    sessionCookie(bystander);
    nextWindow();
    const later = await login(h, victim.email, victim.password, { ip: freshIp() });
    expect(later.statusCode).toBe(200);
    sessionCookie(later);
  });

  it('per IP: one address guessing across many accounts is blocked for every account', async () => {
    nextWindow();
    const sprayer = freshIp();
    // Known and unknown emails mixed; no (account, IP) pair reaches its own limit of 3.
    const emails = [
      `spray-0-${Date.now()}@example.com`,
      owner.email,
      `spray-2-${Date.now()}@example.com`,
      `spray-3-${Date.now()}@example.com`,
      `spray-4-${Date.now()}@example.com`,
    ];
    for (const email of emails) {
      const response = await login(h, email, 'spray password', { ip: sprayer });
      expect(response.statusCode).toBe(401);
    }
    const fresh = await h.signup();
    const blocked = await login(h, fresh.email, fresh.password, { ip: sprayer });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().error.code).toBe('too_many_attempts');
    const elsewhere = await login(h, fresh.email, fresh.password, { ip: freshIp() });
    expect(elsewhere.statusCode).toBe(200);
    sessionCookie(elsewhere);
  });

  it('throttled answers do not tell a known account from an unknown one either', async () => {
    nextWindow();
    const knownIp = freshIp();
    const unknownIp = freshIp();
    const unknown = `ghost-${Date.now()}@example.com`;
    for (let i = 0; i < 3; i++) {
      const a = await login(h, owner.email, `guess-${i}-guess`, { ip: knownIp });
      const b = await login(h, unknown, `guess-${i}-guess`, { ip: unknownIp });
      expect(comparable(b)).toEqual(comparable(a));
    }
    const knownBlocked = await login(h, owner.email, 'guess-4-guess', { ip: knownIp });
    const unknownBlocked = await login(h, unknown, 'guess-4-guess', { ip: unknownIp });
    expect(knownBlocked.statusCode).toBe(429);
    expect(comparable(unknownBlocked)).toEqual(comparable(knownBlocked));
  });

  it("the owner's own typos do not add up: a success clears the account+IP count", async () => {
    nextWindow();
    const home = freshIp();
    // Four typos from one address exceed the pair limit of 3 but stay under the per-IP limit of 5,
    // which (like the per-account one) a success does not clear.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 2; i++) {
        expect((await login(h, owner.email, `typo-${i}-typo`, { ip: home })).statusCode).toBe(401);
      }
      const ok = await login(h, owner.email, owner.password, { ip: home });
      expect(ok.statusCode).toBe(200);
      sessionCookie(ok);
    }
  });

  it('failed and successful logins are audited, the failures with the address they came from', async () => {
    const admin = await h.signup();
    await promoteToAdmin(h, admin);
    const log = await h.request({ method: 'GET', url: '/v1/audit-log?limit=100', as: admin });
    const failures = log
      .json()
      .data.filter((e: { action: string }) => e.action === 'auth.login_failed');
    expect(failures.length).toBeGreaterThan(10);
    for (const entry of failures) {
      expect(entry.ip).toMatch(/^198\.51\.100\.\d+$/);
      expect(JSON.stringify(entry)).not.toContain('guess');
    }
  });
});
