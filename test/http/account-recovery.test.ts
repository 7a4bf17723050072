// Password reset links and invitations over the real app and database: single use, expiry on the
// manual clock, sessions ended, only hashes stored, throttling, and the SIGNUP modes.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/secrets.ts';
import { CLI_ACTOR } from '../../src/services/actor.ts';
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

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NEW_PASSWORD = 'a brand new passphrase for this';

function tokenOf(url: string): string {
  const token = url.slice(url.lastIndexOf('/') + 1);
  SECRETS_SEEN.add(token);
  return token;
}

const me = (h: Harness, account: Account) =>
  h.request({ method: 'GET', url: '/v1/auth/me', as: account });

const login = (h: Harness, email: string, password: string) =>
  h.request({ method: 'POST', url: '/v1/auth/login', body: { email, password } });

const reset = (h: Harness, token: string, password = NEW_PASSWORD, ip?: string) =>
  h.request({
    method: 'POST',
    url: '/v1/auth/password-reset',
    body: { token, new_password: password },
    ...(ip !== undefined && { ip }),
  });

function code(response: LightMyRequestResponse): string {
  return (response.json() as { error: { code: string } }).error.code;
}

/** Every row of the account-recovery tables and the audit log, as text. */
async function storedText(h: Harness): Promise<string> {
  const db = h.services.store.db;
  const rows = [
    ...(await db.selectFrom('password_resets').selectAll().execute()),
    ...(await db.selectFrom('invitations').selectAll().execute()),
    ...(await db.selectFrom('audit_log').selectAll().execute()),
  ];
  return JSON.stringify(rows);
}

describe.each(DATABASES)('password reset links on $name', (kind) => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness(kind, { LOGIN_MAX_FAILURES_PER_IP: '4' });
  });
  afterAll(async () => {
    await h.close();
  });

  it('a link sets a new password once, ends every session, and is audited', async () => {
    const account = await h.signup();
    const other = await h.signup();
    const link = await h.services.passwordResets.createLink(CLI_ACTOR, account.email);
    expect(link.url).toMatch(/^http:\/\/localhost:8080\/reset-password\/[0-9a-f]{64}$/);
    expect(link.expiresAt).toBe(h.clock.now() + HOUR);
    const token = tokenOf(link.url);

    expect((await me(h, account)).statusCode).toBe(200);
    const used = await reset(h, token);
    expect(used.statusCode).toBe(204);
    // Every session of the account is over; another account's is not.
    expect((await me(h, account)).statusCode).toBe(401);
    expect((await me(h, other)).statusCode).toBe(200);
    const rows = await h.services.store.db
      .selectFrom('sessions')
      .select('id_hash')
      .where('user_id', '=', account.id)
      .execute();
    expect(rows).toEqual([]);

    expect((await login(h, account.email, account.password)).statusCode).toBe(401);
    expect((await login(h, account.email, NEW_PASSWORD)).statusCode).toBe(200);

    const again = await reset(h, token, 'yet another passphrase here');
    expect(again.statusCode).toBe(400);
    expect(code(again)).toBe('invalid_link');
    expect((await login(h, account.email, NEW_PASSWORD)).statusCode).toBe(200);

    const actions = await h.services.store.db
      .selectFrom('audit_log')
      .select(['action', 'actor_type'])
      .where('owner_id', '=', account.id)
      .where('action', 'like', 'account.password_reset%')
      .orderBy('seq')
      .execute();
    expect(actions).toEqual([
      { action: 'account.password_reset_requested', actor_type: 'cli' },
      { action: 'account.password_reset', actor_type: 'anonymous' },
    ]);
  });

  it('a link expires after one hour', async () => {
    const account = await h.signup();
    const token = tokenOf(
      (await h.services.passwordResets.createLink(CLI_ACTOR, account.email)).url,
    );
    h.clock.advance(HOUR);
    const late = await reset(h, token);
    expect(late.statusCode).toBe(400);
    expect(code(late)).toBe('invalid_link');
    expect((await login(h, account.email, account.password)).statusCode).toBe(200);

    const fresh = tokenOf(
      (await h.services.passwordResets.createLink(CLI_ACTOR, account.email)).url,
    );
    h.clock.advance(HOUR - 1000);
    expect((await reset(h, fresh)).statusCode).toBe(204);
  });

  it('the password policy applies, and a refused password leaves the link usable', async () => {
    const account = await h.signup();
    const token = tokenOf(
      (await h.services.passwordResets.createLink(CLI_ACTOR, account.email)).url,
    );
    const weak = await reset(h, token, 'short');
    expect(weak.statusCode).toBe(400);
    expect(code(weak)).toBe('validation_error');
    const common = await reset(h, token, 'password1234');
    expect(code(common)).toBe('validation_error');
    expect((await reset(h, token)).statusCode).toBe(204);
  });

  it('a newer link closes the older one', async () => {
    const account = await h.signup();
    const first = tokenOf(
      (await h.services.passwordResets.createLink(CLI_ACTOR, account.email)).url,
    );
    const second = tokenOf(
      (await h.services.passwordResets.createLink(CLI_ACTOR, account.email)).url,
    );
    expect(code(await reset(h, first))).toBe('invalid_link');
    expect((await reset(h, second)).statusCode).toBe(204);
  });

  it('the same link submitted twice at once works exactly once', async () => {
    const account = await h.signup();
    const token = tokenOf(
      (await h.services.passwordResets.createLink(CLI_ACTOR, account.email)).url,
    );
    const answers = await Promise.all([
      reset(h, token, 'the first concurrent passphrase'),
      reset(h, token, 'the second concurrent passphrase'),
    ]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([204, 400]);
  });

  it('stores only the SHA-256 of a link token, never the token', async () => {
    const account = await h.signup();
    const token = tokenOf(
      (await h.services.passwordResets.createLink(CLI_ACTOR, account.email)).url,
    );
    const row = await h.services.store.db
      .selectFrom('password_resets')
      .selectAll()
      .where('token_hash', '=', sha256Hex(token))
      .executeTakeFirst();
    expect(row?.user_id).toBe(account.id);
    expect(await storedText(h)).not.toContain(token);
    expect(await storedText(h)).not.toContain(token.slice(0, 32));
    await reset(h, token);
    expect(await storedText(h)).not.toContain(token);
    expect(h.logs.join('')).not.toContain(token);
  });

  it('refuses malformed and unknown tokens alike, and throttles an address that keeps trying', async () => {
    const ip = '198.51.100.23';
    for (const token of ['nope', 'f'.repeat(64), 'F'.repeat(64), `${'a'.repeat(63)}g`]) {
      const answer = await reset(h, token, NEW_PASSWORD, ip);
      expect(answer.statusCode).toBe(400);
      expect(code(answer)).toBe('invalid_link');
    }
    const blocked = await reset(h, 'a'.repeat(64), NEW_PASSWORD, ip);
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // A valid link from another address still works; this address waits out the window.
    const account = await h.signup();
    const token = tokenOf(
      (await h.services.passwordResets.createLink(CLI_ACTOR, account.email)).url,
    );
    expect((await reset(h, token, NEW_PASSWORD, ip)).statusCode).toBe(429);
    h.clock.advance(15 * 60_000);
    expect((await reset(h, token, NEW_PASSWORD, ip)).statusCode).toBe(204);
  });

  it('a disabled account cannot be reset', async () => {
    const account = await h.signup();
    const token = tokenOf(
      (await h.services.passwordResets.createLink(CLI_ACTOR, account.email)).url,
    );
    await h.services.accounts.update(CLI_ACTOR, account.id, { disabled: true });
    const answer = await reset(h, token);
    expect(answer.statusCode).toBe(403);
    expect(code(answer)).toBe('account_disabled');
  });

  it('validates the body and refuses a cross-site Origin', async () => {
    const missing = await h.request({
      method: 'POST',
      url: '/v1/auth/password-reset',
      body: { token: 'a'.repeat(64) },
    });
    expect(missing.statusCode).toBe(400);
    const extra = await h.request({
      method: 'POST',
      url: '/v1/auth/password-reset',
      body: { token: 'a'.repeat(64), new_password: NEW_PASSWORD, email: 'x@example.com' },
    });
    expect(extra.statusCode).toBe(400);
    const crossSite = await h.request({
      method: 'POST',
      url: '/v1/auth/password-reset',
      body: { token: 'a'.repeat(64), new_password: NEW_PASSWORD },
      headers: { origin: 'https://evil.example' },
    });
    expect(crossSite.statusCode).toBe(403);
    expect(code(crossSite)).toBe('csrf_failed');
  });

  it('without mail, the options say so and forgot-password answers 403', async () => {
    const options = await h.request({ method: 'GET', url: '/v1/auth/options' });
    expect(options.statusCode).toBe(200);
    expect(options.json()).toEqual({ signup: 'open', password_reset_by_email: false });
    const forgot = await h.request({
      method: 'POST',
      url: '/v1/auth/forgot-password',
      body: { email: 'someone@example.com' },
    });
    expect(forgot.statusCode).toBe(403);
    expect(code(forgot)).toBe('mail_not_configured');
  });
});

async function signInAgain(h: Harness, account: Account): Promise<Account> {
  const answer = await login(h, account.email, account.password);
  if (answer.statusCode !== 200) throw new Error(`login: ${answer.statusCode} ${answer.body}`);
  return { ...account, cookie: sessionCookie(answer), csrf: answer.json().csrf_token };
}

async function adminAccount(h: Harness): Promise<Account> {
  const admin = await h.signup();
  await promoteToAdmin(h, admin);
  return admin;
}

async function invite(
  h: Harness,
  admin: Account,
  body: Record<string, unknown> = {},
): Promise<{ id: string; token: string; json: Record<string, unknown> }> {
  const answer = await h.request({ method: 'POST', url: '/v1/admin/invitations', as: admin, body });
  if (answer.statusCode !== 201) throw new Error(`invite: ${answer.statusCode} ${answer.body}`);
  const json = answer.json() as { id: string; url: string };
  return { id: json.id, token: tokenOf(json.url), json };
}

const accept = (h: Harness, body: Record<string, unknown>) => {
  if (typeof body.password === 'string') SECRETS_SEEN.add(body.password);
  return h.request({ method: 'POST', url: '/v1/auth/invitations/accept', body });
};

describe.each(DATABASES)('invitations on $name (SIGNUP=invite)', (kind) => {
  let h: Harness;
  let admin: Account;

  beforeAll(async () => {
    h = await createHarness(kind, { SIGNUP: 'invite' });
    // Sign-up is by invitation: the first admin is made the way the CLI makes it.
    const email = uniqueEmail('admin');
    const password = 'the first admin passphrase';
    await h.services.accounts.createUser(CLI_ACTOR, { email, password, role: 'admin' });
    const answer = await login(h, email, password);
    admin = {
      id: answer.json().user.id,
      email,
      password,
      cookie: sessionCookie(answer),
      csrf: answer.json().csrf_token,
    };
  });
  afterAll(async () => {
    await h.close();
  });

  it('sign-up without an invitation is refused; the options say invite', async () => {
    const answer = await h.request({
      method: 'POST',
      url: '/v1/auth/signup',
      body: { email: uniqueEmail(), password: NEW_PASSWORD },
    });
    expect(answer.statusCode).toBe(403);
    expect(code(answer)).toBe('invitation_required');
    const options = await h.request({ method: 'GET', url: '/v1/auth/options' });
    expect(options.json().signup).toBe('invite');
  });

  it('an invitation for an email creates that account once, with its role and plan', async () => {
    const email = uniqueEmail('invitee');
    const created = await invite(h, admin, { email: email.toUpperCase(), plan: 'pro' });
    expect(created.json).toMatchObject({
      object: 'invitation',
      email,
      role: 'user',
      plan: 'pro',
      status: 'pending',
      mailed: false,
      expires_at: new Date(h.clock.now() + 7 * DAY).toISOString(),
    });
    expect(created.json.url).toBe(`http://localhost:8080/invite/${created.token}`);

    const preview = await h.request({
      method: 'POST',
      url: '/v1/auth/invitations/lookup',
      body: { token: created.token },
    });
    expect(preview.statusCode).toBe(200);
    expect(preview.json()).toMatchObject({ email, plan: 'pro', status: 'pending' });
    expect(preview.json()).not.toHaveProperty('url');

    const wrongEmail = await accept(h, {
      token: created.token,
      email: uniqueEmail('someone-else'),
      password: NEW_PASSWORD,
    });
    expect(wrongEmail.statusCode).toBe(400);
    expect(code(wrongEmail)).toBe('validation_error');

    const accepted = await accept(h, { token: created.token, password: NEW_PASSWORD });
    expect(accepted.statusCode).toBe(201);
    expect(accepted.json().user).toMatchObject({ email, role: 'user', plan: 'pro' });
    const account = {
      id: accepted.json().user.id,
      email,
      password: NEW_PASSWORD,
      cookie: sessionCookie(accepted),
      csrf: accepted.json().csrf_token,
    };
    expect((await me(h, account)).statusCode).toBe(200);

    const again = await accept(h, {
      token: created.token,
      email: uniqueEmail(),
      password: NEW_PASSWORD,
    });
    expect(again.statusCode).toBe(400);
    expect(code(again)).toBe('invalid_link');

    const list = await h.request({ method: 'GET', url: '/v1/admin/invitations', as: admin });
    const listed = list.json().data.find((i: { id: string }) => i.id === created.id);
    expect(listed).toMatchObject({ status: 'accepted', accepted_user_id: account.id });
  });

  it('an open invitation needs an email, and may make an admin', async () => {
    const created = await invite(h, admin, { role: 'admin' });
    expect(created.json.email).toBeNull();
    const noEmail = await accept(h, { token: created.token, password: NEW_PASSWORD });
    expect(noEmail.statusCode).toBe(400);
    const email = uniqueEmail('new-admin');
    const accepted = await accept(h, { token: created.token, email, password: NEW_PASSWORD });
    expect(accepted.statusCode).toBe(201);
    expect(accepted.json().user.role).toBe('admin');
  });

  it('a taken email leaves the invitation usable', async () => {
    const created = await invite(h, admin);
    const taken = await accept(h, {
      token: created.token,
      email: admin.email,
      password: NEW_PASSWORD,
    });
    expect(taken.statusCode).toBe(409);
    expect(code(taken)).toBe('email_taken');
    const ok = await accept(h, {
      token: created.token,
      email: uniqueEmail(),
      password: NEW_PASSWORD,
    });
    expect(ok.statusCode).toBe(201);
  });

  it('two people using one invitation at once: exactly one account is created', async () => {
    const created = await invite(h, admin);
    const emails = [uniqueEmail('racer'), uniqueEmail('racer')];
    const answers = await Promise.all(
      emails.map((email) => accept(h, { token: created.token, email, password: NEW_PASSWORD })),
    );
    expect(answers.map((a) => a.statusCode).sort()).toEqual([201, 400]);
    const users = await h.services.store.db
      .selectFrom('users')
      .select('id')
      .where('email', 'in', emails)
      .execute();
    expect(users).toHaveLength(1);
  });

  it('expires (default 7 days, or expires_in)', async () => {
    const week = await invite(h, admin);
    const short = await invite(h, admin, { expires_in: '2h' });
    h.clock.advance(2 * HOUR);
    expect(
      code(await accept(h, { token: short.token, email: uniqueEmail(), password: NEW_PASSWORD })),
    ).toBe('invalid_link');
    h.clock.advance(7 * DAY - 2 * HOUR);
    expect(
      code(await accept(h, { token: week.token, email: uniqueEmail(), password: NEW_PASSWORD })),
    ).toBe('invalid_link');
    // A week on, the admin's session is over too.
    admin = await signInAgain(h, admin);
    const list = await h.request({ method: 'GET', url: '/v1/admin/invitations', as: admin });
    const statuses = Object.fromEntries(
      list.json().data.map((i: { id: string; status: string }) => [i.id, i.status]),
    );
    expect(statuses[week.id]).toBe('expired');
    expect(statuses[short.id]).toBe('expired');
    for (const bad of ['30m', '31d', 'soon']) {
      const answer = await h.request({
        method: 'POST',
        url: '/v1/admin/invitations',
        as: admin,
        body: { expires_in: bad },
      });
      expect(answer.statusCode).toBe(400);
    }
  });

  it('revoking stops the link at once; revoking twice is a conflict', async () => {
    const created = await invite(h, admin);
    const revoked = await h.request({
      method: 'DELETE',
      url: `/v1/admin/invitations/${created.id}`,
      as: admin,
    });
    expect(revoked.statusCode).toBe(204);
    const lookup = await h.request({
      method: 'POST',
      url: '/v1/auth/invitations/lookup',
      body: { token: created.token },
    });
    expect(code(lookup)).toBe('invalid_link');
    const twice = await h.request({
      method: 'DELETE',
      url: `/v1/admin/invitations/${created.id}`,
      as: admin,
    });
    expect(twice.statusCode).toBe(409);
    const unknown = await h.request({
      method: 'DELETE',
      url: '/v1/admin/invitations/inv_nope',
      as: admin,
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('only admins create, list and revoke invitations; bad input is a 400', async () => {
    const created = await invite(h, admin, { email: uniqueEmail('plain') });
    const user = await accept(h, { token: created.token, password: NEW_PASSWORD });
    const plain = {
      id: user.json().user.id,
      email: String(created.json.email),
      password: NEW_PASSWORD,
      cookie: sessionCookie(user),
      csrf: user.json().csrf_token,
    };
    for (const [method, url] of [
      ['POST', '/v1/admin/invitations'],
      ['GET', '/v1/admin/invitations'],
      ['DELETE', `/v1/admin/invitations/${created.id}`],
    ] as const) {
      const answer = await h.request({
        method,
        url,
        as: plain,
        ...(method === 'POST' && { body: {} }),
      });
      expect(answer.statusCode).toBe(403);
    }
    for (const body of [
      { plan: 'platinum' },
      { email: 'not an email' },
      { role: 'owner' },
      { extra: 1 },
    ]) {
      const answer = await h.request({
        method: 'POST',
        url: '/v1/admin/invitations',
        as: admin,
        body,
      });
      expect(answer.statusCode).toBe(400);
    }
    const taken = await h.request({
      method: 'POST',
      url: '/v1/admin/invitations',
      as: admin,
      body: { email: admin.email },
    });
    expect(taken.statusCode).toBe(409);
  });

  it('pages through the list', async () => {
    for (let i = 0; i < 3; i += 1) await invite(h, admin);
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const answer: LightMyRequestResponse = await h.request({
        method: 'GET',
        url: `/v1/admin/invitations?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`,
        as: admin,
      });
      expect(answer.statusCode).toBe(200);
      for (const item of answer.json().data) seen.add(item.id);
      cursor = answer.json().next_cursor;
    } while (cursor !== null);
    const total = await h.services.store.db
      .selectFrom('invitations')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(seen.size).toBe(Number(total.n));
  });

  it('stores only the SHA-256 of an invitation token', async () => {
    const created = await invite(h, admin, { email: uniqueEmail('hashed') });
    const text = await storedText(h);
    expect(text).toContain(sha256Hex(created.token));
    expect(text).not.toContain(created.token);
    await accept(h, { token: created.token, password: NEW_PASSWORD });
    expect(await storedText(h)).not.toContain(created.token);
    // The dashboard page the link opens is a logged request: its path is logged masked.
    await h.request({ method: 'GET', url: `/invite/${created.token}` });
    await h.request({ method: 'GET', url: `/reset-password/${created.token}` });
    expect(h.logs.join('')).toContain(`/invite/${created.token.slice(0, 4)}…`);
    expect(h.logs.join('')).not.toContain(created.token);
  });
});

describe.each(DATABASES)('SIGNUP=closed on $name', (kind) => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness(kind, { SIGNUP: 'closed' });
  });
  afterAll(async () => {
    await h.close();
  });

  it('refuses sign-up and invitations; the CLI still creates accounts', async () => {
    const signup = await h.request({
      method: 'POST',
      url: '/v1/auth/signup',
      body: { email: uniqueEmail(), password: NEW_PASSWORD },
    });
    expect(signup.statusCode).toBe(403);
    expect(code(signup)).toBe('signup_closed');
    expect((await h.request({ method: 'GET', url: '/v1/auth/options' })).json().signup).toBe(
      'closed',
    );

    const email = uniqueEmail('operator');
    await h.services.accounts.createUser(CLI_ACTOR, {
      email,
      password: NEW_PASSWORD,
      role: 'admin',
    });
    const answer = await login(h, email, NEW_PASSWORD);
    expect(answer.statusCode).toBe(200);
    const admin = {
      id: answer.json().user.id,
      email,
      password: NEW_PASSWORD,
      cookie: sessionCookie(answer),
      csrf: answer.json().csrf_token,
    };
    const invitation = await h.request({
      method: 'POST',
      url: '/v1/admin/invitations',
      as: admin,
      body: {},
    });
    expect(invitation.statusCode).toBe(403);
    expect(code(invitation)).toBe('signup_closed');
    const accepted = await accept(h, { token: 'a'.repeat(64), email, password: NEW_PASSWORD });
    expect(code(accepted)).toBe('signup_closed');
    // Password reset is not sign-up: it works in every mode.
    const link = await h.services.passwordResets.createLink(CLI_ACTOR, email);
    expect((await reset(h, tokenOf(link.url), 'the operator new passphrase')).statusCode).toBe(204);
  });
});

describe.each(DATABASES)('SIGNUP=open on $name', (kind) => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness(kind);
  });
  afterAll(async () => {
    await h.close();
  });

  it('anyone signs up, and invitations work too', async () => {
    const admin = await adminAccount(h);
    const created = await invite(h, admin, { plan: 'enterprise' });
    const accepted = await accept(h, {
      token: created.token,
      email: uniqueEmail(),
      password: NEW_PASSWORD,
    });
    expect(accepted.statusCode).toBe(201);
    expect(accepted.json().user.plan).toBe('enterprise');
  });
});
