import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config.ts';
import type { Database } from './schema.ts';

/** Why the database refuses work: it cannot be reached, or it has no room left to write. */
export type StoreFailure = 'unavailable' | 'full';

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P03',
  '08006',
  '08001',
  '08003',
  'SQLITE_BUSY',
  'SQLITE_CANTOPEN',
]);
/** SQLite's disk (or max_page_count) full, PostgreSQL's `disk_full`. */
const FULL_CODES = new Set(['SQLITE_FULL', '53100']);
/** Errors the pg driver raises without a code when the server goes away or cannot be reached. */
const UNAVAILABLE_MESSAGE =
  /connection terminated|timeout exceeded when trying to connect|connection error|not queryable/i;

/** Which store failure an error from a database call is, or null when it is something else. */
export function storeFailureOf(error: unknown): StoreFailure | null {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (FULL_CODES.has(code)) return 'full';
    if (UNAVAILABLE_CODES.has(code)) return 'unavailable';
  }
  if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return 'unavailable';
  return null;
}

export interface HealthLog {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** How often a failed store is tried again; a full disk needs an operator, so less often. */
const PROBE_INTERVAL_MS: Record<StoreFailure, number> = { unavailable: 1000, full: 5000 };

/**
 * Whether the database is serving, as the last failures showed. An outage is logged once when it
 * begins (with its real cause) and once when it ends (with how many operations failed meanwhile),
 * not once per failed request; while it lasts, a probe tries the database again in the background.
 */
export class StoreHealth {
  private state: 'ok' | StoreFailure = 'ok';
  private failures = 0;
  private since = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly log: HealthLog | undefined;
  /** Where the current outage was reported: its end is logged there too. */
  private outageLog: HealthLog | undefined;
  private readonly probe: (failure: StoreFailure) => Promise<void>;

  constructor(probe: (failure: StoreFailure) => Promise<void>, log?: HealthLog) {
    this.probe = probe;
    this.log = log;
  }

  get condition(): 'ok' | StoreFailure {
    return this.state;
  }

  /**
   * Records an error from a database call: returns which failure it is (null: not a store
   * failure, nothing recorded). Logs only when the state changes.
   */
  failed(error: unknown, log?: HealthLog): StoreFailure | null {
    const failure = storeFailureOf(error);
    if (failure === null) return null;
    if (this.state === failure) {
      this.failures += 1;
      return failure;
    }
    this.outageLog = this.log ?? log;
    this.state = failure;
    this.failures = 1;
    this.since = Date.now();
    const { code, message } = error as { code?: string; message?: string };
    this.outageLog?.error(
      { cause: { code, message } },
      failure === 'full'
        ? 'database storage is full: writes are answered 503 storage_full until there is room again'
        : 'database unavailable: requests that need it are answered 503 until it answers again',
    );
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      this.tryAgain(failure);
    }, PROBE_INTERVAL_MS[failure]);
    this.timer.unref();
    return failure;
  }

  /**
   * A write committed: an outage is over. A full disk is left to the probe: small writes still
   * fit in the space the WAL already holds while larger ones fail, and would make it flap.
   */
  succeeded(): void {
    if (this.state === 'unavailable') this.recovered();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private recovered(): void {
    clearInterval(this.timer);
    this.outageLog?.warn(
      {
        failed_operations: this.failures,
        duration_ms: Date.now() - this.since,
      },
      this.state === 'full'
        ? `database storage has room again after ${this.failures} failed operations`
        : `database reachable again after ${this.failures} failed operations`,
    );
    this.state = 'ok';
    this.failures = 0;
  }

  private tryAgain(failure: StoreFailure): void {
    this.probe(failure).then(
      () => {
        if (this.state === failure) this.recovered();
      },
      () => {},
    );
  }
}

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
  /** Outages and a full disk, as the last database calls saw them. */
  health: StoreHealth;
  /** PostgreSQL's connection pool right now (for the metrics); null on SQLite. */
  pool: (() => PoolState) | null;
  close(): Promise<void>;
}

export interface PoolState {
  /** Connections open, idle among them, and queries waiting for one. */
  total: number;
  idle: number;
  waiting: number;
}

const INT8_OID = 20;
// PostgreSQL bigint columns hold epoch milliseconds and counters, all far below 2^53.
pg.types.setTypeParser(INT8_OID, (value) => Number(value));

/** `log` receives the once-per-outage lines of {@link StoreHealth}. */
export function openStore(config: DatabaseConfig, log?: HealthLog): Store {
  if (config.kind === 'sqlite') return openSqlite(config.path, log);
  return openPostgres(config.url, log);
}

/**
 * Kysely answers a failed statement inside a transaction with ROLLBACK. After SQLITE_FULL (or an
 * I/O error) SQLite has already rolled the transaction back itself, so that ROLLBACK fails with
 * "cannot rollback - no transaction is active" and replaces the real error; it is skipped then.
 */
const NOTHING_TO_ROLL_BACK = {
  reader: false,
  run: () => ({ changes: 0, lastInsertRowid: 0 }),
} as unknown as SQLite.Statement;

/** WAL size kept after a checkpoint: without a limit the file stays at its largest size ever. */
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** A better-sqlite3 connection as Kysely's dialect wants it, reusing prepared statements. */
function sqliteConnection(path: string, readonly: boolean) {
  const connection = new SQLite(path, { readonly });
  if (!readonly) {
    connection.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
    connection.pragma('synchronous = NORMAL');
    connection.pragma('foreign_keys = ON');
    connection.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  }
  connection.pragma('busy_timeout = 5000');
  // Kysely prepares every query it runs; better-sqlite3 statements can be reused, so keep them.
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => connection.close(),
    dataVersion: () => connection.pragma('data_version', { simple: true }) as number,
    prepare(text: string): SQLite.Statement {
      if (text === 'rollback' && !connection.inTransaction) return NOTHING_TO_ROLL_BACK;
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

/**
 * Whether the database file can grow again: checkpoints the WAL into the database and truncates
 * it (returning its space), then commits a transaction that allocates and frees 64 KiB of pages.
 */
async function sqliteHasRoom(db: Kysely<Database>): Promise<void> {
  await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db);
  await db.transaction().execute(async (trx) => {
    await sql`create table keyward_room_probe (filler blob)`.execute(trx);
    await sql`insert into keyward_room_probe values (zeroblob(65536))`.execute(trx);
    await sql`drop table keyward_room_probe`.execute(trx);
  });
}

function openSqlite(path: string, log?: HealthLog): Store {
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
  const health = new StoreHealth(async (failure) => {
    if (failure === 'full') await sqliteHasRoom(db);
    else await sql`select 1`.execute(db);
  }, log);
  return {
    db,
    readDb,
    dialect: 'sqlite',
    dataVersion: writer.dataVersion,
    pool: null,
    async ping() {
      await sql`select 1`.execute(db);
    },
    health,
    async close() {
      health.close();
      if (readDb !== db) await readDb.destroy();
      await db.destroy();
    },
  };
}

function openPostgres(url: string, log?: HealthLog): Store {
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
  // A full PostgreSQL disk is probed by reaching the server: room is seen again on the next write.
  const health = new StoreHealth(async () => {
    await sql`select 1`.execute(db);
  }, log);
  return {
    db,
    readDb: db,
    dialect: 'postgres',
    dataVersion: null,
    pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async ping() {
      await sql`select 1`.execute(db);
    },
    health,
    async close() {
      health.close();
      await db.destroy();
    },
  };
}
