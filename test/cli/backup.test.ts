// keyward backup / restore (docs/OPERATIONS.md): a backup taken from a live SQLite database while
// a real server creates keys and records usage is the database as of one commit, and restores
// into a working database with exactly its rows.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.ts';
import { loadConfig } from '../../src/config.ts';
import { eventually, Node } from '../helpers/cluster.ts';

/** Runs a command in this process (quicker than a child) and returns what it printed. */
async function run(env: Record<string, string>, ...args: string[]): Promise<string> {
  const out: string[] = [];
  const program = buildProgram({
    loadConfig: () => loadConfig(env),
    output: { out: (l) => out.push(l), err: (l) => out.push(l) },
    untilSignal: () => Promise.resolve('SIGTERM'),
  });
  await program.parseAsync(['node', 'keyward', ...args]);
  return out.join('\n');
}

/** What the checks below read from a database file, through a connection of the test's own. */
interface Snapshot {
  integrity: string[];
  journalMode: string;
  rows: Record<string, number>;
  keyIds: Set<string>;
  keysCreatedInAudit: number;
  usageCount: number;
  hourlyRequests: number;
  dailyRequests: number;
}

function snapshot(path: string): Snapshot {
  const db = new SQLite(path, { readonly: true, fileMustExist: true });
  try {
    const tables = (
      db
        .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")
        .all() as { name: string }[]
    ).map((r) => r.name);
    const rows: Record<string, number> = {};
    for (const table of tables)
      rows[table] = (db.prepare(`select count(*) as n from "${table}"`).get() as { n: number }).n;
    const one = (query: string) => (db.prepare(query).get() as { n: number | null }).n ?? 0;
    return {
      integrity: (db.pragma('integrity_check') as { integrity_check: string }[]).map(
        (r) => r.integrity_check,
      ),
      journalMode: db.pragma('journal_mode', { simple: true }) as string,
      rows,
      keyIds: new Set(
        (db.prepare('select id from api_keys').all() as { id: string }[]).map((r) => r.id),
      ),
      keysCreatedInAudit: one("select count(*) as n from audit_log where action = 'key.created'"),
      usageCount: one('select sum(usage_count) as n from api_keys'),
      hourlyRequests: one('select sum(requests) as n from usage_hourly'),
      dailyRequests: one('select sum(requests) as n from usage_daily'),
    };
  } finally {
    db.close();
  }
}

function secretIn(output: string): string {
  const secret = /^(kw[ms]_\S+)$/m.exec(output)?.[1];
  if (secret === undefined) throw new Error(`no secret in: ${output}`);
  return secret;
}

describe('keyward backup and restore (SQLite)', () => {
  let dir: string;
  let env: Record<string, string>;
  let node: Node | undefined;
  let writer: string;
  let verifier: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-backup-'));
    env = {
      DATABASE_URL: `sqlite:${join(dir, 'live', 'keyward.db')}`,
      PLANS: 'free:unlimited',
      LOG_LEVEL: 'warn',
    };
    await run(env, 'migrate');
    await run(
      env,
      'user',
      'create',
      '--email',
      'ops@example.com',
      '--password',
      'a long admin password',
      '--admin',
    );
    const token = (scopes: string) =>
      run(
        env,
        'token',
        'create',
        '--email',
        'ops@example.com',
        '--name',
        scopes,
        '--scopes',
        scopes,
      );
    writer = secretIn(await token('keys:read,keys:write'));
    verifier = secretIn(await token('keys:verify'));
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('backs up under write load a copy as of one commit, and restores exactly it', async () => {
    node = await Node.start({ ...env, USAGE_FLUSH_INTERVAL: '1s' });
    const live = node;
    const keys: { id: string; key: string }[] = [];
    let started = 0;
    let writing = true;
    let failure: Error | undefined;
    // Four clients, each creating a key and then verifying the keys created so far: key rows,
    // audit rows, usage counters and rollups are all being written while the backup runs.
    const client = async () => {
      while (writing) {
        started += 1;
        const created = await live.request('POST', '/v1/keys', {
          headers: { authorization: `Bearer ${writer}` },
          body: { name: `load ${started}` },
        });
        if (created.status !== 201) throw new Error(`create answered ${created.status}`);
        keys.push((await created.json()) as { id: string; key: string });
        for (const { key } of keys.slice(-3)) {
          const verified = await live.request('POST', '/v1/verify', {
            headers: { authorization: `Bearer ${verifier}` },
            body: { key },
          });
          if (((await verified.json()) as { valid: boolean }).valid !== true)
            throw new Error('a key just created did not verify');
        }
      }
    };
    const livePath = join(dir, 'live', 'keyward.db');
    // A long read transaction (a report, say) from before the load: while it lasts no checkpoint
    // can copy the load's commits from the WAL into the database file, so a plain copy of that
    // file would hold none of them. The backup must read through the WAL.
    const reader = new SQLite(livePath, { readonly: true });
    reader.exec('begin');
    const keysWhenPinned = (
      reader.prepare('select count(*) as n from api_keys').get() as { n: number }
    ).n;
    expect(keysWhenPinned).toBe(0);
    const clients = Promise.all([client(), client(), client(), client()]).catch((error) => {
      failure = error as Error;
    });
    // Usage has reached the database at least once: the backup has counters to be coherent about.
    await eventually(
      'usage flushed',
      async () => keys.length >= 20 && snapshot(livePath).usageCount > 0,
    );

    const acknowledgedBefore = new Set(keys.map((k) => k.id));
    const backupPath = join(dir, 'backup.db');
    const printed = await Node.cli(env, ['backup', '--to', backupPath]);
    const startedAfter = started;
    reader.exec('commit');
    reader.close();
    // Keep writing a little after the backup, then stop.
    const countAfterBackup = keys.length;
    await eventually('writes after the backup', async () => keys.length >= countAfterBackup + 10);
    writing = false;
    await clients;
    expect(failure).toBeUndefined();

    expect(printed).toContain(`backed up ${livePath} to ${backupPath}`);
    const backup = snapshot(backupPath);
    expect(backup.integrity).toEqual(['ok']);
    // One self-contained file, not a WAL database needing its -wal beside it.
    expect(backup.journalMode).toBe('delete');
    expect(printed).toContain(`api_keys ${backup.rows.api_keys}`);
    // Every key acknowledged before the backup started is in it; nothing started after it ended.
    for (const id of acknowledgedBefore) expect(backup.keyIds.has(id), id).toBe(true);
    expect(backup.keyIds.size).toBeLessThanOrEqual(startedAfter);
    expect(keys.length).toBeGreaterThan(backup.keyIds.size);
    // Each of these pairs is written in one transaction: a copy mixing two moments breaks them.
    expect(backup.keysCreatedInAudit).toBe(backup.keyIds.size);
    expect(backup.usageCount).toBeGreaterThan(0);
    expect(backup.hourlyRequests).toBe(backup.usageCount);
    expect(backup.dailyRequests).toBe(backup.usageCount);

    // The running server's database cannot be replaced under it.
    await expect(run(env, 'restore', '--from', backupPath)).rejects.toThrow(
      `the database ${livePath} is in use`,
    );
    expect(snapshot(livePath).keyIds.size).toBe(keys.length);

    // Restore into a fresh path: the same rows, table by table.
    const restoredEnv = { ...env, DATABASE_URL: `sqlite:${join(dir, 'restored', 'keyward.db')}` };
    const restoredPath = join(dir, 'restored', 'keyward.db');
    const restoredOutput = await run(restoredEnv, 'restore', '--from', backupPath);
    expect(restoredOutput).toContain(`restored ${restoredPath} from ${backupPath}`);
    const restored = snapshot(restoredPath);
    expect(restored.integrity).toEqual(['ok']);
    expect(restored.rows).toEqual(backup.rows);
    expect(restored.keyIds).toEqual(backup.keyIds);

    // A server on the restored database knows the keys of the backup's moment and no later one.
    const inBackup = keys.find((k) => backup.keyIds.has(k.id));
    const afterBackup = keys.find((k) => !backup.keyIds.has(k.id));
    if (inBackup === undefined || afterBackup === undefined) throw new Error('keys on both sides');
    const again = await Node.start({ ...restoredEnv });
    try {
      const verify = async (key: string) =>
        (await (
          await again.request('POST', '/v1/verify', {
            headers: { authorization: `Bearer ${verifier}` },
            body: { key },
          })
        ).json()) as { valid: boolean; code: string };
      expect(await verify(inBackup.key)).toMatchObject({ valid: true });
      expect(await verify(afterBackup.key)).toMatchObject({ valid: false, code: 'NOT_FOUND' });
    } finally {
      await again.stop();
    }

    // Restoring over an existing (stopped) database keeps the one it replaces.
    const second = await run(restoredEnv, 'restore', '--from', backupPath);
    const aside = readdirSync(join(dir, 'restored')).filter((f) => f.includes('.before-restore-'));
    expect(aside.length).toBe(1);
    expect(second).toContain(`kept at ${join(dir, 'restored', aside[0] as string)}`);
    // The replaced database (which the server used and so verified keys on) is intact beside it.
    expect(snapshot(join(dir, 'restored', aside[0] as string)).integrity).toEqual(['ok']);
  }, 120_000);

  it('refuses to overwrite a file unless --force, and a database that does not exist', async () => {
    const target = join(dir, 'again.db');
    writeFileSync(target, 'something precious');
    await expect(run(env, 'backup', '--to', target)).rejects.toThrow(
      `${target} already exists: choose another file, or pass --force to replace it`,
    );
    expect(readFileSync(target, 'utf8')).toBe('something precious');
    const forced = JSON.parse(await run(env, 'backup', '--to', target, '--force', '--json')) as {
      database: string;
      backup: { path: string; migrations: string[]; rows: Record<string, number> };
    };
    expect(forced.database).toBe(join(dir, 'live', 'keyward.db'));
    expect(forced.backup.path).toBe(target);
    expect(forced.backup.migrations[0]).toBe('0001_initial');
    const copy = snapshot(target);
    expect(copy.integrity).toEqual(['ok']);
    expect(forced.backup.rows).toEqual(copy.rows);
    // Password and key hashes inside: readable by its owner only.
    expect(statSync(target).mode & 0o777).toBe(0o600);

    const missing = join(dir, 'no-such-dir', 'keyward.db');
    await expect(
      run({ ...env, DATABASE_URL: `sqlite:${missing}` }, 'backup', '--to', join(dir, 'x.db')),
    ).rejects.toThrow(`the database ${missing} does not exist`);
    // A wrong working directory must not leave an empty database behind.
    expect(existsSync(missing)).toBe(false);
  }, 60_000);

  it('restore refuses a damaged file and a database that is not Keyward, changing nothing', async () => {
    const good = join(dir, 'good.db');
    await run(env, 'backup', '--to', good);
    const target = join(dir, `target-${randomBytes(3).toString('hex')}`, 'keyward.db');
    const targetEnv = { ...env, DATABASE_URL: `sqlite:${target}` };

    // A page in the middle of the file overwritten: the header still says SQLite.
    const damaged = join(dir, 'damaged.db');
    const bytes = readFileSync(good);
    const pageSize = bytes.readUInt16BE(16);
    bytes.fill(0xa5, pageSize * 3, pageSize * 5);
    writeFileSync(damaged, bytes);
    await expect(run(targetEnv, 'restore', '--from', damaged)).rejects.toThrow(
      /integrity_check|malformed/,
    );

    const foreign = join(dir, 'foreign.db');
    const other = new SQLite(foreign);
    other.exec('create table notes (body text)');
    other.close();
    await expect(run(targetEnv, 'restore', '--from', foreign)).rejects.toThrow(
      `${foreign} is not a Keyward database: it has no keyward_migrations table`,
    );

    const newer = join(dir, 'newer.db');
    writeFileSync(newer, readFileSync(good));
    const future = new SQLite(newer);
    future
      .prepare("insert into keyward_migrations (name, timestamp) values ('9999_future', 'x')")
      .run();
    future.close();
    await expect(run(targetEnv, 'restore', '--from', newer)).rejects.toThrow(
      'was written by a newer Keyward release (migrations 9999_future are unknown to this one)',
    );
    expect(existsSync(target)).toBe(false);
  }, 60_000);

  it('both commands explain themselves in --help', async () => {
    for (const command of ['backup', 'restore']) {
      const out: string[] = [];
      const program = buildProgram({
        loadConfig: () => loadConfig({}),
        output: { out: (l) => out.push(l), err: (l) => out.push(l) },
        untilSignal: () => Promise.resolve('SIGTERM'),
      });
      await expect(
        program.parseAsync(['node', 'keyward', command, '--help']),
      ).rejects.toMatchObject({ code: 'commander.helpDisplayed' });
      expect(out.join('\n')).toContain(`Usage: keyward ${command} [options]`);
      expect(out.join('\n')).toContain(command === 'backup' ? '--to <file>' : '--from <file>');
    }
  });

  it('points PostgreSQL users at pg_dump and pg_restore', async () => {
    const pgEnv = { DATABASE_URL: 'postgres://keyward@127.0.0.1:1/keyward' };
    await expect(run(pgEnv, 'backup', '--to', join(dir, 'pg.db'))).rejects.toThrow(
      /DATABASE_URL is PostgreSQL: back it up with pg_dump .* see docs\/OPERATIONS\.md/,
    );
    await expect(run(pgEnv, 'restore', '--from', join(dir, 'good.db'))).rejects.toThrow(
      /restore with pg_restore or psql, see docs\/OPERATIONS\.md/,
    );
    expect(existsSync(join(dir, 'pg.db'))).toBe(false);
  });
});
