/**
 * What a Redis outage costs one `keyward serve` node on PostgreSQL + Redis (REDIS_URL set, so the
 * limiter and the invalidation bus both use Redis). The Redis is a redis-server of the script's
 * own, killed with SIGKILL between the two halves of each measurement; the server is pinned to
 * core 0 and wrk to core 1.
 *
 * 1. A key with a rate limit, paced load (about 50 requests/s): latency with Redis up, then down
 *    (RATE_LIMIT_FAILURE=closed: every answer is a 503, counted); then flooded with Redis up,
 *    where any non-2xx would be REDIS_COMMAND_TIMEOUT_MS firing on a busy node.
 * 2. A cached key without limits, a flood of 64 connections: requests/s with Redis up and down,
 *    alternately, and the PostgreSQL transactions the database counted meanwhile
 *    (pg_stat_database).
 *
 *   node bench/redis-outage.ts [--seconds 10] [--rounds 3] [--root <checkout>]
 *
 * `--root` runs another checkout's src/main.ts (with its own node_modules), to measure the code
 * before a change in the same run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freePort, PrivateRedis } from '../test/helpers/cluster.ts';
import { LOAD_CPU, SERVER_CPU } from './servers.ts';
import { HAVE_WRK, pinned, runWrk, type WrkResult } from './wrk.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    root: { type: 'string', default: join(import.meta.dirname, '..') },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const ROOT = values.root as string;
if (!HAVE_WRK) throw new Error('wrk is required: apt-get install -y wrk');

const POSTGRES_URL =
  process.env.KEYWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function admin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function run(args: string[], env: Record<string, string>): ChildProcess {
  const [command, argv] = pinned(SERVER_CPU, process.execPath, [
    join(ROOT, 'src', 'main.ts'),
    ...args,
  ]);
  return spawn(command, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function cli(env: Record<string, string>, args: string[]): Promise<void> {
  const child = run(args, env);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`keyward ${args.join(' ')} exited ${code}`);
}

const name = `kw_bench_${randomBytes(6).toString('hex')}`;
await admin(POSTGRES_URL, (c) => c.query(`create database ${name}`));
const dbUrl = new URL(POSTGRES_URL);
dbUrl.pathname = `/${name}`;
const redis = await PrivateRedis.start();
const port = await freePort();
const env = {
  DATABASE_URL: dbUrl.toString(),
  REDIS_URL: redis.url,
  PLANS: 'free:unlimited',
  PORT: String(port),
  HOST: '127.0.0.1',
};
const base = `http://127.0.0.1:${port}`;
const scriptDir = mkdtempSync(join(tmpdir(), 'kw-redis-outage-'));
const server = run(['serve'], env);
let serverOutput = '';
for (const stream of [server.stdout, server.stderr])
  stream?.on('data', (chunk) => {
    serverOutput += String(chunk);
  });
const serverExited = new Promise((resolve) => server.on('exit', resolve));

async function transactions(): Promise<number> {
  // Counters reach pg_stat_database when a backend goes idle, up to a second later.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return admin(POSTGRES_URL, async (c) => {
    const result = await c.query(
      'select xact_commit + xact_rollback as n from pg_stat_database where datname = $1',
      [name],
    );
    return Number((result.rows[0] as { n: string }).n);
  });
}

async function load(
  key: string,
  options: { connections: number; delayMs?: number },
): Promise<WrkResult> {
  return runWrk(
    {
      baseUrl: base,
      method: 'GET',
      path: '/v1/key',
      headers: { authorization: `Bearer ${key}` },
      durationS: SECONDS,
      ...options,
    },
    { cpu: LOAD_CPU, scriptDir },
  );
}

async function until(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await ok().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the server never became ready');
}

try {
  await until(async () => (await fetch(`${base}/healthz`)).ok);
  await cli(env, ['user', 'create', '--email', 'b@example.com', '--password', 'bench password 1']);
  const login = await fetch(`${base}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'b@example.com', password: 'bench password 1' }),
  });
  const headers = {
    'content-type': 'application/json',
    cookie: (login.headers.get('set-cookie') ?? '').split(';')[0] as string,
    'x-csrf-token': ((await login.json()) as { csrf_token: string }).csrf_token,
  };
  const create = async (body: Record<string, unknown>) => {
    const response = await fetch(`${base}/v1/keys`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'bench', ...body }),
    });
    return ((await response.json()) as { key: string }).key;
  };
  const limited = await create({ limits: { rate: [{ limit: 1_000_000, window: '1h' }] } });
  const plain = await create({});
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const rows: string[] = [];

  // 1. A limited key, ~50 requests/s (10 connections, each waiting 200 ms between requests).
  const paced = { connections: 10, delayMs: 200 };
  const limitedUp = await load(limited, paced);
  await redis.stop();
  const limitedDown = await load(limited, paced);
  await redis.resume();
  // How long after Redis is back (accepting connections) the limited key is admitted again.
  const back = performance.now();
  await until(async () => {
    const response = await fetch(`${base}/v1/key`, {
      headers: { authorization: `Bearer ${limited}` },
    });
    await response.arrayBuffer();
    return response.ok;
  });
  const recoveryMs = performance.now() - back;
  for (const [state, r] of [
    ['up', limitedUp],
    ['down', limitedDown],
  ] as const) {
    rows.push(
      `| limited key, ~50 req/s, Redis ${state} | ${r.requests} (${r.errors.status} non-2xx, ${r.errors.timeout} timeouts) | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${ms(r.maxMs)} | |`,
    );
  }

  // The command timeout must not misfire when the node is saturated and Redis is fine: a flood
  // of a limited key, every answer should be a 200.
  const flood = await load(limited, { connections: 64 });
  rows.push(
    `| limited key, 64 connections, Redis up | ${Math.round(flood.rps)} req/s (${flood.errors.status} non-2xx) | ${ms(flood.p50Ms)} | ${ms(flood.p99Ms)} | ${ms(flood.maxMs)} | |`,
  );

  // 2. A cached key without limits, flooded: up and down alternately, ROUNDS times each (the
  // machine is shared; alternating spreads its noise over both), medians reported.
  await load(plain, { connections: 64 });
  const up: WrkResult[] = [];
  const down: WrkResult[] = [];
  let xactsUp = 0;
  let xactsDown = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = await transactions();
    up.push(await load(plain, { connections: 64 }));
    const t1 = await transactions();
    await redis.stop();
    const t2 = await transactions();
    down.push(await load(plain, { connections: 64 }));
    const t3 = await transactions();
    await redis.resume();
    xactsUp += t1 - t0;
    xactsDown += t3 - t2;
    await until(async () => {
      const ready = await fetch(`${base}/readyz`);
      return ((await ready.json()) as { status: string }).status === 'ready';
    });
  }
  const med = (runs: WrkResult[], pick: (r: WrkResult) => number) => {
    const sorted = runs.map(pick).sort((x, y) => x - y);
    return sorted[Math.floor(sorted.length / 2)] as number;
  };
  for (const [state, runs, xacts] of [
    ['up', up, xactsUp],
    ['down', down, xactsDown],
  ] as const) {
    const non2xx = runs.reduce((sum, r) => sum + r.errors.status, 0);
    rows.push(
      `| cached key, no limits, 64 connections, Redis ${state} (median of ${ROUNDS}) | ${Math.round(med(runs, (r) => r.rps))} req/s (${non2xx} non-2xx) | ${ms(med(runs, (r) => r.p50Ms))} | ${ms(med(runs, (r) => r.p99Ms))} | ${ms(med(runs, (r) => r.maxMs))} | ${Math.round(xacts / ROUNDS)} per run |`,
    );
  }
  console.log(
    `Redis outage, ${SECONDS} s per run, node ${process.version}, ${ROOT === join(import.meta.dirname, '..') ? 'this checkout' : ROOT}`,
  );
  console.log('| run | answers | p50 | p99 | max | PostgreSQL transactions |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  const ratio = med(down, (r) => r.rps) / med(up, (r) => r.rps);
  console.log(`requests/s with Redis down ÷ up (cached key, medians): ${ratio.toFixed(2)}`);
  console.log(`limited key admitted again ${ms(recoveryMs)} after Redis accepted connections`);
} catch (error) {
  console.error(`${(error as Error).message}\nserver output:\n${serverOutput}`);
  process.exitCode = 1;
} finally {
  server.kill('SIGTERM');
  await serverExited;
  await redis.stop();
  await admin(POSTGRES_URL, (c) => c.query(`drop database if exists ${name} with (force)`));
  rmSync(scriptDir, { recursive: true, force: true });
}
