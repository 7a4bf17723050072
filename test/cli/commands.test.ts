import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { evictionCheck } from '../../src/cli/commands/doctor.ts';
import { runCli } from '../../src/cli/program.ts';
import { describeDatabase } from '../../src/cli/shared.ts';
import { loadConfig } from '../../src/config.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import { openStore, type Store } from '../../src/storage/database.ts';
import { ARTIFACTS_DIR, DATABASES, type TestDatabase } from '../helpers/databases.ts';
import { dropRedisPrefix } from '../helpers/redis.ts';

/** A parsed JSON document of one of the many shapes the commands print. */
// biome-ignore lint/suspicious/noExplicitAny: the tests read fields of documents of many shapes
type Doc = any;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Standard output parsed as the one JSON document it must be. */
  json: () => Doc;
}

/** Runs `keyward …` as main.ts does (runCli), with `stdin` as standard input. */
function cli(env: Record<string, string>) {
  return async (args: string[], stdin?: string): Promise<Run> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(
      {
        loadConfig: () => loadConfig(env),
        output: { out: (l) => out.push(l), err: (l) => err.push(l) },
        untilSignal: () => Promise.resolve('SIGTERM'),
        ...(stdin !== undefined && { readStdin: () => Promise.resolve(stdin) }),
      },
      ['node', 'keyward', ...args],
    );
    const stdout = out.join('\n');
    return { code, stdout, stderr: err.join('\n'), json: () => JSON.parse(stdout) };
  };
}

/** Runs a command with --json, expects success, and answers the parsed document. */
async function ok(run: ReturnType<typeof cli>, args: string[], stdin?: string): Promise<Doc> {
  const result = await run([...args, '--json'], stdin);
  expect(result.code, `${args.join(' ')}: ${result.stdout} ${result.stderr}`).toBe(0);
  return result.json();
}

/** Runs a command with --json, expects failure, and answers the `error` of the document. */
async function failure(
  run: ReturnType<typeof cli>,
  args: string[],
): Promise<{ code: string; message: string }> {
  const result = await run([...args, '--json']);
  expect(result.code, result.stdout).not.toBe(0);
  return result.json().error;
}

describe.each(DATABASES)('keyward CLI commands on $name', (kind) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let run: ReturnType<typeof cli>;
  /** A running node beside the CLI: it must see what the CLI changes. */
  let store: Store;
  let node: Services;

  const verifies = async (key: string) => (await node.verify.verify({ key, ip: null })).code;

  beforeAll(async () => {
    database = await kind.create();
    env = {
      DATABASE_URL: database.config.url,
      LOG_LEVEL: 'silent',
      // Only the invalidation bus, never the fresh TTL, can make the node see a change in time.
      KEY_CACHE_TTL: '1h',
      PLANS: 'free:10,unlimited:unlimited',
    };
    run = cli(env);
    const migrated = await run(['migrate', '--json']);
    expect(migrated.code).toBe(0);
    expect(migrated.json().applied).toContain('0001_initial');
    store = openStore(loadConfig(env).database);
    node = createServices(loadConfig(env), store);
    await node.start();
  });
  afterAll(async () => {
    await node.stop();
    await store.close();
    await database.drop();
  });

  it('says which database it opened, on standard error, without a password', async () => {
    const result = await run(['user', 'list', '--json']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`database: ${describeDatabase(loadConfig(env).database)}`);
    expect(result.stderr).toMatch(kind.name === 'sqlite' ? /^database: SQLite \// : /PostgreSQL/);
    expect(result.json()).toEqual({ object: 'list', data: [], next_cursor: null });
  });

  it('user create takes the password from standard input, and answers JSON', async () => {
    const admin = await ok(
      run,
      ['user', 'create', '--email', 'Root@Example.com', '--password-stdin', '--admin'],
      'a long admin password\n',
    );
    expect(admin).toMatchObject({ email: 'root@example.com', role: 'admin', disabled: false });
    const user = await ok(
      run,
      ['user', 'create', '--email', 'ann@example.com', '--password-stdin', '--plan', 'unlimited'],
      'ann has a long password',
    );
    expect(user).toMatchObject({ email: 'ann@example.com', role: 'user', plan: 'unlimited' });
    // The password went in without its newline: signing in with it works.
    const login = await node.accounts.login(
      { email: 'ann@example.com', password: 'ann has a long password' },
      '127.0.0.1',
      null,
    );
    expect(login.user.id).toBe(user.id);
    expect(
      await failure(run, ['user', 'create', '--email', 'x@example.com', '--password-stdin']),
    ).toMatchObject({ code: 'usage_error', message: expect.stringMatching(/standard input/) });
    expect(await failure(run, ['user', 'create', '--email', 'x@example.com'])).toMatchObject({
      code: 'usage_error',
      message: expect.stringMatching(/--password-stdin/),
    });
  });

  it('user list pages with --limit and --cursor, and --all follows every page', async () => {
    await ok(
      run,
      ['user', 'create', '--email', 'bo@example.com', '--password-stdin'],
      'bo password 123',
    );
    const first = await ok(run, ['user', 'list', '--limit', '2']);
    expect(first.data).toHaveLength(2);
    expect(first.next_cursor).toBe(first.data[1].id);
    const rest = await ok(run, ['user', 'list', '--limit', '2', '--cursor', first.next_cursor]);
    expect(rest.next_cursor).toBeNull();
    const all = await ok(run, ['user', 'list', '--limit', '1', '--all']);
    expect(all.next_cursor).toBeNull();
    expect(all.data.map((u: { id: string }) => u.id)).toEqual(
      [...first.data, ...rest.data].map((u: { id: string }) => u.id),
    );
    expect(all.data.map((u: { email: string }) => u.email).sort()).toEqual([
      'ann@example.com',
      'bo@example.com',
      'root@example.com',
    ]);
    const text = await run(['user', 'list']);
    expect(text.stdout).toMatch(/^usr_\w+\tann@example.com\tuser\tunlimited\tactive$/m);
  });

  it('numeric options are checked with a clear error, before any database work', async () => {
    for (const [args, option] of [
      [['keys', 'list', '--limit', 'abc'], '--limit'],
      [['keys', 'list', '--limit', '101'], '--limit'],
      [['user', 'list', '--limit', '0'], '--limit'],
      [['user', 'list', '--limit', '1.5'], '--limit'],
    ] as const) {
      const result = await run([...args, '--json']);
      expect(result.code).toBe(1);
      const error = result.json().error;
      expect(error.code).toBe('usage_error');
      expect(error.message).toContain(option);
      expect(error.message).toMatch(/whole number from \d+ to \d+/);
      expect(error.message).not.toMatch(/sqlite|SQL|syntax/i);
    }
    // Without --json: the same message on standard error, nothing on standard output.
    const text = await run(['keys', 'list', '--limit', 'abc']);
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/--limit.*whole number from 1 to 100/);
  });

  it('errors are JSON too, with a code', async () => {
    expect(await failure(run, ['user', 'show', '--email', 'nobody@example.com'])).toEqual({
      code: 'not_found',
      message: 'no account with the email nobody@example.com',
    });
    expect(await failure(run, ['keys', 'show', 'key_doesnotexistatall234'])).toMatchObject({
      code: 'not_found',
    });
    expect(await failure(run, ['user', 'show'])).toMatchObject({ code: 'usage_error' });
    expect(await failure(run, ['keys', 'list', '--cursor', 'not-a-cursor'])).toMatchObject({
      code: 'validation_error',
    });
    expect(await failure(run, ['user', 'nonsense'])).toMatchObject({ code: 'usage_error' });
  });

  it('token create, list and revoke (the token stops working)', async () => {
    const created = await ok(run, [
      'token',
      'create',
      '--email',
      'ann@example.com',
      '--name',
      'ann ci',
      '--scopes',
      'keys:read',
      '--expires-in',
      '30d',
    ]);
    expect(created).toMatchObject({ kind: 'management', name: 'ann ci', scopes: ['keys:read'] });
    expect(created.token).toMatch(/^kwm_[0-9a-f]{40}$/);
    expect(created.expires_at).not.toBeNull();
    expect((await node.tokens.authenticate(created.token)).ok).toBe(true);

    const mine = await ok(run, ['token', 'list', '--email', 'ann@example.com']);
    expect(mine.data).toEqual([
      expect.objectContaining({ id: created.id, name: 'ann ci', owner_id: created.owner_id }),
    ]);
    expect(JSON.stringify(mine)).not.toContain(created.token);
    expect(JSON.stringify(mine)).not.toContain('hash');
    const all = await ok(run, ['token', 'list']);
    expect(all.data.map((t: { id: string }) => t.id)).toContain(created.id);

    expect(await ok(run, ['token', 'revoke', created.id])).toEqual({
      id: created.id,
      revoked: true,
    });
    expect((await ok(run, ['token', 'list', '--email', 'ann@example.com'])).data).toEqual([]);
    await vi.waitFor(async () => {
      expect((await node.tokens.authenticate(created.token)).ok).toBe(false);
    });
    expect(await failure(run, ['token', 'revoke', created.id])).toMatchObject({
      code: 'not_found',
    });
  });

  it('keys list --all follows the cursors past 100 keys; keys show answers one key', async () => {
    const ann = await node.accounts.findByEmail('ann@example.com');
    for (let i = 0; i < 105; i += 1) {
      await node.keys.create(
        { type: 'cli', id: null, user: null, scopes: [], ip: null },
        {
          name: `bulk ${i}`,
          ownerId: ann?.id as string,
        },
      );
    }
    const page = await ok(run, ['keys', 'list', '--email', 'ann@example.com', '--limit', '100']);
    expect(page.data).toHaveLength(100);
    expect(page.next_cursor).not.toBeNull();
    const all = await ok(run, ['keys', 'list', '--email', 'ann@example.com', '--all']);
    expect(all.data).toHaveLength(105);
    expect(all.next_cursor).toBeNull();
    expect(new Set(all.data.map((k: { id: string }) => k.id)).size).toBe(105);
    const allPages = await ok(run, ['keys', 'list', '--all', '--limit', '100']);
    expect(allPages.data).toHaveLength(105);

    const shown = await ok(run, ['keys', 'show', all.data[0].id]);
    expect(shown).toMatchObject({ id: all.data[0].id, status: 'active', owner_id: ann?.id });
    expect(shown).not.toHaveProperty('hash');
    const text = await run(['keys', 'show', all.data[0].id]);
    expect(text.stdout).toContain(`${all.data[0].id} ${all.data[0].masked} (active)`);
  });

  it('user disable refuses the keys on a running node, enable accepts them again', async () => {
    const created = await ok(run, [
      'keys',
      'create',
      '--email',
      'bo@example.com',
      '--name',
      'bo key',
      '--environment',
      'test',
    ]);
    expect(created.key).toMatch(/^sk_test_[0-9a-f]{40}$/);
    expect(await verifies(created.key)).toBe('VALID');

    const disabled = await ok(run, ['user', 'disable', '--email', 'bo@example.com']);
    expect(disabled).toMatchObject({ email: 'bo@example.com', disabled: true });
    await vi.waitFor(async () => expect(await verifies(created.key)).toBe('DISABLED'), {
      timeout: 10_000,
    });
    const shown = await ok(run, ['user', 'show', '--id', disabled.id]);
    expect(shown).toMatchObject({ disabled: true, keys: 1, tokens: 0 });
    expect(shown.plan_usage).toEqual({ plan: 'free', keys_used: 1, keys_limit: 10 });

    await ok(run, ['user', 'enable', '--email', 'bo@example.com']);
    await vi.waitFor(async () => expect(await verifies(created.key)).toBe('VALID'), {
      timeout: 10_000,
    });
    const audit = await store.db
      .selectFrom('audit_log')
      .select(['actor_type', 'action', 'details'])
      .where('owner_id', '=', disabled.id)
      .where('action', '=', 'account.updated')
      .execute();
    expect(audit.map((e) => [e.actor_type, JSON.parse(e.details).disabled])).toEqual([
      ['cli', true],
      ['cli', false],
    ]);
  });

  it('user set-admin grants and removes the role; a service token owner keeps it until revoked', async () => {
    expect(await ok(run, ['user', 'set-admin', '--email', 'bo@example.com'])).toMatchObject({
      role: 'admin',
    });
    const service = await ok(run, [
      'token',
      'create',
      '--email',
      'bo@example.com',
      '--name',
      'verifier',
      '--scopes',
      'keys:verify',
    ]);
    expect(
      await failure(run, ['user', 'set-admin', '--email', 'bo@example.com', '--remove']),
    ).toMatchObject({ code: 'invalid_state', message: expect.stringContaining(service.id) });
    await ok(run, ['token', 'revoke', service.id]);
    expect(
      await ok(run, ['user', 'set-admin', '--email', 'bo@example.com', '--remove']),
    ).toMatchObject({ role: 'user' });
  });

  it('user export prints the account data without secrets or hashes', async () => {
    const created = await ok(run, [
      'keys',
      'create',
      '--email',
      'bo@example.com',
      '--name',
      'exported',
    ]);
    const token = await ok(run, [
      'token',
      'create',
      '--email',
      'bo@example.com',
      '--name',
      'bo ci',
      '--scopes',
      'keys:read',
    ]);
    for (const json of [true, false]) {
      const result = await run([
        'user',
        'export',
        '--email',
        'bo@example.com',
        ...(json ? ['--json'] : []),
      ]);
      expect(result.code).toBe(0);
      const data = JSON.parse(result.stdout);
      expect(data).toMatchObject({
        object: 'account_export',
        account: { email: 'bo@example.com' },
      });
      expect(data.keys.map((k: { name: string }) => k.name).sort()).toEqual(['bo key', 'exported']);
      expect(data.tokens.map((t: { name: string }) => t.name)).toEqual(['bo ci']);
      expect(data.audit_log.map((e: { action: string }) => e.action)).toEqual(
        expect.arrayContaining(['account.created', 'account.updated', 'token.deleted']),
      );
      const hashes = await store.db
        .selectFrom('api_keys')
        .select('hash')
        .union(store.db.selectFrom('tokens').select('hash'))
        .execute();
      for (const secret of [created.key, token.token, ...hashes.map((h) => h.hash)])
        expect(result.stdout).not.toContain(secret);
      expect(result.stdout).not.toMatch(/"hash"|password|\$argon2/);
    }
  });

  it('user delete asks for --yes, revokes the keys first, deletes the account and keeps its audit log', async () => {
    const bo = await ok(run, ['user', 'show', '--email', 'bo@example.com']);
    const keys = await ok(run, ['keys', 'list', '--email', 'bo@example.com']);
    const secret = (
      await ok(run, ['keys', 'create', '--email', 'bo@example.com', '--name', 'last'])
    ).key;
    expect(await verifies(secret)).toBe('VALID');

    expect(await failure(run, ['user', 'delete', '--email', 'bo@example.com'])).toMatchObject({
      code: 'confirmation_required',
    });
    expect((await ok(run, ['user', 'show', '--email', 'bo@example.com'])).id).toBe(bo.id);

    const deleted = await ok(run, ['user', 'delete', '--id', bo.id, '--yes']);
    expect(deleted).toMatchObject({ deleted: true, user: { id: bo.id }, revoked_keys: 3 });
    // The running node drops the cached key: it is not found any more.
    await vi.waitFor(async () => expect(await verifies(secret)).toBe('NOT_FOUND'), {
      timeout: 10_000,
    });
    expect(await failure(run, ['user', 'show', '--id', bo.id])).toMatchObject({
      code: 'not_found',
    });
    for (const key of keys.data) {
      expect(await failure(run, ['keys', 'show', key.id])).toMatchObject({ code: 'not_found' });
    }
    const audit = await store.db
      .selectFrom('audit_log')
      .select(['actor_type', 'action', 'details'])
      .where('owner_id', '=', bo.id)
      .orderBy('seq')
      .execute();
    expect(audit.length).toBeGreaterThan(5);
    expect(audit.at(-1)).toMatchObject({ actor_type: 'cli', action: 'account.deleted' });
    expect(
      audit.filter(
        (e) => e.action === 'key.revoked' && JSON.parse(e.details).reason === 'account_deleted',
      ),
    ).toHaveLength(3);
    expect(audit.some((e) => e.action === 'account.created')).toBe(true);
  });

  it('serve --json prints one JSON line when listening and one when stopped', async () => {
    const serve = cli({ ...env, PORT: '0', SHUTDOWN_DRAIN_DELAY: '0s' });
    const result = await serve(['serve', '--json']);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').map((line) => JSON.parse(line));
    expect(lines).toEqual([
      expect.objectContaining({
        event: 'listening',
        address: expect.stringMatching(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/),
        database: kind.name,
        gateway: null,
        first_account_needed: false,
      }),
      { event: 'stopped', signal: 'SIGTERM' },
    ]);
    expect(result.stderr).toContain('Keyward is listening on');
  });

  it('doctor --json reports each check', async () => {
    const report = await ok(run, ['doctor']);
    expect(report.ok).toBe(true);
    const byName = Object.fromEntries(
      report.checks.map((c: { name: string; status: string; message: string }) => [c.name, c]),
    );
    expect(byName.configuration.status).toBe('ok');
    expect(byName.database).toMatchObject({
      status: 'ok',
      message: 'database reachable, migrations applied',
    });
    if (kind.name === 'sqlite') {
      expect(byName.clock_skew).toMatchObject({
        status: 'skip',
        message: expect.stringContaining('SQLite has no clock of its own'),
      });
      expect(['ok', 'warn']).toContain(byName.disk_space.status);
      expect(byName.disk_space.message).toMatch(/\d+(\.\d)? (GiB|MiB) free \(\d+ %\) in \//);
    } else {
      // This host and the PostgreSQL server share one clock here.
      expect(byName.clock_skew).toMatchObject({ status: 'ok' });
      expect(byName.clock_skew.message).toMatch(/clock is \d+ ms (behind|ahead of) the database/);
      expect(byName.disk_space.status).toBe('skip');
    }
    expect(byName.redis).toMatchObject({ status: 'skip' });
    const text = await run(['doctor']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('✓ database reachable, migrations applied');
  });

  it('doctor with Redis checks it is reachable and its maxmemory-policy', async () => {
    const prefix = `kwtest-doctor-${process.pid}:`;
    const withRedis = cli({
      ...env,
      REDIS_URL: process.env.KEYWARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: prefix,
    });
    try {
      const report = await ok(withRedis, ['doctor']);
      const byName = Object.fromEntries(report.checks.map((c: { name: string }) => [c.name, c]));
      expect(byName.redis).toMatchObject({
        status: 'ok',
        message: expect.stringMatching(/^Redis reachable \(PING \d/),
      });
      expect(byName.redis_eviction.message).toMatch(/maxmemory-policy/);
      expect(['ok', 'warn']).toContain(byName.redis_eviction.status);
    } finally {
      await dropRedisPrefix(prefix);
    }
    const unreachable = cli({ ...env, REDIS_URL: 'redis://127.0.0.1:1' });
    const result = await unreachable(['doctor', '--json']);
    expect(result.code).toBe(1);
    const report = result.json();
    expect(report.ok).toBe(false);
    expect(report.checks.find((c: { name: string }) => c.name === 'redis')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('cannot reach Redis at 127.0.0.1:1'),
    });
  });
});

describe('keyward CLI and a missing SQLite file', () => {
  const path = join(ARTIFACTS_DIR, `kw-missing-${process.pid}-${Date.now()}`, 'keyward.db');
  const run = cli({ DATABASE_URL: `sqlite:${path}`, LOG_LEVEL: 'silent' });

  it('every command but migrate and serve refuses to create it, naming the path', async () => {
    for (const args of [
      ['user', 'list'],
      ['user', 'show', '--email', 'a@example.com'],
      ['keys', 'list'],
      ['token', 'list'],
      ['user', 'create', '--email', 'a@example.com', '--password', 'a long password 1'],
    ]) {
      const error = await failure(run, args);
      expect(error.code, args.join(' ')).toBe('database_missing');
      expect(error.message).toContain(`no database at ${path}`);
      expect(error.message).toContain('keyward migrate');
      expect(existsSync(path)).toBe(false);
    }
    const text = await run(['keys', 'list']);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`no database at ${path}`);
    const doctor = await run(['doctor', '--json']);
    expect(doctor.code).toBe(1);
    expect(doctor.json().checks.find((c: { name: string }) => c.name === 'database')).toMatchObject(
      { status: 'fail', message: expect.stringContaining('no database at') },
    );
    expect(existsSync(path)).toBe(false);
  });

  it('migrate creates it', async () => {
    const migrated = await run(['migrate', '--json']);
    expect(migrated.code).toBe(0);
    expect(existsSync(path)).toBe(true);
    expect((await run(['user', 'list', '--json'])).code).toBe(0);
  });

  it('as a process: the password from standard input, JSON on stdout, the database on stderr, exit codes', async () => {
    const keyward = (args: string[], input: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = execFile(
          process.execPath,
          [join(import.meta.dirname, '..', '..', 'src', 'main.ts'), ...args],
          { env: { PATH: process.env.PATH ?? '', DATABASE_URL: `sqlite:${path}` } },
          (error, stdout, stderr) =>
            done({ code: error === null ? 0 : (error.code as number), stdout, stderr }),
        );
        child.stdin?.end(input);
      });
    const created = await keyward(
      ['user', 'create', '--email', 'piped@example.com', '--password-stdin', '--json'],
      'a piped password 1\n',
    );
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ email: 'piped@example.com' });
    expect(created.stderr.trim()).toBe(`database: SQLite ${path}`);
    const missing = await keyward(['user', 'show', '--email', 'nobody@example.com', '--json'], '');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).error.code).toBe('not_found');
  }, 60_000);
});

describe('keyward CLI helpers', () => {
  it('describeDatabase never shows a password', () => {
    expect(
      describeDatabase({
        kind: 'postgres',
        url: 'postgres://keyward:s3cret-pw@db.internal:5432/keyward?sslmode=require&password=other',
      }),
    ).toBe(
      'PostgreSQL postgres://keyward:***@db.internal:5432/keyward?sslmode=require&password=***',
    );
    expect(describeDatabase({ kind: 'postgres', url: 'postgres://db/keyward' })).toBe(
      'PostgreSQL postgres://db/keyward',
    );
    expect(describeDatabase({ kind: 'sqlite', url: 'sqlite:x.db', path: 'x.db' })).toBe(
      `SQLite ${join(process.cwd(), 'x.db')}`,
    );
  });

  it('the Redis eviction check accepts only noeviction: every Keyward key has a TTL', () => {
    expect(evictionCheck({ policy: 'noeviction', maxmemory: 0 }).status).toBe('ok');
    for (const policy of ['volatile-lru', 'volatile-ttl', 'allkeys-lru', 'allkeys-random']) {
      const check = evictionCheck({ policy, maxmemory: 1024 ** 3 });
      expect(check.status, policy).toBe('warn');
      expect(check.message).toContain(policy);
    }
    expect(evictionCheck({ policy: 'allkeys-lru', maxmemory: 0 }).message).toContain(
      'maxmemory is 0',
    );
    expect(evictionCheck(null)).toMatchObject({ status: 'warn' });
  });

  it('gateway check --json answers the rules, or the problems', async () => {
    const run = cli({});
    const good = join(ARTIFACTS_DIR, `routes-cli-${process.pid}.json`);
    const bad = join(ARTIFACTS_DIR, `routes-cli-bad-${process.pid}.json`);
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    writeFileSync(
      good,
      JSON.stringify({ routes: [{ method: 'GET', path: '/health', public: true }] }),
    );
    writeFileSync(bad, JSON.stringify({ routes: [{ method: 'GET' }] }));
    try {
      expect(await ok(run, ['gateway', 'check', good])).toEqual({
        ok: true,
        file: good,
        rules: [{ methods: 'GET', path: '/health', needs: 'public (no key)' }],
      });
      const result = await run(['gateway', 'check', bad, '--json']);
      expect(result.code).toBe(1);
      expect(result.json()).toMatchObject({ ok: false, file: bad, problems: [expect.any(String)] });
    } finally {
      rmSync(good, { force: true });
      rmSync(bad, { force: true });
    }
  });

  it('every command has --help, and --json in it', async () => {
    const run = cli({});
    for (const args of [
      ['user', 'list'],
      ['user', 'show'],
      ['user', 'disable'],
      ['user', 'enable'],
      ['user', 'set-admin'],
      ['user', 'export'],
      ['user', 'delete'],
      ['user', 'create'],
      ['user', 'set-plan'],
      ['token', 'create'],
      ['token', 'list'],
      ['token', 'revoke'],
      ['keys', 'list'],
      ['keys', 'show'],
      ['keys', 'create'],
      ['keys', 'revoke'],
      ['migrate'],
      ['serve'],
      ['doctor'],
      ['gateway', 'check'],
    ]) {
      const result = await run([...args, '--help']);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).toMatch(/Usage: keyward/);
      expect(result.stdout, args.join(' ')).toContain('--json');
    }
  });
});
