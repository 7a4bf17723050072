/**
 * Starting the servers under test (bench/server.ts, pinned to the server core) and measuring one
 * load run against one of them: throughput and latency from the load generator, CPU time, cache
 * misses and resident memory from the server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fireRequests, loadProblem } from './load.ts';
import type { ServerStats } from './server.ts';
import { pinned, runWrk, type WrkSpec, wrkProblem } from './wrk.ts';

export const SERVER_CPU = '0';
export const LOAD_CPU = '1';
const SERVER_SCRIPT = join(import.meta.dirname, 'server.ts');

/**
 * The Node flags `npm start` runs Keyward with (package.json's start script), given to every
 * server under test, Keyward and the bare baselines alike, so each runs as it would be deployed
 * and all of them with the same process settings.
 */
export const SERVER_NODE_FLAGS: string[] = (() => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
    scripts: { start: string };
  };
  const words = pkg.scripts.start.split(/\s+/);
  const flags: string[] = [];
  for (const word of words.slice(words.indexOf('node') + 1)) {
    if (!word.startsWith('--')) break;
    flags.push(word);
  }
  return flags;
})();

export interface BenchServer {
  name: string;
  url: string;
  /** Where /metrics is served when the server was started with METRICS_PORT; else null. */
  metricsUrl: string | null;
  pid: number;
  stats(): Promise<ServerStats>;
  /** Resident and peak resident memory from /proc, in MB. */
  memory(): { rssMb: number; peakRssMb: number };
  stop(): Promise<void>;
}

function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Starts `node bench/server.ts <args>` pinned to the server core and waits until it listens.
 * `script` runs another checkout's bench/server.ts (bench/compare.ts); `nodeFlags` go to node
 * after SERVER_NODE_FLAGS.
 */
export async function startBenchServer(
  name: string,
  args: string[],
  options: { nodeFlags?: string[]; script?: string } = {},
): Promise<BenchServer> {
  const [command, argv] = pinned(SERVER_CPU, process.execPath, [
    ...SERVER_NODE_FLAGS,
    ...(options.nodeFlags ?? []),
    options.script ?? SERVER_SCRIPT,
    ...args,
  ]);
  const child: ChildProcess = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line !== '') tail.push(line);
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  };
  child.stderr?.on('data', keep);
  const { url, metricsUrl } = await new Promise<{ url: string; metricsUrl: string | null }>(
    (resolve, reject) => {
      let buffered = '';
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString();
        const line = buffered.split('\n').find((l) => l.startsWith('BENCH_READY '));
        if (line !== undefined) {
          child.stdout?.off('data', onData);
          // Keep draining stdout (warn-level logs) so the server never blocks on a full pipe.
          child.stdout?.on('data', keep);
          const ready = JSON.parse(line.slice('BENCH_READY '.length)) as {
            url: string;
            metricsUrl?: string | null;
          };
          resolve({ url: ready.url, metricsUrl: ready.metricsUrl ?? null });
        }
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code) =>
        reject(
          new Error(`${name} server exited with ${code} before listening:\n${tail.join('\n')}`),
        ),
      );
    },
  );
  const pid = child.pid as number;
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  return {
    name,
    url,
    metricsUrl,
    pid,
    async stats() {
      if (exited) throw new Error(`${name} server has exited:\n${tail.join('\n')}`);
      child.send('stats');
      const [message] = (await once(child, 'message')) as [ServerStats];
      return message;
    },
    memory() {
      return { rssMb: procStatusMb(pid, 'VmRSS'), peakRssMb: procStatusMb(pid, 'VmHWM') };
    },
    async stop() {
      if (exited) return;
      const done = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await done;
      clearTimeout(timer);
    },
  };
}

export interface Sample {
  server: string;
  rps: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU time over the load's duration: near 100 % means the server was the bottleneck. */
  serverCpuPct: number;
  /**
   * Requests per second of server CPU time: what the server would answer with its core to itself.
   * A cross-check of `rps` on a shared machine, where other work can take the server's core.
   */
  perCpuSecond: number;
  /** Cache misses per request during the run. */
  missRate: number;
  rssMb: number;
  /** Failures (non-2xx answers, socket errors), or null. */
  problem: string | null;
}

export type LoadSpec = Omit<WrkSpec, 'baseUrl' | 'durationS'>;

/** P1's load (and its baseline's): `GET /v1/key` presenting one key. */
export function keyRoute(key: string, connections: number): LoadSpec {
  return {
    method: 'GET',
    path: '/v1/key',
    headers: { authorization: `Bearer ${key}` },
    connections,
  };
}

/** P2's load (and its baseline's): `POST /v1/verify` of one key with a service token. */
export function verifyRoute(token: string, key: string, connections: number): LoadSpec {
  return {
    method: 'POST',
    path: '/v1/verify',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key }),
    connections,
  };
}

export interface LoadSettings {
  durationS: number;
  /** wrk when true; the in-Node generator (smoke runs without wrk) otherwise. */
  useWrk: boolean;
  scriptDir: string;
}

/** Runs one load against `server` and measures it. */
export async function measure(
  server: BenchServer,
  spec: LoadSpec,
  settings: LoadSettings,
): Promise<Sample> {
  const before = await server.stats();
  let rps: number;
  let requests: number;
  let p50Ms = Number.NaN;
  let p99Ms = Number.NaN;
  let durationS: number;
  let problem: string | null;
  if (settings.useWrk) {
    const result = await runWrk(
      { ...spec, baseUrl: server.url, durationS: settings.durationS },
      { cpu: LOAD_CPU, scriptDir: settings.scriptDir },
    );
    ({ rps, requests, p50Ms, p99Ms, durationS } = result);
    problem = wrkProblem(result);
  } else {
    const outcome = await nodeLoad(server.url, spec, settings.durationS);
    requests = outcome.requests;
    durationS = outcome.elapsedMs / 1000;
    rps = requests / durationS;
    problem = loadProblem(outcome);
  }
  const after = await server.stats();
  const cpuSeconds = (after.cpuMicros - before.cpuMicros) / 1e6;
  return {
    server: server.name,
    rps,
    requests,
    p50Ms,
    p99Ms,
    serverCpuPct: (cpuSeconds / durationS) * 100,
    perCpuSecond: cpuSeconds > 0 ? requests / cpuSeconds : Number.NaN,
    missRate: requests > 0 ? (after.misses - before.misses) / requests : 0,
    rssMb: server.memory().rssMb,
    problem,
  };
}

export interface Entry {
  label: string;
  server: BenchServer;
  spec: LoadSpec;
}

/**
 * Warms every entry up, then runs `rounds` rounds of all of them, rotating the order each round
 * so neither side of a ratio always goes first. Returns the samples per entry, round by round.
 */
export async function runRounds(
  title: string,
  entries: Entry[],
  plan: {
    rounds: number;
    warmupS: number;
    settings: LoadSettings;
    /** Numbers the rounds from here (and rotates the order by it): for one round at a time. */
    firstRound?: number;
    onSample?: (entry: Entry, round: number, sample: Sample) => void;
  },
): Promise<Sample[][]> {
  if (plan.warmupS > 0) {
    for (const entry of entries) {
      const warm = await measure(entry.server, entry.spec, {
        ...plan.settings,
        durationS: plan.warmupS,
      });
      if (warm.problem !== null)
        throw new Error(`${title}, warm-up of ${entry.label}: ${warm.problem}`);
    }
  }
  const samples: Sample[][] = entries.map(() => []);
  const first = plan.firstRound ?? 0;
  for (let round = first; round < first + plan.rounds; round++) {
    for (let i = 0; i < entries.length; i++) {
      const k = (i + round) % entries.length;
      const entry = entries[k] as Entry;
      const sample = {
        ...(await measure(entry.server, entry.spec, plan.settings)),
        server: entry.label,
      };
      (samples[k] as Sample[]).push(sample);
      plan.onSample?.(entry, round, sample);
    }
  }
  return samples;
}

const fileLines = new Map<string, string[]>();

function linesOf(path: string): string[] {
  let lines = fileLines.get(path);
  if (lines === undefined) {
    lines = readFileSync(path, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    fileLines.set(path, lines);
  }
  return lines;
}

/** The smoke fallback when wrk is missing: about 200 requests per second of duration. */
function nodeLoad(baseUrl: string, spec: LoadSpec, durationS: number) {
  const draw = (path: string) => {
    const lines = linesOf(path);
    return lines[Math.floor(Math.random() * lines.length)] as string;
  };
  const { bearerFile, pathSuffixFile } = spec;
  return fireRequests(
    {
      method: spec.method,
      url:
        pathSuffixFile === undefined
          ? baseUrl + spec.path
          : () => baseUrl + spec.path + draw(pathSuffixFile),
      headers:
        bearerFile === undefined
          ? spec.headers
          : () => ({ ...spec.headers, authorization: `Bearer ${draw(bearerFile)}` }),
      ...(spec.body !== undefined && { body: spec.body }),
    },
    { total: Math.max(100, Math.round(200 * durationS)), connections: spec.connections },
  );
}
