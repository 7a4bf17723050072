import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { sha256Hex } from '../../src/core/secrets.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import { openStore } from '../../src/storage/database.ts';
import {
  findLookalikeAccounts,
  migrateToLatest,
  migrateUpTo,
} from '../../src/storage/migrations.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  type Harness,
  SECRETS_SEEN,
  sessionCookie,
  uniqueEmail,
} from '../helpers/harness.ts';

const signupWith = (h: Harness, email: string, password: string, ip?: string) => {
  SECRETS_SEEN.add(password);
  return h.request({
    method: 'POST',
    url: '/v1/auth/signup',
    body: { email, password },
    ...(ip !== undefined && { ip }),
  });
};

const login = (h: Harness, email: string, password: string, ip?: string) => {
  SECRETS_SEEN.add(password);
  return h.request({
    method: 'POST',
    url: '/v1/auth/login',
    body: { email, password },
    ...(ip !== undefined && { ip }),
  });
};

const changePassword = (
  h: Harness,
  as: Account,
  current: string,
  next: string,
  ip?: string,
): Promise<LightMyRequestResponse> => {
  SECRETS_SEEN.add(next);
  return h.request({
    method: 'POST',
    url: '/v1/auth/password',
    as,
    body: { current_password: current, new_password: next },
    ...(ip !== undefined && { ip }),
  });
};

const me = (h: Harness, as: Account) => h.request({ method: 'GET', url: '/v1/auth/me', as });

/** Resolves once `done()` holds, checking after every turn of the event loop. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
}

describe.each(DATABASES)('password policy and email look-alikes on $name (issue 11.5)', (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(kind);
  });
  afterAll(async () => {
    await h.close();
  });

  it('sign-up refuses short, space-padded, common (any case) and email-equal passwords', async () => {
    const email = uniqueEmail('policy');
    for (const password of [
      'password',
      '12345678',
      '        x',
      `${' '.repeat(11)}x${' '.repeat(4)}`,
      'correct horse battery staple',
      'CorrectHorseBatteryStaple',
      'PASSWORD1234',
      '1qaz2wsx3edc',
      email.toUpperCase(),
    ]) {
      const response = await signupWith(h, email, password);
      expect(response.statusCode, JSON.stringify(password)).toBe(400);
      expect(response.json().error.code).toBe('validation_error');
    }
    const accepted = await signupWith(h, email, 'plum kettle orbit 42');
    expect(accepted.statusCode).toBe(201);
    sessionCookie(accepted);
  });

  it('emails are normalised before the uniqueness check: zero-width and full-width look-alikes are refused', async () => {
    const local = `alice${Date.now()}`;
    const email = `${local}@example.com`;
    const password = 'alice owns this address';
    const first = await signupWith(h, email, password);
    expect(first.statusCode).toBe(201);
    sessionCookie(first);
    expect(first.json().user.email).toBe(email);
    const fullWidth = `ａ${local.slice(1)}@example.com`;
    for (const lookalike of [
      `${email}\u200b`,
      `${local.slice(0, 2)}\u200d${local.slice(2)}@example.com`,
      `\ufeff${email}`,
      fullWidth,
      `${local.toUpperCase()}@EXAMPLE.COM`,
    ]) {
      const response = await signupWith(h, lookalike, 'a different good password');
      expect(response.statusCode, JSON.stringify(lookalike)).toBe(409);
      expect(response.json().error.code).toBe('email_taken');
    }
    // Signing in with a look-alike of one's own address reaches the one account.
    const viaFullWidth = await login(h, fullWidth, password);
    expect(viaFullWidth.statusCode).toBe(200);
    expect(viaFullWidth.json().user.email).toBe(email);
    sessionCookie(viaFullWidth);
  });

  it('password change: a new session id, the old one ended server-side, other sessions ended, a new CSRF token', async () => {
    const account = await h.signup();
    const other = await login(h, account.email, account.password, '192.0.2.60');
    const phone = { ...account, cookie: sessionCookie(other), csrf: other.json().csrf_token };

    const same = await changePassword(h, account, account.password, account.password);
    expect(same.statusCode).toBe(400);
    expect(same.json().error.message).toMatch(/differ/);
    const common = await changePassword(h, account, account.password, 'qwertyuiop123');
    expect(common.statusCode).toBe(400);

    const next = `renewed ${Math.random().toString(36).slice(2)} secret`;
    const changed = await changePassword(h, account, account.password, next);
    expect(changed.statusCode).toBe(200);
    const renewed: Account = {
      ...account,
      password: next,
      cookie: sessionCookie(changed),
      csrf: changed.json().csrf_token,
    };
    expect(renewed.cookie).not.toBe(account.cookie);
    expect(renewed.csrf).not.toBe(account.csrf);
    const rows = await h.services.store.db
      .selectFrom('sessions')
      .select('id_hash')
      .where('user_id', '=', account.id)
      .execute();
    const value = renewed.cookie.slice(renewed.cookie.indexOf('=') + 1);
    expect(rows.map((r) => r.id_hash)).toEqual([sha256Hex(value)]);
    for (const ended of [account, phone]) {
      const response = await me(h, ended);
      expect(response.statusCode).toBe(401);
      expect(response.json().error.code).toBe('session_expired');
    }
    expect((await me(h, renewed)).statusCode).toBe(200);
    // The new CSRF token works for a write; the old one does not.
    const write = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: renewed,
      body: { name: 'after the change' },
    });
    expect(write.statusCode).toBe(201);
    const stale = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: { ...renewed, csrf: account.csrf },
      body: { name: 'stale token' },
    });
    expect(stale.statusCode).toBe(403);
    expect((await login(h, account.email, next)).statusCode).toBe(200);
  });

  it('migration 0002 normalises stored emails and reports look-alike groups without changing them', async () => {
    // A database as the first release left it (0001 only), upgraded with these rows in it.
    const database = await kind.create();
    const store = openStore(database.config);
    const db = store.db;
    await migrateUpTo(db, store.dialect, '0001_initial');
    const tag = Date.now();
    const rows = [
      { id: `usr_la_a_${tag}`, email: `carol${tag}@example.com` },
      { id: `usr_la_b_${tag}`, email: `carol${tag}@example.com\u200b` },
      { id: `usr_la_c_${tag}`, email: `ｃarol${tag}@example.com` },
      { id: `usr_la_d_${tag}`, email: `ＤＡＮ${tag}@example.com` },
    ];
    for (const row of rows) {
      await db
        .insertInto('users')
        .values({
          id: row.id,
          email: row.email,
          password_hash: 'not-a-hash',
          role: 'user',
          plan: 'free',
          disabled: 0,
          created_at: 0,
          updated_at: 0,
        })
        .execute();
    }
    const report = await migrateToLatest(db, store.dialect);
    expect(report.applied[0]).toBe('0002_normalised_emails');
    const carol = report.lookalikes.find((g) => g.normalised === `carol${tag}@example.com`);
    expect(carol?.accounts.map((a) => a.id).sort()).toEqual(rows.slice(0, 3).map((r) => r.id));
    expect(report.lookalikes.some((g) => g.normalised === `dan${tag}@example.com`)).toBe(false);
    const stored = await db
      .selectFrom('users')
      .select(['id', 'email'])
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('id')
      .execute();
    expect(stored).toEqual([
      rows[0],
      rows[1],
      rows[2],
      { id: rows[3]?.id, email: `dan${tag}@example.com` },
    ]);
    expect((await findLookalikeAccounts(db)).map((g) => g.normalised)).toContain(
      `carol${tag}@example.com`,
    );
    await store.close();
    await database.drop();
  });
});

describe.each(DATABASES)(
  'password change throttle and argon2 bound on $name (issue 11.2)',
  (kind) => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness(kind, {
        LOGIN_MAX_FAILURES_PER_ACCOUNT_IP: '3',
        LOGIN_MAX_FAILURES_PER_ACCOUNT: '50',
        LOGIN_MAX_FAILURES_PER_IP: '30',
        PASSWORD_HASH_CONCURRENCY: '1',
        PASSWORD_HASH_QUEUE: '2',
      });
    });
    afterAll(async () => {
      await h.close();
    });

    it('wrong current passwords are throttled like logins (429 with Retry-After) and each failure is audited', async () => {
      const account = await h.signup();
      const ip = '198.51.100.77';
      for (let i = 0; i < 3; i++) {
        const wrong = await changePassword(
          h,
          account,
          `wrong guess ${i} here`,
          'brand new secret one',
          ip,
        );
        expect(wrong.statusCode).toBe(401);
        expect(wrong.json().error.code).toBe('invalid_credentials');
      }
      const blocked = await changePassword(
        h,
        account,
        account.password,
        'brand new secret one',
        ip,
      );
      expect(blocked.statusCode).toBe(429);
      expect(blocked.json().error.code).toBe('too_many_attempts');
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      // Signing in from that address is blocked by the same count.
      expect((await login(h, account.email, account.password, ip)).statusCode).toBe(429);

      const log = await h.request({ method: 'GET', url: '/v1/audit-log?limit=100', as: account });
      const failures = (
        log.json().data as Array<{ action: string; ip: string; actor_id: string }>
      ).filter((e) => e.action === 'account.password_change_failed');
      expect(failures).toHaveLength(3);
      for (const entry of failures) {
        expect(entry.ip).toBe(ip);
        expect(entry.actor_id).toBe(account.id);
        expect(JSON.stringify(entry)).not.toContain('wrong guess');
      }
    });

    it('beyond the hashing concurrency and its queue, password checks are refused at once with 503 and Retry-After', async () => {
      const account = await h.signup();
      let release = () => {};
      const held = h.services.accounts.hasher.gate.run(
        () => new Promise<void>((resolve) => (release = resolve)),
      );
      // One slot (held above) and a queue of two: of six sign-ins, two wait and four are refused.
      const answers: LightMyRequestResponse[] = [];
      const requests = Array.from({ length: 6 }, (_, i) =>
        login(h, account.email, `not the password ${i}`, `198.51.100.${100 + i}`).then((r) => {
          answers.push(r);
          return r;
        }),
      );
      await until(() => answers.length >= 4);
      expect(answers.map((r) => r.statusCode)).toEqual([503, 503, 503, 503]);
      for (const refused of answers) {
        expect(refused.json().error.code).toBe('service_unavailable');
        expect(refused.headers['retry-after']).toBe('1');
      }
      release();
      await held;
      const all = await Promise.all(requests);
      expect(all.filter((r) => r.statusCode === 503)).toHaveLength(4);
      expect(all.filter((r) => r.statusCode === 401)).toHaveLength(2);
      // A refusal for capacity is not a failed guess: the right password still gets in.
      expect((await login(h, account.email, account.password, '198.51.100.100')).statusCode).toBe(
        200,
      );
    });
  },
);

describe('look-alike report at start-up (issue 11.5)', () => {
  it('the server that applies 0002 logs each look-alike group as a warning, escapes visible', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-lookalike-'));
    const url = `sqlite:${join(dir, 'keyward.db')}`;
    try {
      const config = loadConfig({ DATABASE_URL: url, PORT: '0', HOST: '127.0.0.1' });
      const store = openStore(config.database);
      // As a database written before 0002 existed.
      await migrateUpTo(store.db, store.dialect, '0001_initial');
      for (const [id, email] of [
        ['usr_start_a', 'erin@example.com'],
        ['usr_start_b', 'ｅrin@example.com'],
      ] as const) {
        await store.db
          .insertInto('users')
          .values({
            id,
            email,
            password_hash: 'not-a-hash',
            role: 'user',
            plan: 'free',
            disabled: 0,
            created_at: 0,
            updated_at: 0,
          })
          .execute();
      }
      await store.close();
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _encoding, callback) {
          lines.push(String(chunk));
          callback();
        },
      });
      const server = await startServer(config, createLogger('info', sink));
      await server.close();
      const warnings = lines
        .map((line) => JSON.parse(line) as { level: number; msg: string; accounts?: unknown })
        .filter((line) => line.msg.startsWith('look-alike accounts'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.level).toBe(40);
      expect(warnings[0]?.accounts).toEqual([
        { id: 'usr_start_a', email: '"erin@example.com"' },
        { id: 'usr_start_b', email: '"\\uff45rin@example.com"' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(DATABASES)('smaller hardening on $name (issue 11.7)', (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(kind, {
      KEY_CACHE_SIZE: '10',
      INVALIDATION_BUS: 'local',
      SESSION_IDLE_TIMEOUT: '30s',
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('a flood of unknown tokens does not push a valid token out of the cache', async () => {
    const owner = await h.signup();
    const created = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: owner,
      body: { name: 'ci', scopes: ['keys:read'] },
    });
    expect(created.statusCode).toBe(201);
    const token = created.json().token as string;
    expect((await h.request({ method: 'GET', url: '/v1/keys', bearer: token })).statusCode).toBe(
      200,
    );
    for (let i = 0; i < 30; i++) {
      const fake = `kwm_${i.toString(16).padStart(40, 'f')}`;
      const refused = await h.request({ method: 'GET', url: '/v1/keys', bearer: fake });
      expect(refused.statusCode).toBe(401);
    }
    // Removed behind the cache's back (no invalidation): only a cached entry can still answer.
    await h.services.store.db.deleteFrom('tokens').where('id', '=', created.json().id).execute();
    expect((await h.request({ method: 'GET', url: '/v1/keys', bearer: token })).statusCode).toBe(
      200,
    );
  });

  it('a session in use survives an idle timeout shorter than a minute', async () => {
    const account = await h.signup();
    for (let i = 0; i < 4; i++) {
      h.clock.advance(20_000);
      expect((await me(h, account)).statusCode, `after ${(i + 1) * 20}s`).toBe(200);
    }
    h.clock.advance(30_000);
    const idle = await me(h, account);
    expect(idle.statusCode).toBe(401);
    expect(idle.json().error.code).toBe('session_expired');
  });

  it("the customer's audit log shows an admin's work as \"an administrator\"; the admin's keeps who and where", async () => {
    const customer = await h.signup();
    const admin = await h.signup();
    await h.services.store.db
      .updateTable('users')
      .set({ role: 'admin' })
      .where('id', '=', admin.id)
      .execute();
    const key = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: customer,
      body: { name: 'k' },
    });
    expect(key.statusCode).toBe(201);
    const adminIp = '203.0.113.250';
    const edit = await h.request({
      method: 'PATCH',
      url: `/v1/keys/${key.json().id}`,
      as: admin,
      ip: adminIp,
      body: { name: 'renamed by the operator' },
    });
    expect(edit.statusCode).toBe(200);
    const plan = await h.request({
      method: 'PATCH',
      url: `/v1/admin/users/${customer.id}`,
      as: admin,
      ip: adminIp,
      body: { plan: 'pro' },
    });
    expect(plan.statusCode).toBe(200);
    // The admin's service token acting on the customer's key is the admin too.
    const service = await h.request({
      method: 'POST',
      url: '/v1/tokens',
      as: admin,
      body: { name: 'ops', scopes: ['keys:manage'] },
    });
    expect(service.statusCode).toBe(201);
    const byToken = await h.request({
      method: 'POST',
      url: `/v1/keys/${key.json().id}/revoke`,
      bearer: service.json().token,
      ip: adminIp,
    });
    expect(byToken.statusCode).toBe(200);

    type Entry = { action: string; actor_type: string; actor_id: string | null; ip: string | null };
    const own = await h.request({ method: 'GET', url: '/v1/audit-log?limit=100', as: customer });
    const entries = own.json().data as Entry[];
    const byAdmin = entries.filter((e) =>
      ['key.updated', 'account.updated', 'key.revoked'].includes(e.action),
    );
    expect(byAdmin).toHaveLength(3);
    for (const entry of byAdmin) {
      expect(entry.actor_type).toBe('administrator');
      expect(entry.actor_id).toBeNull();
      expect(entry.ip).toBeNull();
    }
    // The customer's own actions keep the customer as their actor.
    const created = entries.find((e) => e.action === 'key.created');
    expect(created?.actor_id).toBe(customer.id);
    const text = own.body;
    for (const hidden of [admin.id, admin.email, adminIp, service.json().id])
      expect(text).not.toContain(hidden);

    const all = await h.request({
      method: 'GET',
      url: `/v1/audit-log?limit=100&target_id=${key.json().id}`,
      as: admin,
    });
    const seenByAdmin = (all.json().data as Entry[]).find((e) => e.action === 'key.updated');
    expect(seenByAdmin).toMatchObject({ actor_type: 'user', actor_id: admin.id, ip: adminIp });
  });

  it('/docs carries its own CSP and references no other host', async () => {
    const page = await h.request({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toMatch(/https?:/);
    expect(page.body).not.toMatch(/https?:\/\//);
    expect(page.body).not.toMatch(/<script>|<script type="text\/javascript">/);
    const bundle = await h.request({ method: 'GET', url: '/docs/js/scalar.js' });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers['content-security-policy']).toBe(csp);
  });
});
