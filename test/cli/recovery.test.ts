// `keyward user invite` and `keyward user reset-password` through buildProgram with captured
// output, then the printed links used against the real app over the same database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.ts';
import { loadConfig } from '../../src/config.ts';
import { sha256Hex } from '../../src/core/secrets.ts';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services/index.ts';
import { openStore } from '../../src/storage/database.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

function cli(env: Record<string, string>) {
  const out: string[] = [];
  return async (...args: string[]) => {
    out.length = 0;
    const program = buildProgram({
      loadConfig: () => loadConfig(env),
      output: { out: (l) => out.push(l), err: () => {} },
      untilSignal: () => Promise.resolve('SIGTERM'),
    });
    await program.parseAsync(['node', 'keyward', ...args]);
    return out.join('\n');
  };
}

describe.each(DATABASES)('keyward user invite / reset-password on $name', (kind) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let run: ReturnType<typeof cli>;

  /** Calls the app on the same database, as the server would. */
  async function post(url: string, body: unknown) {
    const config = loadConfig(env);
    const store = openStore(config.database);
    const services = createServices(config, store, { mailer: null });
    const app = await buildApp(services, { logger: false });
    try {
      return await app.inject({ method: 'POST', url, payload: body as object });
    } finally {
      await app.close();
      await services.stop();
      await store.close();
    }
  }

  beforeAll(async () => {
    database = await kind.create();
    env = {
      DATABASE_URL: database.config.url,
      LOG_LEVEL: 'silent',
      PUBLIC_URL: 'https://keys.example.com',
      SIGNUP: 'invite',
    };
    run = cli(env);
    // Only migrate (and serve) create a database; every other command needs one.
    await run('migrate');
    await run(
      'user',
      'create',
      '--email',
      'ops@example.com',
      '--password',
      'the operator passphrase',
    );
  });
  afterAll(async () => {
    await database.drop();
  });

  it('reset-password prints a one-time link that works once', async () => {
    const printed = await run('user', 'reset-password', '--email', 'OPS@example.com');
    const lines = printed.split('\n');
    expect(lines[0]).toMatch(
      /^password-reset link for ops@example\.com \(usr_\w+\), valid until \d{4}-.*Z; it works once/,
    );
    expect(lines[1]).toMatch(/^https:\/\/keys\.example\.com\/reset-password\/[0-9a-f]{64}$/);
    const token = lines[1]?.split('/').at(-1) ?? '';
    const body = { token, new_password: 'a fresh operator passphrase' };
    expect((await post('/v1/auth/password-reset', body)).statusCode).toBe(204);
    expect((await post('/v1/auth/password-reset', body)).statusCode).toBe(400);
    const login = await post('/v1/auth/login', {
      email: 'ops@example.com',
      password: 'a fresh operator passphrase',
    });
    expect(login.statusCode).toBe(200);
  });

  it('reset-password --json prints one JSON object; the database holds only the hash', async () => {
    const printed = JSON.parse(
      await run('user', 'reset-password', '--email', 'ops@example.com', '--json'),
    );
    expect(printed).toEqual({
      user_id: expect.stringMatching(/^usr_/),
      email: 'ops@example.com',
      url: expect.stringMatching(/^https:\/\/keys\.example\.com\/reset-password\/[0-9a-f]{64}$/),
      expires_at: expect.any(String),
    });
    const token = printed.url.split('/').at(-1);
    const config = loadConfig(env);
    const store = openStore(config.database);
    try {
      const rows = await store.db.selectFrom('password_resets').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(token);
      expect(rows.map((r) => r.token_hash)).toContain(sha256Hex(token));
    } finally {
      await store.close();
    }
  });

  it('reset-password for an unknown email is an error', async () => {
    await expect(run('user', 'reset-password', '--email', 'nobody@example.com')).rejects.toThrow(
      /no account with the email/,
    );
  });

  it('invite prints a link that creates the account it describes', async () => {
    const printed = await run(
      'user',
      'invite',
      '--email',
      'New.Person@example.com',
      '--plan',
      'pro',
      '--admin',
    );
    const lines = printed.split('\n');
    expect(lines[0]).toMatch(
      /^created invitation inv_\w+ for new\.person@example\.com \(admin, plan pro\), valid until /,
    );
    expect(lines[2]).toMatch(/^https:\/\/keys\.example\.com\/invite\/[0-9a-f]{64}$/);
    const token = lines[2]?.split('/').at(-1) ?? '';
    const accepted = await post('/v1/auth/invitations/accept', {
      token,
      password: 'the new person passphrase',
    });
    expect(accepted.statusCode).toBe(201);
    expect(accepted.json().user).toMatchObject({
      email: 'new.person@example.com',
      role: 'admin',
      plan: 'pro',
    });
  });

  it('invite --json, and its checks', async () => {
    const printed = JSON.parse(await run('user', 'invite', '--expires-in', '48h', '--json'));
    expect(printed).toMatchObject({
      id: expect.stringMatching(/^inv_/),
      email: null,
      role: 'user',
      plan: 'free',
      mailed: false,
    });
    expect(Date.parse(printed.expires_at) - Date.now()).toBeGreaterThan(47 * 3_600_000);
    await expect(run('user', 'invite', '--plan', 'platinum')).rejects.toThrow(/plan must be/);
    await expect(run('user', 'invite', '--expires-in', '90d')).rejects.toThrow(/1h to 30d/);
    await expect(run('user', 'invite', '--email', 'ops@example.com')).rejects.toThrow(
      /already exists/,
    );
  });

  it('invite is refused under SIGNUP=closed', async () => {
    const closed = cli({ ...env, SIGNUP: 'closed' });
    await expect(closed('user', 'invite')).rejects.toThrow(/sign-up is closed/);
  });

  it('the user command lists both, each with --json', () => {
    const program = buildProgram({
      loadConfig: () => loadConfig(env),
      output: { out: () => {}, err: () => {} },
      untilSignal: () => Promise.resolve('SIGTERM'),
    });
    const user = program.commands.find((c) => c.name() === 'user');
    for (const name of ['invite', 'reset-password']) {
      const command = user?.commands.find((c) => c.name() === name);
      expect(command?.options.map((o) => o.long)).toContain('--json');
    }
  });
});
