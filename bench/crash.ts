/**
 * R3 crash harness: `keyward serve` under a mixed load of key creates, revokes, rotations,
 * deletes, credit spends and verifications is killed with SIGKILL at random moments and
 * restarted on the same database, again and again. The harness keeps a ledger of every write the
 * server acknowledged (a 2xx answer arrived) and of every request that got no answer (it may or
 * may not have happened). After each kill, before the restart, it reads the database itself and
 * checks that:
 *
 * - every acknowledged create is there (with the hash of the secret it was given), every
 *   acknowledged revoke is revoked, every acknowledged rotation has its new key and the old key's
 *   `rotated_to`, every acknowledged delete is gone, and no key exists that nobody created;
 * - credits: per key and its rotations, remaining = initial − acknowledged spends − some of the
 *   unanswered ones: never more (an acknowledged spend lost, so spendable twice), never less;
 * - usage counts (`usage_daily`) grew by the acknowledged verifications at most plus the
 *   unanswered ones, and lost no more than one flush interval of traffic before the kill;
 *   `usage_count` agrees with the daily and hourly rollups;
 * - SQLite: `PRAGMA integrity_check` is ok.
 *
 * After each restart it verifies every key it holds a secret for, before the load resumes: an
 * acknowledged key must still verify, a revoked, rotated or deleted one must not.
 *
 *   node bench/crash.ts [--db sqlite|postgres|both] [--kills 20] [--seed 1] [--workers 8]
 *                       [--min-run 500] [--max-run 4000]
 *
 * PostgreSQL: a database of its own on KEYWARD_TEST_POSTGRES_URL's server, dropped at the end;
 * only the Keyward process is ever killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { SERVER_NODE_FLAGS } from './servers.ts';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'main.ts');
const POSTGRES_URL =
  process.env.KEYWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** The product default (USAGE_FLUSH_INTERVAL), which the servers under test run with. */
const FLUSH_INTERVAL_MS = 1000;
/**
 * A kill can land while a flush transaction is being written: then that flush's interval is lost
 * too, and the time the write takes. Usage lost beyond one interval plus this is a violation.
 */
const FLUSH_ALLOWANCE_MS = 1000;

export type DbKind = 'sqlite' | 'postgres';
type WriteKind = 'create' | 'revoke' | 'rotate' | 'delete' | 'spend';
type OpKind = WriteKind | 'verify';
const OP_KINDS: OpKind[] = ['create', 'revoke', 'rotate', 'delete', 'spend', 'verify'];
/** Relative frequency of each operation in the load. */
const WEIGHTS: Record<OpKind, number> = {
  verify: 45,
  spend: 25,
  create: 12,
  revoke: 6,
  rotate: 6,
  delete: 6,
};

export interface CrashOptions {
  db: DbKind;
  kills: number;
  seed: number;
  /** Concurrent request loops. */
  workers?: number;
  /** Each kill comes at a uniformly random moment this long after the server is ready. */
  minRunMs?: number;
  maxRunMs?: number;
  log?: (line: string) => void;
  /**
   * Runs after each kill, before the checks, with the DATABASE_URL: a test changes the database
   * there to prove the checks catch a lost write.
   */
  afterKill?: (databaseUrl: string) => Promise<void>;
}

export interface CrashReport {
  db: DbKind;
  seed: number;
  kills: number;
  durationMs: number;
  /** Requests answered with 2xx (a verification counts whatever its `code`). */
  acknowledged: Record<OpKind, number>;
  /** Requests that got no answer because the server died: they may or may not have happened. */
  unanswered: Record<OpKind, number>;
  /** Answers with a 5xx status (none are expected). */
  serverErrors: number;
  usage: {
    flushIntervalMs: number;
    /** Acknowledged verifications missing from the usage counts after all kills. */
    lostRequests: number;
    /** Per kill: how far back before the kill the lost counts reach (0 = nothing lost). */
    lostWindowMs: number[];
  };
  violations: string[];
}

interface Lineage {
  /** Credits of the key and its rotations at the last check. */
  base: number;
  acked: number;
  unanswered: number;
}

interface KeyEntry {
  id: string;
  name: string;
  /** Null for a key found in the database whose creating answer never arrived. */
  secret: string | null;
  lineage: Lineage | null;
  revoked: boolean;
  rotatedTo: string | null;
  deleted: boolean;
  /** A revoke, rotation or delete is in flight, or was sent and got no answer. */
  busy: boolean;
  unanswered: 'revoke' | 'rotate' | 'delete' | null;
  /** Bumped when a state change is sent: a verification overlapping one proves nothing. */
  opSeq: number;
  /** `usage_daily` requests at the last check, and what this cycle added. */
  usageStored: number;
  ackTimes: number[];
  usageUnanswered: number;
}

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON body, read field by field below
  body: any;
}

interface KeyRow {
  id: string;
  name: string;
  hash: string;
  revoked_at: number | null;
  rotated_from: string | null;
  rotated_to: string | null;
  credits_remaining: number | null;
}

interface DbSnapshot {
  integrity: string | null;
  rows: Map<string, KeyRow>;
  usage: Map<string, number>;
  /** Keys whose usage_count differs from their VALID daily rollups, or whose daily and hourly totals differ. */
  rollupMismatches: string[];
}

/** Small, seedable PRNG (mulberry32): a run's choices can be replayed with its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** One `keyward serve` process, started as `npm start` starts it. */
class ServerProcess {
  readonly url: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private output = '';

  private constructor(url: string, child: ChildProcess) {
    this.url = url;
    this.child = child;
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    const keep = (chunk: Buffer) => {
      this.output = (this.output + String(chunk)).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  static async start(env: Record<string, string>): Promise<ServerProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, MAIN, 'serve'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ServerProcess(`http://127.0.0.1:${port}`, child);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const ready = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(2000) })
        .then((res) => res.ok)
        .catch(() => false);
      if (ready) return server;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await server.kill();
    throw new Error(`keyward serve did not become ready:\n${server.output}`);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
    return this.child.exitCode;
  }
}

async function cli(env: Record<string, string>, args: string[]): Promise<string> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr.on('data', (chunk) => {
    output += String(chunk);
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0)
    throw new Error(`keyward ${args.slice(0, 2).join(' ')} exited ${code}: ${output}`);
  return output;
}

/** The database under test, read directly by the checks. */
interface TestDb {
  url: string;
  read(): Promise<DbSnapshot>;
  drop(): Promise<void>;
}

const ROWS_SQL =
  'select id, name, hash, revoked_at, rotated_from, rotated_to, credits_remaining from api_keys';
const USAGE_SQL = 'select key_id, sum(requests) as n from usage_daily group by key_id';
// One flush writes usage_count, the daily and the hourly rollups in one transaction.
const MISMATCH_SQL = `
  select k.id from api_keys k
  left join (select key_id, sum(requests) as n from usage_daily where outcome = 'VALID' group by key_id) d
    on d.key_id = k.id
  where k.usage_count <> coalesce(d.n, 0)
  union
  select d.key_id from (select key_id, sum(requests) as n from usage_daily group by key_id) d
  left join (select key_id, sum(requests) as n from usage_hourly group by key_id) h
    on h.key_id = d.key_id
  where d.n <> coalesce(h.n, 0)`;

function snapshot(
  integrity: string | null,
  rows: Record<string, unknown>[],
  usage: Record<string, unknown>[],
  mismatches: Record<string, unknown>[],
): DbSnapshot {
  const num = (v: unknown) => (v === null ? null : Number(v));
  return {
    integrity,
    rows: new Map(
      rows.map((r) => [
        String(r.id),
        {
          id: String(r.id),
          name: String(r.name),
          hash: String(r.hash),
          revoked_at: num(r.revoked_at),
          rotated_from: r.rotated_from === null ? null : String(r.rotated_from),
          rotated_to: r.rotated_to === null ? null : String(r.rotated_to),
          credits_remaining: num(r.credits_remaining),
        },
      ]),
    ),
    usage: new Map(usage.map((r) => [String(r.key_id), Number(r.n)])),
    rollupMismatches: mismatches.map((r) => String(r.id ?? r.key_id)),
  };
}

function sqliteDb(): TestDb {
  const dir = mkdtempSync(join(tmpdir(), 'kw-crash-'));
  const path = join(dir, 'keyward.db');
  return {
    url: `sqlite:${path}`,
    async read() {
      // Read-only, as the killed server left it: no recovery or checkpoint by a writer first.
      const db = new SQLite(path, { readonly: true, fileMustExist: true });
      try {
        const integrity = (db.pragma('integrity_check') as { integrity_check: string }[])
          .map((r) => r.integrity_check)
          .join('; ');
        return snapshot(
          integrity,
          db.prepare(ROWS_SQL).all() as Record<string, unknown>[],
          db.prepare(USAGE_SQL).all() as Record<string, unknown>[],
          db.prepare(MISMATCH_SQL).all() as Record<string, unknown>[],
        );
      } finally {
        db.close();
      }
    },
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresAdmin(query: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

async function untilBackendsGone(client: pg.Client): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await client.query<{ n: string }>(
      'select count(*) as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    if (Number(rows[0]?.n) === 0) return;
    if (Date.now() > deadline)
      throw new Error('the killed server still has open PostgreSQL backends');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function postgresDb(): Promise<TestDb> {
  const name = `kw_crash_${randomBytes(6).toString('hex')}`;
  await postgresAdmin(`create database ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async read() {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        // A killed server's COMMIT may still sit in its backend's socket: PostgreSQL applies it
        // after the kill, so the snapshot waits until every other backend on this database has
        // gone (found by the harness itself: a spend committed after an early snapshot).
        await untilBackendsGone(client);
        const rows = await client.query(ROWS_SQL);
        const usage = await client.query(USAGE_SQL);
        const mismatches = await client.query(MISMATCH_SQL);
        return snapshot(null, rows.rows, usage.rows, mismatches.rows);
      } finally {
        await client.end();
      }
    },
    async drop() {
      await postgresAdmin(`drop database if exists ${name} with (force)`);
    },
  };
}

class Harness {
  readonly report: CrashReport;
  private readonly random: () => number;
  private readonly options: Required<Omit<CrashOptions, 'log' | 'afterKill'>> &
    Pick<CrashOptions, 'log' | 'afterKill'>;
  private readonly keys: KeyEntry[] = [];
  private readonly byId = new Map<string, KeyEntry>();
  /** Creates that got no answer, by the unique name they were sent with. */
  private pendingCreates: { name: string; credits: number | null }[] = [];
  private server: ServerProcess | null = null;
  private token = '';
  private killed = false;
  private cycle = 0;
  private nameSeq = 0;

  constructor(options: CrashOptions) {
    this.options = { workers: 8, minRunMs: 500, maxRunMs: 4000, ...options };
    this.random = prng(options.seed);
    const zero = () => Object.fromEntries(OP_KINDS.map((k) => [k, 0])) as Record<OpKind, number>;
    this.report = {
      db: options.db,
      seed: options.seed,
      kills: 0,
      durationMs: 0,
      acknowledged: zero(),
      unanswered: zero(),
      serverErrors: 0,
      usage: { flushIntervalMs: FLUSH_INTERVAL_MS, lostRequests: 0, lostWindowMs: [] },
      violations: [],
    };
  }

  async run(): Promise<CrashReport> {
    const started = performance.now();
    const db = this.options.db === 'sqlite' ? sqliteDb() : await postgresDb();
    const env = { DATABASE_URL: db.url, HOST: '127.0.0.1' };
    try {
      const email = 'crash@example.com';
      // Only migrate (and serve) create a database; every other command needs one.
      await cli(env, ['migrate']);
      await cli(env, [
        'user',
        'create',
        '--email',
        email,
        '--password',
        'crash harness password',
        '--admin',
        '--plan',
        'enterprise',
      ]);
      const created = await cli(env, [
        'token',
        'create',
        '--email',
        email,
        '--name',
        'crash harness',
        '--scopes',
        'keys:verify,keys:manage',
      ]);
      const secret = created.split('\n').find((line) => line.startsWith('kws_'));
      if (secret === undefined) throw new Error(`no service token in: ${created}`);
      this.token = secret.trim();

      for (this.cycle = 1; this.cycle <= this.options.kills; this.cycle++) {
        this.server = await ServerProcess.start(env);
        this.killed = false;
        // After a restart, before any new load: what the ledger says must hold through the API.
        await this.sweep();
        const runMs =
          this.options.minRunMs + this.random() * (this.options.maxRunMs - this.options.minRunMs);
        let killAt = 0;
        const killer = new Promise<void>((resolve) => {
          setTimeout(() => {
            killAt = performance.now();
            this.killed = true;
            (this.server as ServerProcess).kill().then(resolve);
          }, runMs);
        });
        await Promise.all(
          Array.from({ length: this.options.workers }, async () => {
            while (!this.killed) await this.step();
          }),
        );
        await killer;
        this.report.kills += 1;
        await this.options.afterKill?.(db.url);
        await this.check(await db.read(), killAt);
        this.log(
          `${this.options.db} kill ${this.cycle}/${this.options.kills} after ${Math.round(runMs)} ms of load: ${this.keys.length} keys, ${this.report.violations.length} violations`,
        );
      }
      // A last restart: everything acknowledged must still verify as the ledger says.
      this.server = await ServerProcess.start(env);
      this.killed = false;
      await this.sweep();
      const code = await this.server.stop();
      if (code !== 0) this.violation(`the last server exited ${code} on SIGTERM`);
    } finally {
      await this.server?.kill();
      await db.drop();
    }
    this.report.durationMs = Math.round(performance.now() - started);
    return this.report;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private violation(text: string): void {
    const when = this.cycle <= this.options.kills ? `kill ${this.cycle}` : 'last restart';
    this.report.violations.push(`${when}: ${text}`);
  }

  /** Verifies (at cost 0) every key the harness holds a secret for and knows the state of. */
  private async sweep(): Promise<void> {
    const queue = this.keys.filter((k) => k.secret !== null && !k.busy);
    await Promise.all(
      Array.from({ length: this.options.workers }, async () => {
        for (let key = queue.pop(); key !== undefined && !this.killed; key = queue.pop()) {
          await this.verify(key, 0);
        }
      }),
    );
  }

  private pick(filter: (k: KeyEntry) => boolean): KeyEntry | undefined {
    for (let tries = 0; tries < 30 && this.keys.length > 0; tries++) {
      const key = this.keys[Math.floor(this.random() * this.keys.length)] as KeyEntry;
      if (filter(key)) return key;
    }
    return undefined;
  }

  private async step(): Promise<void> {
    let roll = this.random() * 100;
    let op: OpKind = 'verify';
    for (const kind of OP_KINDS) {
      roll -= WEIGHTS[kind];
      if (roll < 0) {
        op = kind;
        break;
      }
    }
    const live = (k: KeyEntry) => !k.busy && !k.revoked && !k.deleted && k.rotatedTo === null;
    const target =
      op === 'verify'
        ? this.pick((k) => k.secret !== null && (live(k) || this.random() < 0.2))
        : op === 'spend'
          ? this.pick((k) => k.secret !== null && k.lineage !== null && live(k))
          : op === 'delete'
            ? this.pick((k) => live(k) && k.lineage === null)
            : op === 'create'
              ? undefined
              : this.pick(live);
    if (target === undefined || op === 'create') return this.create();
    if (op === 'verify') return this.verify(target, 0);
    if (op === 'spend') return this.verify(target, 1 + Math.floor(this.random() * 3));
    return this.change(op, target);
  }

  private async request(
    op: OpKind,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Answer | null> {
    const server = this.server as ServerProcess;
    try {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      if (res.status >= 500) this.report.serverErrors += 1;
      return { status: res.status, body: text === '' ? null : JSON.parse(text) };
    } catch {
      this.report.unanswered[op] += 1;
      return null;
    }
  }

  private addKey(
    entry: Omit<KeyEntry, 'busy' | 'unanswered' | 'opSeq' | 'ackTimes' | 'usageUnanswered'>,
  ): KeyEntry {
    const key: KeyEntry = {
      ...entry,
      busy: false,
      unanswered: null,
      opSeq: 0,
      ackTimes: [],
      usageUnanswered: 0,
    };
    this.keys.push(key);
    this.byId.set(key.id, key);
    return key;
  }

  private async create(): Promise<void> {
    this.nameSeq += 1;
    const name = `crash-${this.options.seed}-${this.nameSeq}`;
    const credits = this.random() < 0.3 ? 500 + Math.floor(this.random() * 1500) : null;
    const answer = await this.request('create', 'POST', '/v1/keys', {
      name,
      ...(credits !== null && { credits: { remaining: credits } }),
    });
    if (answer === null) {
      this.pendingCreates.push({ name, credits });
      return;
    }
    if (answer.status !== 201) {
      this.violation(`create ${name} answered ${answer.status} ${JSON.stringify(answer.body)}`);
      return;
    }
    this.report.acknowledged.create += 1;
    this.addKey({
      id: answer.body.id,
      name,
      secret: answer.body.key,
      lineage: credits === null ? null : { base: credits, acked: 0, unanswered: 0 },
      revoked: false,
      rotatedTo: null,
      deleted: false,
      usageStored: 0,
    });
  }

  private async change(op: 'revoke' | 'rotate' | 'delete', key: KeyEntry): Promise<void> {
    key.busy = true;
    key.opSeq += 1;
    const answer =
      op === 'revoke'
        ? await this.request(op, 'POST', `/v1/keys/${key.id}/revoke`)
        : op === 'rotate'
          ? await this.request(op, 'POST', `/v1/keys/${key.id}/rotate`, { grace_period: '0' })
          : await this.request(op, 'DELETE', `/v1/keys/${key.id}`);
    if (answer === null) {
      key.unanswered = op;
      return;
    }
    key.busy = false;
    const expected = op === 'revoke' ? 200 : op === 'rotate' ? 201 : 204;
    if (answer.status !== expected) {
      this.violation(
        `${op} of ${key.id} (acknowledged and unchanged as far as the harness knows) answered ${answer.status} ${JSON.stringify(answer.body)}`,
      );
      return;
    }
    this.report.acknowledged[op] += 1;
    if (op === 'revoke') key.revoked = true;
    else if (op === 'delete') key.deleted = true;
    else {
      key.rotatedTo = answer.body.id;
      this.addKey({
        id: answer.body.id,
        name: key.name,
        secret: answer.body.key,
        lineage: key.lineage,
        revoked: false,
        rotatedTo: null,
        deleted: false,
        usageStored: 0,
      });
    }
  }

  private async verify(key: KeyEntry, cost: number): Promise<void> {
    const op: OpKind = cost === 0 ? 'verify' : 'spend';
    const before = {
      busy: key.busy,
      opSeq: key.opSeq,
      revoked: key.revoked,
      deleted: key.deleted,
      rotated: key.rotatedTo !== null,
    };
    const answer = await this.request(op, 'POST', '/v1/verify', { key: key.secret, cost });
    if (answer === null) {
      if (!before.deleted) key.usageUnanswered += 1;
      if (cost > 0 && key.lineage !== null) key.lineage.unanswered += cost;
      return;
    }
    if (answer.status !== 200) {
      this.violation(
        `verify of ${key.id} answered ${answer.status} ${JSON.stringify(answer.body)}`,
      );
      return;
    }
    this.report.acknowledged[op] += 1;
    const { code, valid } = answer.body as { code: string; valid: boolean };
    if (code !== 'NOT_FOUND') {
      key.ackTimes.push(performance.now());
      if (answer.body.key_id !== key.id)
        this.violation(`verify of ${key.id} answered for key ${answer.body.key_id}`);
    }
    if (valid && cost > 0 && key.lineage !== null) key.lineage.acked += cost;
    // A state change sent before this answer arrived may or may not have been applied first.
    if (before.busy || key.opSeq !== before.opSeq) return;
    const expected = before.deleted
      ? ['NOT_FOUND']
      : before.revoked
        ? ['REVOKED']
        : before.rotated
          ? ['EXPIRED']
          : key.lineage !== null && cost > 0
            ? ['VALID', 'INSUFFICIENT_CREDITS']
            : ['VALID'];
    if (!expected.includes(code))
      this.violation(`verify of ${key.id} answered ${code}, expected ${expected.join(' or ')}`);
  }

  /** Settles the unanswered requests from what the database holds, then checks the ledger. */
  private async check(db: DbSnapshot, killAt: number): Promise<void> {
    if (db.integrity !== null && db.integrity !== 'ok')
      this.violation(`PRAGMA integrity_check: ${db.integrity}`);
    for (const id of db.rollupMismatches)
      this.violation(`usage_count, usage_daily and usage_hourly disagree for ${id}`);

    for (const key of [...this.keys]) {
      const row = db.rows.get(key.id);
      if (key.unanswered === 'revoke') key.revoked = row?.revoked_at != null;
      if (key.unanswered === 'delete') key.deleted = row === undefined;
      if (key.unanswered === 'rotate' && row?.rotated_to != null) {
        key.rotatedTo = row.rotated_to;
        this.adopt(db, row.rotated_to, key.name, key.lineage);
      }
      key.busy = false;
      key.unanswered = null;
    }
    for (const pending of this.pendingCreates) {
      const row = [...db.rows.values()].find(
        (r) => r.name === pending.name && r.rotated_from === null,
      );
      if (row !== undefined) {
        const lineage =
          pending.credits === null ? null : { base: pending.credits, acked: 0, unanswered: 0 };
        this.adopt(db, row.id, pending.name, lineage);
      }
    }
    this.pendingCreates = [];

    for (const key of this.keys) {
      const row = db.rows.get(key.id);
      if (key.deleted) {
        if (row !== undefined) this.violation(`acknowledged delete of ${key.id} lost`);
        continue;
      }
      if (row === undefined) {
        this.violation(`acknowledged key ${key.id} (${key.name}) is missing`);
        continue;
      }
      if (key.secret !== null && row.hash !== sha256Hex(key.secret))
        this.violation(`key ${key.id} has another hash than its secret's`);
      if (key.revoked && row.revoked_at === null)
        this.violation(`acknowledged revoke of ${key.id} lost`);
      if (key.rotatedTo !== null && row.rotated_to !== key.rotatedTo)
        this.violation(
          `acknowledged rotation of ${key.id} to ${key.rotatedTo} lost (rotated_to ${row.rotated_to})`,
        );
    }
    for (const id of db.rows.keys())
      if (!this.byId.has(id)) this.violation(`key ${id} exists but was never created`);

    this.checkCredits(db);
    this.checkUsage(db, killAt);
  }

  /** Takes a key found in the database (its creating answer was lost) into the ledger. */
  private adopt(db: DbSnapshot, id: string, name: string, lineage: Lineage | null): void {
    if (this.byId.has(id)) return;
    this.addKey({
      id,
      name,
      secret: null,
      lineage,
      revoked: db.rows.get(id)?.revoked_at != null,
      rotatedTo: null,
      deleted: false,
      usageStored: 0,
    });
  }

  private checkCredits(db: DbSnapshot): void {
    const lineages = new Map<Lineage, KeyEntry[]>();
    for (const key of this.keys) {
      if (key.lineage === null || key.deleted) continue;
      lineages.set(key.lineage, [...(lineages.get(key.lineage) ?? []), key]);
    }
    for (const [lineage, keys] of lineages) {
      const remaining = keys.reduce(
        (sum, key) => sum + (db.rows.get(key.id)?.credits_remaining ?? 0),
        0,
      );
      const most = lineage.base - lineage.acked;
      const least = most - lineage.unanswered;
      const ids = keys.map((k) => k.id).join(' → ');
      if (remaining > most)
        this.violation(
          `credits of ${ids}: ${remaining} remain but at most ${most} may (${lineage.base} − ${lineage.acked} acknowledged spends): ${remaining - most} spendable twice`,
        );
      if (remaining < least)
        this.violation(
          `credits of ${ids}: ${remaining} remain but at least ${least} must (${lineage.base} − ${lineage.acked} acknowledged − ${lineage.unanswered} unanswered)`,
        );
      lineage.base = remaining;
      lineage.acked = 0;
      lineage.unanswered = 0;
    }
  }

  private checkUsage(db: DbSnapshot, killAt: number): void {
    let window = 0;
    for (const key of this.keys) {
      const stored = db.usage.get(key.id) ?? 0;
      const added = stored - key.usageStored;
      const acked = key.ackTimes.length;
      if (added > acked + key.usageUnanswered)
        this.violation(
          `usage of ${key.id} grew by ${added}, more than the ${acked} acknowledged and ${key.usageUnanswered} unanswered verifications`,
        );
      const lost = acked - added;
      if (lost > 0) {
        this.report.usage.lostRequests += lost;
        // The lost counts are at best the most recent acknowledged ones.
        const times = key.ackTimes.sort((a, b) => b - a);
        const reach = Math.max(0, killAt - (times[lost - 1] as number));
        window = Math.max(window, reach);
        if (reach > FLUSH_INTERVAL_MS + FLUSH_ALLOWANCE_MS)
          this.violation(
            `usage of ${key.id} lost ${lost} acknowledged verifications, reaching ${Math.round(reach)} ms before the kill (flush interval ${FLUSH_INTERVAL_MS} ms)`,
          );
      }
      key.usageStored = stored;
      key.ackTimes = [];
      key.usageUnanswered = 0;
    }
    this.report.usage.lostWindowMs.push(Math.round(window));
  }
}

export async function runCrashHarness(options: CrashOptions): Promise<CrashReport> {
  return new Harness(options).run();
}

/** The report as the lines docs/RELIABILITY.md records. */
export function describeReport(report: CrashReport): string {
  const ops = (counts: Record<OpKind, number>) =>
    OP_KINDS.map((kind) => `${kind} ${counts[kind]}`).join(', ');
  const windows = report.usage.lostWindowMs;
  return [
    `${report.db}: ${report.kills} kills in ${(report.durationMs / 1000).toFixed(0)} s (seed ${report.seed})`,
    `  acknowledged: ${ops(report.acknowledged)}`,
    `  unanswered (in flight at a kill): ${ops(report.unanswered)}`,
    `  5xx answers: ${report.serverErrors}`,
    `  usage lost: ${report.usage.lostRequests} verifications; reaching back at most ${Math.max(0, ...windows)} ms before a kill (flush interval ${report.usage.flushIntervalMs} ms); per kill: ${windows.join(', ')}`,
    `  violations: ${report.violations.length}`,
    ...report.violations.map((v) => `    - ${v}`),
  ].join('\n');
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      db: { type: 'string', default: 'both' },
      kills: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
      workers: { type: 'string', default: '8' },
      'min-run': { type: 'string', default: '500' },
      'max-run': { type: 'string', default: '4000' },
    },
  });
  const kinds: DbKind[] = values.db === 'both' ? ['sqlite', 'postgres'] : [values.db as DbKind];
  let failed = false;
  for (const db of kinds) {
    const report = await runCrashHarness({
      db,
      kills: Number(values.kills),
      seed: Number(values.seed),
      workers: Number(values.workers),
      minRunMs: Number(values['min-run']),
      maxRunMs: Number(values['max-run']),
      log: (line) => console.error(line),
    });
    console.log(describeReport(report));
    if (report.violations.length > 0) failed = true;
  }
  console.log(
    `${new Date().toISOString()}  node bench/crash.ts ${process.argv.slice(2).join(' ')}`,
  );
  process.exitCode = failed ? 1 : 0;
}
