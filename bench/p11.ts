/**
 * P11: webhook delivery to a healthy receiver on the same machine. `keyward serve` is pinned to
 * the server core; the receiver (bench/webhook-receiver.ts, which verifies every signature with
 * the `standardwebhooks` library) and this load generator to the other core.
 *
 * Two phases, each with `--events` events (default 10,000):
 *  1. live: that many keys are created through the API at `--rate` per second (default 250; 0
 *     for as fast as the API answers, with `--concurrency` requests in flight); each key.created
 *     event is delivered while the changes go on. Latency is from the moment the create request
 *     was sent (before the change commits: an upper bound) to the receiver's first sight of the
 *     event's webhook-id. The server's one core serves the API and delivers: a rate the API can
 *     just sustain leaves delivery no CPU, which measures the core, not delivery.
 *  2. backlog: the server is stopped, that many events are written to the outbox directly (the
 *     rows a burst of changes writes), and the server started again: deliveries per second from
 *     the first to the last arrival measure the dispatcher and worker alone, not the API.
 *
 * Each event must arrive exactly once (distinct webhook-ids = events = requests) and verify.
 *
 *   node bench/p11.ts [--events 10000] [--rate 250] [--concurrency 32] [--db sqlite|postgres]
 *
 * Prints a table and a `P11_JSON {…}` line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { newId } from '../src/core/secrets.ts';
import { cli, freePort } from './crash.ts';
import { LOAD_CPU, SERVER_CPU, SERVER_NODE_FLAGS } from './servers.ts';
import type { ReceiverStats } from './webhook-receiver.ts';
import { wallMs } from './webhook-receiver.ts';
import { pinned } from './wrk.ts';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'main.ts');
const POSTGRES_URL =
  process.env.KEYWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface P11Options {
  events: number;
  concurrency: number;
  /** Creates per second offered in the live phase (0: as fast as the API answers). */
  rate: number;
  db: 'sqlite' | 'postgres';
  log?: (line: string) => void;
}

export interface P11Report {
  db: 'sqlite' | 'postgres';
  events: number;
  live: {
    /** The offered rate (0: as fast as possible) and the rate reached. */
    offeredPerS: number;
    createsPerS: number;
    deliveriesPerS: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
  };
  backlog: { deliveriesPerS: number; spanMs: number; firstAfterStartMs: number };
  /** Both phases: requests the receiver got, distinct webhook-ids, and bad signatures. */
  requests: number;
  distinct: number;
  badSignatures: number;
  exactlyOnce: boolean;
}

interface Started {
  url: string;
  child: ChildProcess;
  exited: Promise<void>;
}

async function startServer(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const [command, args] = pinned(SERVER_CPU, process.execPath, [
    ...SERVER_NODE_FLAGS,
    MAIN,
    'serve',
  ]);
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + String(chunk)).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.ok)
      .catch(() => false);
    if (ready) return { url, child, exited };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  child.kill('SIGKILL');
  throw new Error(`keyward serve did not become ready:\n${output}`);
}

async function stopServer(server: Started): Promise<void> {
  if (server.child.exitCode === null) server.child.kill('SIGTERM');
  await server.exited;
}

async function startReceiverProcess(): Promise<{ url: string; child: ChildProcess }> {
  const [command, args] = pinned(LOAD_CPU, process.execPath, [
    join(ROOT, 'bench', 'webhook-receiver.ts'),
    '--serve',
  ]);
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the receiver exited with ${code}`)));
  });
  return { url: (JSON.parse(first) as { url: string }).url, child };
}

async function receiverStats(url: string): Promise<ReceiverStats> {
  const res = await fetch(`${url}/__stats`);
  return (await res.json()) as ReceiverStats;
}

async function untilDistinct(
  url: string,
  count: number,
  timeoutMs: number,
): Promise<ReceiverStats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = (await (await fetch(`${url}/__count`)).json()) as ReceiverStats;
    if (stats.distinct >= count) return receiverStats(url);
    if (Date.now() > deadline)
      throw new Error(
        `the receiver has ${stats.distinct} of ${count} events after ${timeoutMs} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function api(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** The outbox rows a burst of key creations writes, straight into the database. */
async function writeBacklog(
  db: 'sqlite' | 'postgres',
  url: string,
  ownerId: string,
  events: number,
): Promise<void> {
  const now = Date.now();
  const rows = Array.from({ length: events }, (_, i) => {
    const keyId = `key_backlog${String(i).padStart(13, '0')}`;
    const payload = JSON.stringify({
      type: 'key.created',
      timestamp: new Date(now).toISOString(),
      data: {
        key: {
          id: keyId,
          owner_id: ownerId,
          name: `backlog ${i}`,
          environment: 'live',
          masked: 'sk_live_ab12…9f0e',
          status: 'active',
          expires_at: null,
        },
      },
    });
    return [newId('evt'), 'key.created', ownerId, keyId, payload, now] as const;
  });
  if (db === 'sqlite') {
    const handle = new SQLite(url.slice('sqlite:'.length));
    try {
      const insert = handle.prepare(
        'insert into events (id, type, owner_id, key_id, payload, created_at, mail_done_at) values (?, ?, ?, ?, ?, ?, ?)',
      );
      handle.transaction(() => {
        for (const row of rows) insert.run(...row, now);
      })();
    } finally {
      handle.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let i = 0; i < rows.length; i += 1000) {
      const chunk = rows.slice(i, i + 1000);
      const values = chunk
        .map(
          (_, j) =>
            `($${j * 7 + 1},$${j * 7 + 2},$${j * 7 + 3},$${j * 7 + 4},$${j * 7 + 5},$${j * 7 + 6},$${j * 7 + 7})`,
        )
        .join(',');
      await client.query(
        `insert into events (id, type, owner_id, key_id, payload, created_at, mail_done_at) values ${values}`,
        chunk.flatMap((row) => [...row, now]),
      );
    }
  } finally {
    await client.end();
  }
}

async function database(
  db: 'sqlite' | 'postgres',
): Promise<{ url: string; drop(): Promise<void> }> {
  if (db === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'kw-p11-'));
    return {
      url: `sqlite:${join(dir, 'keyward.db')}`,
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `kw_p11_${randomBytes(6).toString('hex')}`;
  const admin = async (query: string) => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(query);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(`drop database if exists ${name} with (force)`),
  };
}

export async function runP11(options: P11Options): Promise<P11Report> {
  const log = options.log ?? (() => {});
  const db = await database(options.db);
  const env = {
    DATABASE_URL: db.url,
    HOST: '127.0.0.1',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    PLANS: 'free:unlimited',
    SECRET_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
  const receiver = await startReceiverProcess();
  let server: Started | null = null;
  try {
    const email = 'p11@example.com';
    // Only migrate (and serve) create a database; every other command needs one.
    await cli(env, ['migrate']);
    await cli(env, ['user', 'create', '--email', email, '--password', 'p11 benchmark password']);
    const made = await cli(env, [
      'token',
      'create',
      '--email',
      email,
      '--name',
      'p11',
      '--scopes',
      'keys:write,webhooks:manage',
    ]);
    const token = made
      .split('\n')
      .find((line) => line.startsWith('kwm_'))
      ?.trim();
    if (token === undefined) throw new Error(`no token in: ${made}`);
    server = await startServer(env);
    const endpoint = await api(server.url, token, 'POST', '/v1/webhooks', {
      url: `${receiver.url}/hooks`,
      events: ['key.created'],
    });
    await fetch(`${receiver.url}/__secret`, {
      method: 'POST',
      body: JSON.stringify({ secret: endpoint.secret }),
    });
    const ownerId = String(endpoint.owner_id);

    // Phase 1: live.
    log(
      `P11: ${options.events} key creations${options.rate > 0 ? ` at ${options.rate}/s` : ''}, at most ${options.concurrency} in flight…`,
    );
    const sentAt = new Map<string, number>();
    let next = 0;
    const started = wallMs();
    const base = server.url;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < options.events) {
          const i = next++;
          if (options.rate > 0) {
            const due = started + (i * 1000) / options.rate;
            const wait = due - wallMs();
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          }
          const at = wallMs();
          const key = await api(base, token, 'POST', '/v1/keys', { name: `p11 ${i}` });
          sentAt.set(String(key.id), at);
        }
      }),
    );
    const createsPerS = options.events / ((wallMs() - started) / 1000);
    const live = await untilDistinct(receiver.url, options.events, 300_000);
    const latencies: number[] = [];
    const liveArrivals = live.arrivals.filter((a) => a.keyId !== null && sentAt.has(a.keyId));
    for (const a of liveArrivals) latencies.push(a.at - (sentAt.get(a.keyId as string) as number));
    latencies.sort((a, b) => a - b);
    const times = liveArrivals.map((a) => a.at).sort((a, b) => a - b);
    const liveSpan = ((times.at(-1) ?? 0) - started) / 1000;

    // Phase 2: a backlog written while the server is down.
    await stopServer(server);
    server = null;
    log(`P11: ${options.events} events in the outbox, then a start…`);
    await writeBacklog(options.db, db.url, ownerId, options.events);
    const restartAt = wallMs();
    server = await startServer(env);
    const all = await untilDistinct(receiver.url, options.events * 2, 300_000);
    const backlog = all.arrivals.filter((a) => a.keyId?.startsWith('key_backlog'));
    const backlogTimes = backlog.map((a) => a.at).sort((a, b) => a - b);
    const first = backlogTimes[0] ?? Number.NaN;
    const last = backlogTimes.at(-1) ?? Number.NaN;
    const spanMs = last - first;
    // Let late duplicates, if any, arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const final = await receiverStats(receiver.url);
    return {
      db: options.db,
      events: options.events,
      live: {
        offeredPerS: options.rate,
        createsPerS,
        deliveriesPerS: options.events / liveSpan,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        maxMs: latencies.at(-1) ?? Number.NaN,
      },
      backlog: {
        deliveriesPerS: backlog.length / (spanMs / 1000),
        spanMs,
        firstAfterStartMs: first - restartAt,
      },
      requests: final.requests,
      distinct: final.distinct,
      badSignatures: final.badSignatures,
      exactlyOnce:
        final.requests === options.events * 2 &&
        final.distinct === options.events * 2 &&
        final.badSignatures === 0 &&
        live.arrivals.length === liveArrivals.length,
    };
  } finally {
    if (server !== null) await stopServer(server);
    receiver.child.kill('SIGTERM');
    await db.drop();
  }
}

if (process.argv[1] === import.meta.filename) {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '32' },
      rate: { type: 'string', default: '250' },
      db: { type: 'string', default: 'sqlite' },
    },
  });
  const report = await runP11({
    events: Number(values.events),
    concurrency: Number(values.concurrency),
    rate: Number(values.rate),
    db: values.db === 'postgres' ? 'postgres' : 'sqlite',
    log: (line) => console.error(line),
  });
  const f = (n: number) => n.toFixed(0);
  console.log(`| phase | deliveries/s | p50 | p99 | max | notes |`);
  console.log(`|---|---|---|---|---|---|`);
  console.log(
    `| live (${report.events} creates via the API, offered ${report.live.offeredPerS > 0 ? `${report.live.offeredPerS}/s` : 'at full speed'}, reached ${f(report.live.createsPerS)}/s) | ${f(report.live.deliveriesPerS)} | ${report.live.p50Ms.toFixed(1)} ms | ${report.live.p99Ms.toFixed(1)} ms | ${report.live.maxMs.toFixed(1)} ms | latency from the create request sent to the delivery |`,
  );
  console.log(
    `| backlog (${report.events} events in the outbox at start) | ${f(report.backlog.deliveriesPerS)} | - | - | - | first delivery ${f(report.backlog.firstAfterStartMs)} ms after the start, all within ${f(report.backlog.spanMs)} ms |`,
  );
  console.log(
    `requests ${report.requests}, distinct webhook-ids ${report.distinct}, bad signatures ${report.badSignatures}: ${report.exactlyOnce ? 'each event exactly once, signed' : 'NOT exactly once'}`,
  );
  console.log(`P11_JSON ${JSON.stringify(report)}`);
  if (!report.exactlyOnce) process.exitCode = 1;
}
