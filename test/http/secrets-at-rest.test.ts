import { existsSync, readFileSync } from 'node:fs';
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/secrets.ts';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  type Harness,
  promoteToAdmin,
  type RequestOptions,
  SECRETS_SEEN,
  sessionCookie,
  uniqueEmail,
} from '../helpers/harness.ts';

/**
 * R9: after a workload that makes every kind of secret (API keys, rotated keys, management and
 * service tokens, passwords old and new, wrong passwords, session ids, CSRF tokens), and after the
 * app has stopped and flushed, no secret is in the database files or tables, in the logs, or in
 * any response but the one that issued it.
 *
 * Vitest runs each file in its own process, so SECRETS_SEEN holds exactly this file's secrets:
 * the workload below makes them all itself.
 */

interface Recorded {
  label: string;
  /** The body and every header but set-cookie (the cookie is how a session id is issued). */
  text: string;
}

/** The strings that must not appear: the secret, and for keys and tokens its random part alone. */
function fragments(secret: string): string[] {
  const match = /^(?:sk_(?:live|test)_|kw[ms]_)([0-9a-f]{40})$/.exec(secret);
  if (match === null) return [secret];
  const random = match[1] as string;
  // The start and last4 are shown on purpose; the 32 characters between them never are.
  return [secret, random, random.slice(4, -4)];
}

function kindOf(secret: string): 'key' | 'token' | 'session' | 'other' {
  if (/^sk_(?:live|test)_[0-9a-f]{40}$/.test(secret)) return 'key';
  if (/^kw[ms]_[0-9a-f]{40}$/.test(secret)) return 'token';
  if (/^[A-Za-z0-9_-]{43}$/.test(secret)) return 'session';
  return 'other';
}

describe.each(DATABASES)('secrets at rest and in logs on $name (R9)', (kind) => {
  let h: Harness;
  let stopped = false;
  let storeClosed = false;
  const responses: Recorded[] = [];
  /** Secrets the harness does not see on its own (wrong passwords). */
  const extra = new Set<string>();
  /** Invitation and password-reset link tokens: answered once, by the invitation's creation. */
  const links = new Set<string>();
  /** CSRF tokens: answered by signup, login and /me on purpose, but never stored or logged. */
  const csrfTokens = new Set<string>();
  /** Values that must be stored (their hashes, ids, emails): proves the dumps are real. */
  const expectedStored: string[] = [];

  const call = async (label: string, options: RequestOptions) => {
    const response = await h.request(options);
    const headers = { ...response.headers };
    delete headers['set-cookie'];
    responses.push({ label, text: `${response.body}\n${JSON.stringify(headers)}` });
    return response;
  };

  const signup = async (ip: string): Promise<Account> => {
    const email = uniqueEmail('r9');
    const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
    SECRETS_SEEN.add(password);
    const response = await call('signup', {
      method: 'POST',
      url: '/v1/auth/signup',
      ip,
      body: { email, password },
    });
    expect(response.statusCode).toBe(201);
    const csrf = response.json().csrf_token as string;
    csrfTokens.add(csrf);
    expectedStored.push(email);
    return { id: response.json().user.id, email, password, cookie: sessionCookie(response), csrf };
  };

  const login = async (email: string, password: string, ip: string) => {
    SECRETS_SEEN.add(password);
    const response = await call('login', {
      method: 'POST',
      url: '/v1/auth/login',
      ip,
      headers: { 'user-agent': 'Mozilla/5.0 (R9 test)' },
      body: { email, password },
    });
    return response;
  };

  const session = (account: Account, response: LightMyRequestResponse): Account => {
    const csrf = response.json().csrf_token as string;
    csrfTokens.add(csrf);
    return { ...account, cookie: sessionCookie(response), csrf };
  };

  /** Creates a key; `kept` ones must still be in the tables at the end (their hash is checked). */
  const newKey = async (as: Account | string, body: Record<string, unknown>, kept = true) => {
    const auth = typeof as === 'string' ? { bearer: as } : { as };
    const response = await call('create key', { method: 'POST', url: '/v1/keys', body, ...auth });
    expect(response.statusCode).toBe(201);
    const json = response.json() as { id: string; key: string };
    if (kept) expectedStored.push(json.id, sha256Hex(json.key));
    return json;
  };

  const newToken = async (as: Account, scopes: string[], kept = true) => {
    const response = await call('create token', {
      method: 'POST',
      url: '/v1/tokens',
      as,
      body: { name: 'r9 token', scopes },
    });
    expect(response.statusCode).toBe(201);
    const json = response.json() as { id: string; token: string };
    if (kept) expectedStored.push(json.id, sha256Hex(json.token));
    return json;
  };

  /** Secrets an earlier run of this describe (the other database) made. */
  let earlier = new Set<string>();

  beforeAll(async () => {
    earlier = new Set(SECRETS_SEEN);
    h = await createHarness(kind);
    let admin = await signup('192.0.2.1');
    await promoteToAdmin(h, admin);
    let alice = await signup('192.0.2.2');
    let bob = await signup('192.0.2.3');

    // More sessions, and failed logins whose wrong passwords are secrets too.
    const typo = `${alice.password}!`;
    extra.add(typo);
    expect((await login(alice.email, typo, '192.0.2.2')).statusCode).toBe(401);
    const strangerPassword = `stranger-${Math.random().toString(36).slice(2)}`;
    extra.add(strangerPassword);
    expect((await login(uniqueEmail('ghost'), strangerPassword, '192.0.2.9')).statusCode).toBe(401);
    const laptop = session(alice, await login(alice.email, alice.password, '192.0.2.2'));
    alice = session(alice, await login(alice.email, alice.password, '192.0.2.4'));
    admin = session(admin, await login(admin.email, admin.password, '192.0.2.1'));

    // Keys of every shape, used by their holders.
    const live = await newKey(alice, { name: 'live key', metadata: { team: 'core' } });
    const test = await newKey(alice, { name: 'test key', environment: 'test' });
    const credited = await newKey(alice, {
      name: 'credited',
      credits: { remaining: 50 },
      limits: { daily: { requests: 100 } },
    });
    for (const key of [live.key, test.key, credited.key]) {
      expect(
        (await call('key holder', { method: 'GET', url: '/v1/key', bearer: key })).statusCode,
      ).toBe(200);
    }
    await call('key holder usage', {
      method: 'GET',
      url: '/v1/usage',
      headers: { 'x-api-key': test.key },
    });
    // A key in the query string of a request: the logs keep only the path.
    await call('key in query', { method: 'GET', url: `/v1/key?api_key=${live.key}` });
    await call('key in query 404', { method: 'GET', url: `/v1/nothing?key=${live.key}` });

    // Tokens: a management token that does work, a service token that verifies.
    const script = await newToken(alice, ['keys:read', 'keys:write', 'usage:read']);
    const scripted = await newKey(script.token, { name: 'by script' }, false);
    await call('list by token', { method: 'GET', url: '/v1/keys', bearer: script.token });
    await call('usage by token', {
      method: 'GET',
      url: `/v1/keys/${live.id}/usage`,
      bearer: script.token,
    });
    await call('logs by token', {
      method: 'GET',
      url: `/v1/keys/${live.id}/logs`,
      bearer: script.token,
    });
    const verifier = await newToken(admin, ['keys:verify']);
    for (const key of [live.key, test.key, credited.key, `sk_live_${'0'.repeat(40)}`]) {
      expect(
        (
          await call('verify', {
            method: 'POST',
            url: '/v1/verify',
            bearer: verifier.token,
            body: { key, cost: 2 },
          })
        ).statusCode,
      ).toBe(200);
    }
    // Refused credentials on the wrong routes.
    await call('key as management credential', {
      method: 'GET',
      url: '/v1/keys',
      bearer: live.key,
    });
    await call('management token on verify', {
      method: 'POST',
      url: '/v1/verify',
      bearer: script.token,
      body: { key: live.key },
    });

    // Rotation (with and without grace), revocation, deletion, disabling.
    const rotated = await call('rotate', {
      method: 'POST',
      url: `/v1/keys/${live.id}/rotate`,
      as: alice,
      body: { grace_period: '1h' },
    });
    expect(rotated.statusCode).toBe(201);
    const liveNext = rotated.json() as { id: string; key: string };
    expectedStored.push(sha256Hex(liveNext.key));
    for (const key of [live.key, liveNext.key]) {
      await call('verify after rotation', {
        method: 'POST',
        url: '/v1/verify',
        bearer: verifier.token,
        body: { key },
      });
    }
    const rotatedNow = await call('rotate now', {
      method: 'POST',
      url: `/v1/keys/${credited.id}/rotate`,
      as: laptop,
      body: { grace_period: '0' },
    });
    expect(rotatedNow.statusCode).toBe(201);
    await call('holder after rotation', {
      method: 'GET',
      url: '/v1/key',
      bearer: rotatedNow.json().key,
    });
    await call('revoke', { method: 'POST', url: `/v1/keys/${test.id}/revoke`, as: alice });
    await call('revoked key used', { method: 'GET', url: '/v1/key', bearer: test.key });
    await call('delete', {
      method: 'DELETE',
      url: `/v1/keys/${scripted.id}`,
      bearer: script.token,
    });
    await call('deleted key used', { method: 'GET', url: '/v1/key', bearer: scripted.key });
    await call('disable', {
      method: 'PATCH',
      url: `/v1/keys/${liveNext.id}`,
      as: alice,
      body: { enabled: false },
    });
    await call('enable', {
      method: 'PATCH',
      url: `/v1/keys/${liveNext.id}`,
      as: alice,
      body: { enabled: true },
    });

    // A token revoked and then presented again.
    const doomed = await newToken(alice, ['keys:read'], false);
    await call('use token', { method: 'GET', url: '/v1/keys', bearer: doomed.token });
    await call('revoke token', { method: 'DELETE', url: `/v1/tokens/${doomed.id}`, as: alice });
    await call('revoked token used', { method: 'GET', url: '/v1/keys', bearer: doomed.token });

    // Password change (a wrong current password first), then sign in with the new one.
    const wrongCurrent = `wrong-${Math.random().toString(36).slice(2)}`;
    extra.add(wrongCurrent);
    await call('password change, wrong current', {
      method: 'POST',
      url: '/v1/auth/password',
      as: alice,
      body: { current_password: wrongCurrent, new_password: 'never-used-password' },
    });
    extra.add('never-used-password');
    const newPassword = `new-${Math.random().toString(36).slice(2)}-secret`;
    SECRETS_SEEN.add(newPassword);
    const changed = await call('password change', {
      method: 'POST',
      url: '/v1/auth/password',
      as: alice,
      body: { current_password: alice.password, new_password: newPassword },
    });
    expect(changed.statusCode).toBe(200);
    // The change renews the session: its new id is a secret like any other, and is stored hashed.
    expectedStored.push(sha256Hex(sessionCookie(changed).split('=')[1] as string));
    await call('ended session', { method: 'GET', url: '/v1/auth/me', as: laptop });
    alice = session(
      { ...alice, password: newPassword },
      await login(alice.email, newPassword, '192.0.2.5'),
    );

    // Reads that show keys, tokens, sessions and the audit log.
    await call('me', { method: 'GET', url: '/v1/auth/me', as: alice });
    await call('list keys', { method: 'GET', url: '/v1/keys?limit=100', as: alice });
    await call('list revoked', { method: 'GET', url: '/v1/keys?status=revoked', as: alice });
    await call('get key', { method: 'GET', url: `/v1/keys/${liveNext.id}`, as: alice });
    await call('list tokens', { method: 'GET', url: '/v1/tokens', as: alice });
    await call('audit', { method: 'GET', url: '/v1/audit-log?limit=100', as: alice });
    await call('admin audit', { method: 'GET', url: '/v1/audit-log?limit=100', as: admin });
    await call('admin users', { method: 'GET', url: '/v1/admin/users', as: admin });

    // Bob works a little and signs out.
    bob = session(bob, await login(bob.email, bob.password, '192.0.2.3'));
    await newKey(bob, { name: "bob's" });
    await call('logout', { method: 'POST', url: '/v1/auth/logout', as: bob });
    await call('after logout', { method: 'GET', url: '/v1/auth/me', as: bob });

    // An invitation and a password-reset link, each used: their tokens are secrets too.
    const invited = await call('create invitation', {
      method: 'POST',
      url: '/v1/admin/invitations',
      as: admin,
      body: { email: uniqueEmail('r9-invited') },
    });
    expect(invited.statusCode).toBe(201);
    const inviteToken = String(invited.json().url).split('/').at(-1) as string;
    links.add(inviteToken);
    expectedStored.push(sha256Hex(inviteToken));
    const invitedPassword = `pw-${Math.random().toString(36).slice(2)}-invited`;
    SECRETS_SEEN.add(invitedPassword);
    const accepted = await call('accept invitation', {
      method: 'POST',
      url: '/v1/auth/invitations/accept',
      body: { token: inviteToken, password: invitedPassword },
    });
    expect(accepted.statusCode).toBe(201);
    csrfTokens.add(accepted.json().csrf_token);
    sessionCookie(accepted);
    const resetLink = await h.services.passwordResets.createLink(CLI_ACTOR, bob.email);
    const resetToken = resetLink.url.split('/').at(-1) as string;
    links.add(resetToken);
    expectedStored.push(sha256Hex(resetToken));
    const resetPassword = `pw-${Math.random().toString(36).slice(2)}-reset`;
    SECRETS_SEEN.add(resetPassword);
    const reset = await call('reset password', {
      method: 'POST',
      url: '/v1/auth/password-reset',
      body: { token: resetToken, new_password: resetPassword },
    });
    expect(reset.statusCode).toBe(204);
    await call('reset page', { method: 'GET', url: `/reset-password/${resetToken}` });
  });

  afterAll(async () => {
    if (!stopped) {
      await h.close();
      return;
    }
    if (!storeClosed) await h.services.store.close();
    await h.database.drop();
  });

  /** Every secret this run made (or, with `all`, any run of this file made). */
  const secrets = (all = false) => {
    const made = new Set([...SECRETS_SEEN, ...extra, ...csrfTokens, ...links]);
    return [...made].filter((s) => s.length >= 8 && (all || !earlier.has(s)));
  };

  it('made every kind of secret', () => {
    const kinds = secrets().map(kindOf);
    expect(kinds.filter((k) => k === 'key').length).toBeGreaterThanOrEqual(7);
    expect(kinds.filter((k) => k === 'token').length).toBeGreaterThanOrEqual(3);
    expect(kinds.filter((k) => k === 'session').length).toBeGreaterThanOrEqual(8);
    expect(kinds.filter((k) => k === 'other').length).toBeGreaterThanOrEqual(8);
  });

  it('no response shows a secret except the one answer that issued it', () => {
    for (const secret of secrets()) {
      const kind = kindOf(secret);
      for (const fragment of fragments(secret)) {
        const hits = responses.filter((r) => r.text.includes(fragment)).map((r) => r.label);
        if (kind === 'key') {
          expect(hits.length, `key shown in ${hits.join(', ')}`).toBe(1);
          expect(hits[0]).toMatch(/^(create key|rotate|rotate now)$/);
        } else if (kind === 'token') {
          expect(hits, 'token').toEqual(['create token']);
        } else if (links.has(secret)) {
          // An invitation's link is in the answer that creates it; a reset link only in the CLI.
          for (const hit of hits) expect(hit).toBe('create invitation');
        } else if (csrfTokens.has(secret)) {
          // Each CSRF token goes only to the holder of its session: signup, login, /me, invitation.
          expect(hits.length).toBeGreaterThan(0);
          for (const hit of hits) expect(hit).toMatch(/^(signup|login|me|accept invitation)$/);
        } else {
          expect(hits, `${kind} secret shown`).toEqual([]);
        }
      }
    }
  });

  it('a key pasted into a URL path reaches neither the answer nor the logs', async () => {
    const key = secrets().find((secret) => kindOf(secret) === 'key') as string;
    for (const url of [`/v1/keys/${key}`, `/v1/no-such-route/${key}`]) {
      const response = await h.app.inject({ method: 'GET', url });
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(response.body).not.toContain(key.slice(-36));
    }
  });

  it('no log line holds a secret', () => {
    expect(h.logs.length).toBeGreaterThan(50);
    const text = h.logs.join('\n');
    expect(text).toContain('/v1/verify');
    for (const secret of secrets(true)) {
      for (const fragment of fragments(secret)) {
        expect(text.includes(fragment), `${kindOf(secret)} secret in the logs`).toBe(false);
      }
    }
  });

  it('after a graceful stop, no secret is in the database, only hashes', async () => {
    // Stop the app and flush pending usage: nothing writes after this point.
    await h.app.close();
    await h.services.stop();
    stopped = true;

    const dumps: Array<{ where: string; content: string | Buffer }> = [];
    if (kind.name === 'sqlite') {
      const read = (phase: string) => {
        for (const file of h.database.files) {
          if (existsSync(file))
            dumps.push({ where: `${phase} ${file}`, content: readFileSync(file) });
        }
      };
      read('open');
      await h.services.store.close();
      storeClosed = true;
      // Closing checkpoints the WAL into the main file: read what is left once more.
      read('closed');
    } else {
      const client = new pg.Client({ connectionString: h.database.config.url });
      await client.connect();
      try {
        const tables = await client.query<{ table_name: string }>(
          "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
        );
        expect(tables.rows.map((r) => r.table_name)).toEqual(
          expect.arrayContaining([
            'users',
            'sessions',
            'api_keys',
            'tokens',
            'audit_log',
            'request_log',
          ]),
        );
        for (const { table_name } of tables.rows) {
          const rows = await client.query<{ row: string }>(
            `select t::text as row from "${table_name}" t`,
          );
          dumps.push({
            where: `table ${table_name}`,
            content: rows.rows.map((r) => r.row).join('\n'),
          });
        }
      } finally {
        await client.end();
      }
    }
    expect(dumps.length).toBeGreaterThan(0);
    const contains = (content: string | Buffer, needle: string) =>
      typeof content === 'string'
        ? content.includes(needle)
        : content.includes(Buffer.from(needle));

    // The dumps are real: what must be stored (ids, emails, hashes of keys, tokens, sessions) is there.
    for (const value of expectedStored) {
      expect(
        dumps.some((d) => contains(d.content, value)),
        `expected ${value} to be stored`,
      ).toBe(true);
    }
    for (const secret of secrets(true)) {
      for (const fragment of fragments(secret)) {
        const found = dumps.filter((d) => contains(d.content, fragment)).map((d) => d.where);
        expect(found, `${kindOf(secret)} secret stored in plain text`).toEqual([]);
      }
    }
  });
});
