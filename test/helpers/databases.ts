import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseConfig } from '../../src/config.ts';

export interface TestDatabase {
  config: DatabaseConfig;
  /** Files that hold the database on disk (SQLite), for the secrets-at-rest check. */
  files: string[];
  drop(): Promise<void>;
}

export interface DatabaseKind {
  name: 'sqlite' | 'postgres';
  create(): Promise<TestDatabase>;
}

export const ARTIFACTS_DIR = join(import.meta.dirname, '..', '..', '.test-artifacts');
const POSTGRES_URL =
  process.env.KEYWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const sqlite: DatabaseKind = {
  name: 'sqlite',
  async create() {
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const path = join(ARTIFACTS_DIR, `kw-${randomBytes(6).toString('hex')}.db`);
    const files = [path, `${path}-wal`, `${path}-shm`];
    return {
      config: { kind: 'sqlite', url: `sqlite:${path}`, path },
      files,
      async drop() {
        // The webhook secret key file SQLite deployments get next to the database, if made.
        for (const file of [...files, `${path}.secret-key`]) rmSync(file, { force: true });
      },
    };
  },
};

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const postgres: DatabaseKind = {
  name: 'postgres',
  async create() {
    const name = `kw_test_${randomBytes(6).toString('hex')}`;
    await admin((client) => client.query(`create database ${name}`));
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    return {
      config: { kind: 'postgres', url: url.toString() },
      files: [],
      async drop() {
        await admin((client) => client.query(`drop database if exists ${name} with (force)`));
      },
    };
  },
};

async function postgresReachable(): Promise<boolean> {
  try {
    await admin((client) => client.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

/**
 * The databases every storage-touching suite runs against. PostgreSQL is skipped locally when it
 * is not running, but never in CI: there its absence fails the run.
 */
export const DATABASES: DatabaseKind[] = await (async () => {
  if (await postgresReachable()) return [sqlite, postgres];
  if (process.env.CI)
    throw new Error(`PostgreSQL is required in CI but ${POSTGRES_URL} is unreachable`);
  console.warn(`PostgreSQL at ${POSTGRES_URL} is unreachable: running the SQLite suites only`);
  return [sqlite];
})();

export { POSTGRES_URL };
