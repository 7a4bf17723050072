// Backing up and restoring an SQLite database (`keyward backup`, `keyward restore`;
// docs/OPERATIONS.md). PostgreSQL is backed up with its own tools (pg_dump, base backups).
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { knownMigrations } from './migrations.ts';

/** What a database file holds, as checked before it is trusted. */
export interface DatabaseFacts {
  path: string;
  bytes: number;
  /** Keyward migrations recorded in it, in order. */
  migrations: string[];
  /** Rows per table (Keyward's and the migration tables), by name. */
  rows: Record<string, number>;
}

/** A backup or restore refused for a reason the operator can act on. */
export class BackupError extends Error {}

/** The SQLite pages one backup step copies: all of them, in one read transaction. */
const ALL_PAGES = 0x7fffffff;

function tableNames(db: SQLite.Database): string[] {
  return (
    db
      .prepare(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name",
      )
      .all() as { name: string }[]
  ).map((row) => row.name);
}

function rowCounts(db: SQLite.Database): Record<string, number> {
  const rows: Record<string, number> = {};
  for (const name of tableNames(db)) {
    const quoted = `"${name.replaceAll('"', '""')}"`;
    rows[name] = (db.prepare(`select count(*) as n from ${quoted}`).get() as { n: number }).n;
  }
  return rows;
}

/**
 * Checks that `db` is a sound Keyward database this release can run: `PRAGMA integrity_check`
 * and `foreign_key_check` clean, a `keyward_migrations` table, and no migration newer than this
 * release knows. Throws BackupError saying what is wrong.
 */
async function checkDatabase(db: SQLite.Database, path: string): Promise<DatabaseFacts> {
  let integrity: string[];
  try {
    integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map(
      (row) => row.integrity_check,
    );
  } catch (error) {
    throw new BackupError(`${path} is not a readable SQLite database: ${(error as Error).message}`);
  }
  if (integrity.length !== 1 || integrity[0] !== 'ok')
    throw new BackupError(
      `${path} fails PRAGMA integrity_check: ${integrity.slice(0, 5).join('; ')}${integrity.length > 5 ? ` (and ${integrity.length - 5} more)` : ''}`,
    );
  const orphans = db.pragma('foreign_key_check') as { table: string; parent: string }[];
  if (orphans.length > 0) {
    const first = orphans[0] as { table: string; parent: string };
    throw new BackupError(
      `${path} fails PRAGMA foreign_key_check: ${orphans.length} rows refer to missing rows (first: ${first.table} → ${first.parent})`,
    );
  }
  const tables = tableNames(db);
  if (!tables.includes('keyward_migrations'))
    throw new BackupError(`${path} is not a Keyward database: it has no keyward_migrations table`);
  const migrations = (
    db.prepare('select name from keyward_migrations order by name').all() as { name: string }[]
  ).map((row) => row.name);
  if (migrations.length === 0)
    throw new BackupError(`${path} is not a Keyward database: no migration was ever applied to it`);
  const known = new Set(await knownMigrations());
  const unknown = migrations.filter((name) => !known.has(name));
  if (unknown.length > 0)
    throw new BackupError(
      `${path} was written by a newer Keyward release (migrations ${unknown.join(', ')} are unknown to this one): restore it with that release or a later one`,
    );
  return { path, bytes: statSync(path).size, migrations, rows: rowCounts(db) };
}

/** Opens a file that must already be an SQLite database, read-only. */
function openExisting(path: string, what: string): SQLite.Database {
  if (!existsSync(path)) throw new BackupError(`${what} ${path} does not exist`);
  if (!statSync(path).isFile()) throw new BackupError(`${what} ${path} is not a file`);
  try {
    return new SQLite(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new BackupError(`cannot open ${what} ${path}: ${(error as Error).message}`);
  }
}

/** Makes a rename or new file in `dir` durable. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A name beside `path` for a file being written, renamed into place only when complete. */
function partialName(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial-${randomBytes(4).toString('hex')}`);
}

/**
 * Copies the live database at `source` to `target` with SQLite's online backup API, from a
 * connection of its own, while servers keep reading and writing it: the pages are copied in one
 * step, inside one read transaction, so the copy is the database as of one commit (in WAL mode
 * writers are not blocked meanwhile). The copy is written beside `target`, switched from WAL to
 * a rollback journal (one self-contained file), checked (integrity, migrations) and only then
 * renamed to `target`. An existing `target` is refused unless `force`.
 */
export async function backupSqlite(
  source: string,
  target: string,
  options: { force?: boolean } = {},
): Promise<DatabaseFacts> {
  const from = resolve(source);
  const to = resolve(target);
  if (from === to) throw new BackupError(`the backup file ${to} is the database itself`);
  if (existsSync(to) && !options.force)
    throw new BackupError(
      `${to} already exists: choose another file, or pass --force to replace it`,
    );
  if (existsSync(to) && !statSync(to).isFile())
    throw new BackupError(`${to} exists and is not a file`);
  if (!existsSync(dirname(to)))
    throw new BackupError(`the directory ${dirname(to)} does not exist`);
  const live = openExisting(from, 'the database');
  const partial = partialName(to);
  try {
    live.pragma('busy_timeout = 5000');
    await live.backup(partial, { progress: () => ALL_PAGES });
  } catch (error) {
    rmSync(partial, { force: true });
    if (error instanceof BackupError) throw error;
    throw new BackupError(`backup of ${from} failed: ${(error as Error).message}`);
  } finally {
    live.close();
  }
  try {
    const copy = new SQLite(partial, { fileMustExist: true });
    let facts: DatabaseFacts;
    try {
      copy.pragma('journal_mode = DELETE');
      facts = await checkDatabase(copy, partial);
    } finally {
      copy.close();
    }
    // It holds password and key hashes: readable by the owner only.
    chmodSync(partial, 0o600);
    syncFile(partial);
    renameSync(partial, to);
    syncDirectory(dirname(to));
    return { ...facts, path: to };
  } catch (error) {
    rmSync(partial, { force: true });
    rmSync(`${partial}-journal`, { force: true });
    throw error;
  }
}

/** Checks a backup file without changing anything: what `restore` would put back. */
export async function inspectBackup(file: string): Promise<DatabaseFacts> {
  const path = resolve(file);
  const db = openExisting(path, 'the backup');
  try {
    return await checkDatabase(db, path);
  } finally {
    db.close();
  }
}

/**
 * Whether a process (a running `keyward serve`, another command) has the database open. Every
 * connection to a WAL database holds a shared lock on the file for as long as it is open, so an
 * exclusive lock taken without waiting fails exactly then. On success the connection is closed
 * again, which checkpoints the WAL into the database file.
 */
function assertNotInUse(path: string): void {
  let db: SQLite.Database;
  try {
    db = new SQLite(path, { fileMustExist: true, timeout: 0 });
  } catch (error) {
    throw new BackupError(`cannot open the database ${path}: ${(error as Error).message}`);
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('begin exclusive');
    db.exec('commit');
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY')
      throw new BackupError(
        `the database ${path} is in use: stop every Keyward server (and command) using it, then run restore again`,
      );
    throw new BackupError(`cannot lock the database ${path}: ${(error as Error).message}`);
  } finally {
    db.close();
  }
}

export interface RestoreReport extends DatabaseFacts {
  /** Where the database that was replaced now is, or null when there was none. */
  previous: string | null;
}

/**
 * Puts the backup `file` in place of the database at `target`, which no process may have open.
 * The backup is checked first (integrity, foreign keys, Keyward migrations this release knows);
 * the database it replaces is not deleted but renamed to `{target}.before-restore-{time}`; the
 * backup is copied beside `target`, synced and renamed into place, so a crash leaves either the
 * old database or the restored one. Migrations the backup lacks are applied by the next start.
 */
export async function restoreSqlite(
  file: string,
  target: string,
  now: Date = new Date(),
): Promise<RestoreReport> {
  const from = resolve(file);
  const to = resolve(target);
  if (from === to) throw new BackupError(`the backup ${from} is the database itself`);
  await inspectBackup(from);
  mkdirSync(dirname(to), { recursive: true });
  let previous: string | null = null;
  if (existsSync(to)) {
    assertNotInUse(to);
    previous = `${to}.before-restore-${now.toISOString().replace(/[:.]/g, '-')}`;
    renameSync(to, previous);
    for (const suffix of ['-wal', '-shm', '-journal']) {
      if (existsSync(`${to}${suffix}`)) renameSync(`${to}${suffix}`, `${previous}${suffix}`);
    }
  }
  const partial = partialName(to);
  try {
    copyFileSync(from, partial);
    syncFile(partial);
    renameSync(partial, to);
    syncDirectory(dirname(to));
  } catch (error) {
    rmSync(partial, { force: true });
    throw new BackupError(
      `could not put ${from} in place of ${to}: ${(error as Error).message}${previous === null ? '' : `; the previous database is at ${previous}`}`,
    );
  }
  const restored = openExisting(to, 'the restored database');
  try {
    return { ...(await checkDatabase(restored, to)), previous };
  } finally {
    restored.close();
  }
}
