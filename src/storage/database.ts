import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config.ts';
import type { Database } from './schema.ts';

export interface Store {
  db: Kysely<Database>;
  /**
   * For reads on the hot path that must not queue behind a write transaction (cache misses of
   * verification): SQLite's second, read-only connection; PostgreSQL's same pool.
   */
  readDb: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  /**
   * SQLite's `data_version` on the writing connection: it changes when, and only when, another
   * connection (another process) has committed. Null on PostgreSQL.
   */
  dataVersion: (() => number) | null;
  /** Resolves when the database answers a trivial query; for /readyz and doctor. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const INT8_OID = 20;
// PostgreSQL bigint columns hold epoch milliseconds and counters, all far below 2^53.
pg.types.setTypeParser(INT8_OID, (value) => Number(value));

export function openStore(config: DatabaseConfig): Store {
  if (config.kind === 'sqlite') return openSqlite(config.path);
  return openPostgres(config.url);
}

/** A better-sqlite3 connection as Kysely's dialect wants it, reusing prepared statements. */
function sqliteConnection(path: string, readonly: boolean) {
  const connection = new SQLite(path, { readonly });
  if (!readonly) {
    connection.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
    connection.pragma('synchronous = NORMAL');
    connection.pragma('foreign_keys = ON');
  }
  connection.pragma('busy_timeout = 5000');
  // Kysely prepares every query it runs; better-sqlite3 statements can be reused, so keep them.
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => connection.close(),
    dataVersion: () => connection.pragma('data_version', { simple: true }) as number,
    prepare(text: string): SQLite.Statement {
      let statement = statements.get(text);
      if (statement === undefined) {
        statement = connection.prepare(text);
        if (statements.size >= 500) statements.delete(statements.keys().next().value as string);
        statements.set(text, statement);
      }
      return statement;
    },
  };
}

function openSqlite(path: string): Store {
  const inMemory = path === ':memory:';
  if (!inMemory) mkdirSync(dirname(path), { recursive: true });
  const writer = sqliteConnection(path, false);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: writer }) });
  // A second, read-only connection for the verification lookups: in WAL mode it reads the last
  // commit while the writer holds a transaction (the usage flush), where the one connection
  // would make every cache miss wait for the whole flush. An in-memory database is one connection.
  const readDb = inMemory
    ? db
    : new Kysely<Database>({
        dialect: new SqliteDialect({ database: sqliteConnection(path, true) }),
      });
  return {
    db,
    readDb,
    dialect: 'sqlite',
    dataVersion: writer.dataVersion,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      if (readDb !== db) await readDb.destroy();
      await db.destroy();
    },
  };
}

function openPostgres(url: string): Store {
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 3000 });
  // A client losing its connection (database restart, network cut) must not crash the process:
  // the pool reports idle clients' errors, and a checked-out client (inside a transaction, between
  // two queries) emits its own, with no listener unless we add one. The query in flight fails
  // either way, and the pool drops the broken client when it is released.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    readDb: db,
    dialect: 'postgres',
    dataVersion: null,
    async ping() {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}
