import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.ts';
import { loadConfig } from '../../src/config.ts';
import { openStore } from '../../src/storage/database.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

function cli(env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const run = async (...args: string[]) => {
    out.length = 0;
    err.length = 0;
    const program = buildProgram({
      loadConfig: () => loadConfig(env),
      output: { out: (l) => out.push(l), err: (l) => err.push(l) },
      untilSignal: () => Promise.resolve('SIGTERM'),
    });
    await program.parseAsync(['node', 'keyward', ...args]);
    return out.join('\n');
  };
  return { run, out, err };
}

describe.each(DATABASES)('keyward CLI on $name', (kind) => {
  let database: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await kind.create();
    env = {
      DATABASE_URL: database.config.url,
      LOG_LEVEL: 'silent',
      PORT: '0',
      SHUTDOWN_DRAIN_DELAY: '0s',
    };
  });
  afterAll(async () => {
    await database.drop();
  });

  it('migrate applies the migrations once', async () => {
    const { run } = cli(env);
    expect(await run('migrate')).toBe(
      'applied: 0001_initial, 0002_normalised_emails, 0003_events, 0004_account_recovery, 0007_owner_balances, 0009_scheduled',
    );
    expect(await run('migrate')).toBe('database is up to date');
  });

  it('user create, set-plan, token create, keys create/list/revoke', async () => {
    const { run } = cli(env);
    expect(
      await run(
        'user',
        'create',
        '--email',
        'Admin@Example.com',
        '--password',
        'a long admin password',
        '--admin',
      ),
    ).toMatch(/^created admin admin@example.com \(usr_[a-z2-7]+\) on plan free$/);
    expect(await run('user', 'set-plan', '--email', 'admin@example.com', '--plan', 'pro')).toBe(
      'admin@example.com is now on plan pro',
    );
    // Owner balances: the account's own limits and credits, shared by all its keys.
    expect(
      await run(
        'user',
        'set-limits',
        '--email',
        'admin@example.com',
        '--rate',
        '100/1m',
        '--daily-requests',
        '1000',
        '--credits',
        '5000',
        '--refill',
        '5000/monthly',
      ),
    ).toBe(
      'admin@example.com: limits 100 per 1m, 1000 requests/day; 5000 credits (refilled to 5000 monthly); shared by all its keys',
    );
    expect(await run('user', 'set-limits', '--email', 'admin@example.com', '--clear-limits')).toBe(
      'admin@example.com: limits none; 5000 credits (refilled to 5000 monthly); shared by all its keys',
    );
    expect(
      await run('user', 'set-limits', '--email', 'admin@example.com', '--credits', 'unlimited'),
    ).toBe('admin@example.com: limits none; unlimited credits; shared by all its keys');
    await expect(
      run('user', 'set-limits', '--email', 'admin@example.com', '--rate', '100/1x'),
    ).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    await expect(run('user', 'set-limits', '--email', 'admin@example.com')).rejects.toThrow(
      /nothing to set/,
    );
    const token = await run(
      'token',
      'create',
      '--email',
      'admin@example.com',
      '--name',
      'api servers',
      '--scopes',
      'keys:verify,keys:manage',
    );
    expect(token).toMatch(/created service token tok_\w+ with scopes keys:verify, keys:manage/);
    expect(token.split('\n').at(-1)).toMatch(/^kws_[0-9a-f]{40}$/);
    const created = await run(
      'keys',
      'create',
      '--email',
      'admin@example.com',
      '--name',
      'from cli',
      '--environment',
      'test',
    );
    const secret = created.split('\n').at(-1) as string;
    expect(secret).toMatch(/^sk_test_[0-9a-f]{40}$/);
    const id = /created key (key_\w+)/.exec(created)?.[1] as string;
    const listed = await run('keys', 'list', '--email', 'admin@example.com');
    expect(listed).toContain(`${id}\t${secret.slice(0, 12)}…${secret.slice(-4)}\tactive\tfrom cli`);
    expect(await run('keys', 'list', '--environment', 'live')).not.toContain(id);
    expect(await run('keys', 'list', '--environment', 'test')).toContain(id);
    expect(listed).not.toContain(secret);
    expect(await run('keys', 'revoke', id)).toMatch(/^revoked key_/);
    expect(await run('keys', 'list', '--status', 'revoked')).toContain(id);
  });

  it('refuses bad input with a clear message', async () => {
    const { run } = cli(env);
    await expect(
      run('user', 'create', '--email', 'x@example.com', '--password', 'short'),
    ).rejects.toThrow(/at least 12/);
    await expect(
      run(
        'token',
        'create',
        '--email',
        'admin@example.com',
        '--name',
        'n',
        '--scopes',
        'everything',
      ),
    ).rejects.toThrow(/unknown scope/);
    await expect(
      run('keys', 'create', '--email', 'nobody@example.com', '--name', 'n'),
    ).rejects.toThrow(/no account/);
  });

  it('doctor checks the configuration and the database', async () => {
    const { run } = cli(env);
    const report = await run('doctor');
    expect(report).toContain('✓ configuration');
    expect(report).toContain('✓ database reachable, migrations applied');
  });

  it('doctor lists look-alike accounts, their emails quoted so invisible characters show', async () => {
    const { run } = cli(env);
    await run(
      'user',
      'create',
      '--email',
      'lookalike@example.com',
      '--password',
      'a long user password',
    );
    const store = openStore(loadConfig(env).database);
    try {
      // Written as a database from before migration 0002 could hold it.
      await store.db
        .insertInto('users')
        .values({
          id: 'usr_lookalike_copy',
          email: 'lookalike@example.com\u200b',
          password_hash: 'not-a-hash',
          role: 'user',
          plan: 'free',
          disabled: 0,
          created_at: 0,
          updated_at: 0,
        })
        .execute();
      const report = await run('doctor');
      expect(report).toContain('! look-alike accounts for lookalike@example.com (left unchanged)');
      expect(report).toContain('usr_lookalike_copy "lookalike@example.com\\u200b"');
    } finally {
      await store.db.deleteFrom('users').where('id', '=', 'usr_lookalike_copy').execute();
      await store.close();
    }
  });

  it('serve starts, prints where it listens, and stops on a signal', async () => {
    const { run } = cli(env);
    const output = await run('serve');
    expect(output).toMatch(/Keyward is listening on http:\/\/127\.0\.0\.1:\d+/);
    // PORT=0: the banner shows the port the system picked, never port 0.
    const port = /127\.0\.0\.1:(\d+)/.exec(output)?.[1];
    expect(port).not.toBe('0');
    expect(output).toContain(
      `dashboard at http://localhost:${port}/, API docs at http://localhost:${port}/docs`,
    );
    expect(output).toContain('stopped');
  });

  it('serve with METRICS_PORT prints where the metrics are', async () => {
    const { run } = cli({ ...env, METRICS_PORT: '0' });
    const output = await run('serve');
    expect(output).toMatch(/Prometheus metrics at http:\/\/127\.0\.0\.1:[1-9]\d*\/metrics/);
    expect(output).toContain('stopped');
  });

  it('serve with METRICS_PORT in use names METRICS_PORT and leaves nothing running', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const { run } = cli({ ...env, METRICS_PORT: String(port) });
      await expect(run('serve')).rejects.toThrow(
        /EADDRINUSE.*another process is using port \d+.*METRICS_PORT=/,
      );
      // Nothing was left running: serve starts again with a free metrics port.
      expect(await cli({ ...env, METRICS_PORT: '0' }).run('serve')).toContain('stopped');
    } finally {
      taken.close();
    }
  });

  it('serve on a port in use says so and how to choose another', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const { run } = cli({ ...env, PORT: String(port) });
      await expect(run('serve')).rejects.toThrow(
        /EADDRINUSE.*another process is using port \d+.*PORT=/,
      );
    } finally {
      taken.close();
    }
  });
});

describe('keyward CLI without a database', () => {
  it('every command has --help', async () => {
    for (const args of [
      [],
      ['serve'],
      ['migrate'],
      ['user', 'create'],
      ['user', 'set-plan'],
      ['user', 'invite'],
      ['user', 'reset-password'],
      ['user', 'set-limits'],
      ['token', 'create'],
      ['keys', 'list'],
      ['keys', 'create'],
      ['keys', 'revoke'],
      ['doctor'],
    ]) {
      const { run, out } = cli({});
      await expect(run(...args, '--help')).rejects.toMatchObject({
        code: 'commander.helpDisplayed',
      });
      expect(out.join('\n'), args.join(' ')).toMatch(/Usage: keyward/);
    }
  });

  it('prints the bootstrap message when no account exists', async () => {
    const database = await DATABASES[0]?.create();
    if (database === undefined) throw new Error('no database kind');
    try {
      const { run } = cli({
        DATABASE_URL: database.config.url,
        LOG_LEVEL: 'silent',
        PORT: '0',
        SHUTDOWN_DRAIN_DELAY: '0s',
      });
      const output = await run('serve');
      expect(output).toContain('npx keyward user create --email you@example.com');
      expect(output).toContain('or sign up with: curl -X POST');
      // Without open sign-up the curl hint would be refused: only the CLI route is shown.
      const closed = cli({
        DATABASE_URL: database.config.url,
        LOG_LEVEL: 'silent',
        PORT: '0',
        SHUTDOWN_DRAIN_DELAY: '0s',
        SIGNUP: 'invite',
      });
      const invite = await closed.run('serve');
      expect(invite).toContain('npx keyward user create --email you@example.com');
      expect(invite).not.toContain('sign up with');
    } finally {
      await database.drop();
    }
  });

  it('doctor reports a bad configuration and fails', async () => {
    const { run, out } = cli({ PORT: 'x' });
    await expect(run('doctor')).rejects.toThrow('doctor found problems');
    expect(out.join('\n')).toMatch(/✗ configuration: .*PORT/s);
  });
});
