/**
 * Issue 11.2: what a flood of password checks does to everyone else. One server per scenario
 * (bench/server.ts through startBenchServer), a signed-in attacker whose 16 workers post wrong
 * current passwords to POST /v1/auth/password for 10 s, and meanwhile a probe that signs another
 * user in and loads the dashboard (GET /) one after the other. Latencies are reported as medians
 * and as ratios against the same run's quiet server.
 *
 *   node bench/password-flood.ts [--seconds 10] [--workers 16]
 *
 * Scenarios: `quiet` (no flood), `unbounded` (what the code did before: no hashing gate, no
 * throttle on password changes, emulated with a gate of 64 and throttle limits of 1,000,000),
 * `gate only` (the default gate, throttle limits still 1,000,000) and `defaults` (the shipped
 * settings: gate and throttle). The attacker and the probe come from different addresses
 * (X-Forwarded-For through TRUSTED_PROXIES), as they would in real life.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startBenchServer } from './servers.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    workers: { type: 'string', default: '16' },
  },
});
const floodMs = Number(values.seconds) * 1000;
const workers = Number(values.workers);

const NO_THROTTLE = [
  'LOGIN_MAX_FAILURES_PER_ACCOUNT_IP=1000000',
  'LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000',
  'LOGIN_MAX_FAILURES_PER_IP=1000000',
];
const SCENARIOS: Array<{ name: string; flood: boolean; set: string[] }> = [
  { name: 'quiet', flood: false, set: [] },
  {
    name: 'unbounded',
    flood: true,
    set: ['PASSWORD_HASH_CONCURRENCY=64', 'PASSWORD_HASH_QUEUE=100000', ...NO_THROTTLE],
  },
  { name: 'gate only', flood: true, set: NO_THROTTLE },
  { name: 'defaults', flood: true, set: [] },
];

interface Session {
  cookie: string;
  csrf: string;
}

async function post(
  url: string,
  body: unknown,
  from: string,
  session?: Session,
): Promise<{ status: number; session?: Session }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': from,
      ...(session !== undefined && { cookie: session.cookie, 'x-csrf-token': session.csrf }),
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const cookie = response.headers.get('set-cookie')?.split(';')[0];
  if (cookie === undefined || !response.ok) return { status: response.status };
  return { status: response.status, session: { cookie, csrf: JSON.parse(text).csrf_token } };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function p90(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length * 0.9)] ?? Number.NaN;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const result = await fn();
  return [performance.now() - start, result];
}

interface Result {
  name: string;
  signIn: number[];
  page: number[];
  signInStatuses: Map<number, number>;
  floodStatuses: Map<number, number>;
}

async function runScenario(scenario: (typeof SCENARIOS)[number]): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-flood-'));
  const settings = ['TRUSTED_PROXIES=127.0.0.1', ...scenario.set].flatMap((s) => ['--set', s]);
  const server = await startBenchServer(scenario.name, [
    '--mode',
    'keyward',
    '--db',
    join(dir, 'flood.db'),
    ...settings,
  ]);
  const base = server.url.replace('[::1]', '127.0.0.1');
  const count = (map: Map<number, number>, status: number) =>
    map.set(status, (map.get(status) ?? 0) + 1);
  const result: Result = {
    name: scenario.name,
    signIn: [],
    page: [],
    signInStatuses: new Map(),
    floodStatuses: new Map(),
  };
  try {
    const user = { email: 'probe@example.com', password: 'probe user passphrase' };
    await post(`${base}/v1/auth/signup`, user, '203.0.113.1');
    const attacker = await post(
      `${base}/v1/auth/signup`,
      { email: 'mallory@example.com', password: 'mallory owns this one' },
      '198.51.100.1',
    );
    if (attacker.session === undefined) throw new Error('attacker signup failed');
    let stop = false;
    const flood = scenario.flood
      ? Array.from({ length: workers }, async (_, w) => {
          let i = 0;
          while (!stop) {
            const { status } = await post(
              `${base}/v1/auth/password`,
              { current_password: `guess ${w} ${i++} wrong`, new_password: 'not going to happen' },
              '198.51.100.1',
              attacker.session,
            );
            count(result.floodStatuses, status);
          }
        })
      : [];
    const started = performance.now();
    while (performance.now() - started < floodMs) {
      const [signInMs, signIn] = await timed(() =>
        post(`${base}/v1/auth/login`, user, '203.0.113.1'),
      );
      result.signIn.push(signInMs);
      count(result.signInStatuses, signIn.status);
      const [pageMs] = await timed(async () => {
        const response = await fetch(`${base}/`, { headers: { 'x-forwarded-for': '203.0.113.1' } });
        await response.arrayBuffer();
      });
      result.page.push(pageMs);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    stop = true;
    await Promise.all(flood);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

const results: Result[] = [];
for (const scenario of SCENARIOS) results.push(await runScenario(scenario));
const quiet = results[0] as Result;
const fmt = (n: number) => n.toFixed(1);
const statuses = (map: Map<number, number>) =>
  [...map].map(([status, n]) => `${status}×${n}`).join(' ') || '-';
console.log(
  `password flood: ${workers} workers for ${floodMs / 1000} s; medians (p90) in ms, ratio = median / quiet median`,
);
console.log(
  '| scenario | sign-in | ratio | GET / | ratio | sign-in answers | flood answers |\n|---|---|---|---|---|---|---|',
);
for (const r of results) {
  console.log(
    `| ${r.name} | ${fmt(median(r.signIn))} (${fmt(p90(r.signIn))}) | ${fmt(median(r.signIn) / median(quiet.signIn))} | ${fmt(median(r.page))} (${fmt(p90(r.page))}) | ${fmt(median(r.page) / median(quiet.page))} | ${statuses(r.signInStatuses)} | ${statuses(r.floodStatuses)} |`,
  );
}
