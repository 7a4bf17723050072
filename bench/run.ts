/**
 * The benchmark suite: every performance target (P1–P10, stated in each row's target column) that can be measured today, each against a
 * baseline measured in the same run. Servers run pinned to core 0, wrk to core 1; each benchmark
 * gets a warm-up and interleaved rounds, and the table shows medians and ratios.
 *
 *   npm run bench                       # everything (about 7–8 minutes); rewrites docs/BENCHMARKS.md
 *   npm run bench -- --only P1,P2       # some of them
 *   npm run bench -- --quick            # shorter rounds
 *   npm run bench:smoke                 # seconds each: fails only on crashes, non-2xx or errors
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bareColdStart, keywardColdStart } from './cold-start.ts';
import { createDataset } from './dataset.ts';
import type { P3Result } from './p3.ts';
import { measureP6 } from './p6.ts';
import { measureP10 } from './p10.ts';
import type { P11Report } from './p11.ts';
import {
  describeMachine,
  fmt,
  latency,
  markdownTable,
  median,
  type RoundLog,
  type Row,
  renderDocument,
  writeDocument,
} from './report.ts';
import {
  type BenchServer,
  type Entry,
  keyRoute as keyLoad,
  LOAD_CPU,
  type LoadSettings,
  type LoadSpec,
  runRounds,
  type Sample,
  SERVER_CPU,
  startBenchServer,
  verifyRoute as verifyLoad,
} from './servers.ts';
import { HAVE_TASKSET, HAVE_WRK, pinned } from './wrk.ts';

const ROOT = join(import.meta.dirname, '..');
const IDS = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7', 'P8', 'P9', 'P10', 'P11'] as const;
type Id = (typeof IDS)[number];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '64' },
    'log-level': { type: 'string', default: 'warn' },
    write: { type: 'boolean', default: false },
  },
});

interface Profile {
  name: 'full' | 'quick' | 'smoke';
  rounds: number;
  durationS: number;
  warmupS: number;
  p4Sizes: number[];
  p8Keys: number;
  p3Iterations: number;
  p3Rounds: number;
  p9Starts: number;
  p7Rounds: number;
  p11Events: number;
}

const PROFILES: Record<Profile['name'], Profile> = {
  full: {
    name: 'full',
    rounds: 5,
    durationS: 4,
    warmupS: 3,
    p4Sizes: [10_000, 1_000_000],
    p8Keys: 100_000,
    p3Iterations: 2_000_000,
    p3Rounds: 5,
    p9Starts: 5,
    p7Rounds: 200,
    p11Events: 10_000,
  },
  quick: {
    name: 'quick',
    rounds: 2,
    durationS: 2,
    warmupS: 1,
    p4Sizes: [10_000, 1_000_000],
    p8Keys: 100_000,
    p3Iterations: 1_000_000,
    p3Rounds: 3,
    p9Starts: 3,
    p7Rounds: 50,
    p11Events: 10_000,
  },
  // Smoke checks that every benchmark runs and answers 2xx; the sizes are small on purpose.
  smoke: {
    name: 'smoke',
    rounds: 1,
    durationS: 1,
    warmupS: 0,
    p4Sizes: [1_000, 10_000],
    p8Keys: 2_000,
    p3Iterations: 100_000,
    p3Rounds: 1,
    p9Starts: 1,
    p7Rounds: 5,
    p11Events: 200,
  },
};

const base = PROFILES[values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'];
const profile: Profile = {
  ...base,
  ...(values.rounds !== undefined && { rounds: Number(values.rounds) }),
  ...(values.duration !== undefined && { durationS: Number(values.duration) }),
  ...(values.warmup !== undefined && { warmupS: Number(values.warmup) }),
};
const connections = Number(values.connections);
const logLevel = values['log-level'];

const only = values.only?.split(',').map((id) => id.trim().toUpperCase());
for (const id of only ?? []) {
  if (!(IDS as readonly string[]).includes(id)) {
    console.error(`unknown benchmark "${id}"; choose from ${IDS.join(', ')}`);
    process.exit(2);
  }
}
const wanted = (id: Id) => only === undefined || only.includes(id);

if (!HAVE_WRK && profile.name !== 'smoke') {
  console.error('wrk is required for measurements: apt-get install -y wrk (or run bench:smoke)');
  process.exit(2);
}
if (!HAVE_TASKSET || cpus().length < 2)
  console.warn('warning: no taskset or fewer than 2 cores: server and load generator share cores');

const work = await mkdtemp(join(tmpdir(), 'kw-bench-'));
const settings: LoadSettings = { durationS: profile.durationS, useWrk: HAVE_WRK, scriptDir: work };
const rows: Row[] = [];
const roundLogs: RoundLog[] = [];
const notes: string[] = [];
const failures: string[] = [];
const startedAt = new Date();
const servers = new Set<BenchServer>();

function log(message: string): void {
  const seconds = ((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4);
  console.log(`[${seconds} s] ${message}`);
}

async function server(name: string, args: string[]): Promise<BenchServer> {
  const started = await startBenchServer(name, [...args, '--log-level', logLevel]);
  servers.add(started);
  return started;
}

async function stop(...list: BenchServer[]): Promise<void> {
  for (const s of list) {
    servers.delete(s);
    await s.stop();
  }
}

function logSample(title: string) {
  return (entry: Entry, round: number, sample: Sample) =>
    log(
      `${title} · ${entry.label} · round ${round + 1}/${profile.rounds}: ${fmt.int(sample.rps)} req/s, p50 ${fmt.ms(sample.p50Ms)} ms, p99 ${fmt.ms(sample.p99Ms)} ms, server CPU ${fmt.pct(sample.serverCpuPct / 100)}${sample.problem === null ? '' : ` — ${sample.problem}`}`,
    );
}

/** Interleaved rounds (see runRounds), logged as they finish and kept for the report. */
async function interleaved(title: string, entries: Entry[]): Promise<Sample[][]> {
  const samples = await runRounds(title, entries, {
    rounds: profile.rounds,
    warmupS: profile.warmupS,
    settings,
    onSample: logSample(title),
  });
  roundLogs.push({ title, samples: samples.flat() });
  return samples;
}

const rps = (samples: Sample[]) => median(samples.map((s) => s.rps));
const p99 = (samples: Sample[]) => median(samples.map((s) => s.p99Ms));
const p50 = (samples: Sample[]) => median(samples.map((s) => s.p50Ms));
const maxRss = (samples: Sample[]) => Math.max(...samples.map((s) => s.rssMb));
/** Median of the per-round ratios a[i] / b[i]. */
const pairedRatio = (a: Sample[], b: Sample[]) =>
  median(a.map((s, i) => s.rps / (b[i] as Sample).rps));
/** The same, in requests per server CPU-second: the cross-check against a busy machine. */
const cpuRatio = (a: Sample[], b: Sample[]) =>
  median(a.map((s, i) => s.perCpuSecond / (b[i] as Sample).perCpuSecond));
/** "62 % (per CPU-s 58 %)": the target's ratio, then its cross-check. */
const ratioText = (a: Sample[], b: Sample[]) =>
  `${fmt.pct(pairedRatio(a, b))} (per CPU-s ${fmt.pct(cpuRatio(a, b))})`;

/**
 * A row measured against a baseline of the same run: requests/s, the paired ratio, both
 * latencies and Keyward's memory, with `changes` for what a benchmark reports differently.
 */
function comparedRow(
  fields: Pick<Row, 'id' | 'what' | 'target' | 'verdict'> & { baselineName: string },
  keyward: Sample[],
  baseline: Sample[],
  changes: Partial<Row> = {},
): Row {
  const { baselineName, ...rest } = fields;
  return {
    ...rest,
    result: `${fmt.int(rps(keyward))} req/s`,
    baseline: `${fmt.int(rps(baseline))} req/s (${baselineName})`,
    ratio: ratioText(keyward, baseline),
    latency: latency(keyward),
    baselineLatency: latency(baseline),
    rss: fmt.mb(maxRss(keyward)),
    ...changes,
  };
}

function problemOf(...groups: Sample[][]): string | null {
  for (const samples of groups)
    for (const s of samples) if (s.problem !== null) return `${s.server}: ${s.problem}`;
  return null;
}

function judge(id: string, problem: string | null, met: boolean, missed: string): string {
  if (problem !== null) {
    failures.push(`${id}: ${problem}`);
    return `failed: ${problem}`;
  }
  return met ? 'met' : `missed: ${missed}`;
}

function failedRow(id: string, what: string, target: string, error: unknown): Row {
  const message = (error as Error).message?.split('\n')[0] ?? String(error);
  failures.push(`${id}: ${message}`);
  log(`${id} failed: ${(error as Error).stack ?? message}`);
  return blankRow(id, what, target, `failed: ${message}`);
}

/** A row with nothing measured: only its verdict says why. */
function blankRow(id: string, what: string, target: string, verdict: string): Row {
  return {
    id,
    what,
    result: '-',
    baseline: '-',
    ratio: '-',
    latency: '-',
    baselineLatency: '-',
    rss: '-',
    target,
    verdict,
  };
}

const keyRoute = (key: string): LoadSpec => keyLoad(key, connections);
const verifyRoute = (token: string, key: string): LoadSpec => verifyLoad(token, key, connections);

const TARGET = {
  P1: '≥ 90 %; p99 ≤ 1.5 × baseline',
  P1default: 'within 5 points of P1 (warn)',
  P2: '≥ 80 %',
  P3: '≥ 1,000,000/s',
  P4: '≥ 50 % of P1; RSS ≤ 400 MB',
  P5: 'costs ≤ 10 %',
  P8create: '≥ 1,000/s',
  P8list: '≤ 10 ms per page',
  P9: '≤ 1,000 ms',
  P6: '≥ 70 %',
  P7: 'p99 ≤ 100 ms',
  P10: 'costs ≤ 3 %',
  P11: '≥ 1,000 deliveries/s, each once, signed; p99 ≤ 2 s',
};

/** P1, P2 and P5 share their servers: the bare baseline, Keyward, and Keyward without usage. */
async function keyAndVerifyRoutes(): Promise<void> {
  const data = await createDataset({ dbPath: join(work, 'p1.db') });
  const other = wanted('P5') ? await createDataset({ dbPath: join(work, 'p5.db') }) : undefined;
  const defaultsData = wanted('P1')
    ? await createDataset({ dbPath: join(work, 'p1-defaults.db') })
    : undefined;
  const keyTitle = 'GET /v1/key';
  const verifyTitle = 'POST /v1/verify';
  // [bare, Keyward, Keyward with usage off, Keyward with the default settings (LOG_LEVEL=info)]
  const keySamples: Sample[][] = [[], [], [], []];
  const verifySamples: Sample[][] = [[], []];
  // Fresh server processes every round: a Node process settles into a faster or a slower steady
  // state (JIT), and that varies more between processes (up to 20 %) than between the rounds of
  // one process, so one process per configuration would make a ratio hinge on a coin toss.
  for (let round = 0; round < profile.rounds; round++) {
    const started: BenchServer[] = [];
    try {
      const bare = await server('bare Fastify', ['--mode', 'bare']);
      started.push(bare);
      const keyward = await server('Keyward', ['--mode', 'keyward', '--db', data.dbPath]);
      started.push(keyward);
      const noUsage =
        other === undefined
          ? undefined
          : await server('Keyward, usage off', [
              ...['--mode', 'keyward', '--db', other.dbPath, '--usage', 'off'],
            ]);
      if (noUsage !== undefined) started.push(noUsage);
      // P1 as `npm start` runs it: LOG_LEVEL=info and ACCESS_LOG's default (errors), whatever
      // --log-level the run uses; its own copy of the dataset, so it does not share a SQLite
      // file (and cache invalidations) with the other Keyward server.
      const defaults =
        defaultsData === undefined
          ? undefined
          : await startBenchServer('Keyward, default settings', [
              ...['--mode', 'keyward', '--db', defaultsData.dbPath, '--log-level', 'info'],
            ]);
      if (defaults !== undefined) {
        servers.add(defaults);
        started.push(defaults);
      }
      const plan = { rounds: 1, warmupS: profile.warmupS, settings, firstRound: round };
      if (wanted('P1') || wanted('P5')) {
        const entries: Entry[] = [
          { label: 'bare Fastify GET', server: bare, spec: keyRoute(data.key) },
          { label: 'Keyward GET /v1/key', server: keyward, spec: keyRoute(data.key) },
        ];
        const slots = [0, 1];
        if (noUsage !== undefined && other !== undefined) {
          entries.push({
            label: 'Keyward GET /v1/key, usage off',
            server: noUsage,
            spec: keyRoute(other.key),
          });
          slots.push(2);
        }
        if (defaults !== undefined && defaultsData !== undefined) {
          entries.push({
            label: 'Keyward GET /v1/key, default settings (LOG_LEVEL=info)',
            server: defaults,
            spec: keyRoute(defaultsData.key),
          });
          slots.push(3);
        }
        const got = await runRounds(keyTitle, entries, { ...plan, onSample: logSample(keyTitle) });
        for (const [i, samples] of got.entries()) keySamples[slots[i] as number]?.push(...samples);
      }
      if (wanted('P2')) {
        const spec = verifyRoute(data.serviceToken, data.key);
        const got = await runRounds(
          verifyTitle,
          [
            { label: 'bare Fastify POST', server: bare, spec },
            { label: 'Keyward POST /v1/verify', server: keyward, spec },
          ],
          { ...plan, onSample: logSample(verifyTitle) },
        );
        for (const [i, samples] of got.entries()) verifySamples[i]?.push(...samples);
      }
    } finally {
      await stop(...started);
    }
  }
  if (wanted('P1') || wanted('P5')) {
    roundLogs.push({ title: keyTitle, samples: keySamples.flat() });
    const [b, k] = keySamples as [Sample[], Sample[]];
    const off = other === undefined ? undefined : keySamples[2];
    const defaults = defaultsData === undefined ? undefined : keySamples[3];
    if (wanted('P1')) {
      const ratio = pairedRatio(k, b);
      const p99Factor = p99(k) / p99(b);
      const misses: string[] = [];
      if (!(ratio >= 0.9)) misses.push(`${fmt.pct(ratio)} of the baseline`);
      if (!(p99Factor <= 1.5)) misses.push(`p99 ${p99Factor.toFixed(2)} × the baseline's`);
      rows.push(
        comparedRow(
          {
            id: 'P1',
            what: `GET /v1/key, cached key, ${connections} connections`,
            baselineName: 'bare Fastify GET',
            target: TARGET.P1,
            verdict: judge('P1', problemOf(b, k), misses.length === 0, misses.join('; ')),
          },
          k,
          b,
        ),
      );
    }
    if (defaults !== undefined) {
      // Points between the two ratios to the same baseline, from the same rounds.
      const points = (pairedRatio(defaults, b) - pairedRatio(k, b)) * 100;
      rows.push(
        comparedRow(
          {
            id: 'P1',
            what: `GET /v1/key with the default settings (LOG_LEVEL=info, ACCESS_LOG=errors), ${connections} connections`,
            baselineName: 'bare Fastify GET',
            target: TARGET.P1default,
            verdict: judge(
              'P1 default settings',
              problemOf(b, defaults),
              Math.abs(points) <= 5,
              `${points.toFixed(1)} points from P1 at ${logLevel}`,
            ),
          },
          defaults,
          b,
          {
            ratio: `${ratioText(defaults, b)}; ${points >= 0 ? '+' : ''}${points.toFixed(1)} points vs LOG_LEVEL=${logLevel}`,
          },
        ),
      );
    }
    if (off !== undefined) {
      const ratio = pairedRatio(k, off);
      rows.push(
        comparedRow(
          {
            id: 'P5',
            what: 'usage accounting and request log on vs off (P1 load)',
            baselineName: 'usage off',
            target: TARGET.P5,
            verdict: judge(
              'P5',
              problemOf(k, off),
              1 - ratio <= 0.1,
              `costs ${fmt.pct(1 - ratio)}`,
            ),
          },
          k,
          off,
          {
            ratio: `${fmt.pct(ratio)}: costs ${fmt.pct(1 - ratio)} (per CPU-s: ${fmt.pct(1 - cpuRatio(k, off))})`,
          },
        ),
      );
    }
  }

  if (wanted('P2')) {
    roundLogs.push({ title: verifyTitle, samples: verifySamples.flat() });
    const [b, k] = verifySamples as [Sample[], Sample[]];
    const ratio = pairedRatio(k, b);
    rows.push(
      comparedRow(
        {
          id: 'P2',
          what: `POST /v1/verify, service token, ${connections} connections`,
          baselineName: 'bare Fastify POST',
          target: TARGET.P2,
          verdict: judge('P2', problemOf(b, k), ratio >= 0.8, `${fmt.pct(ratio)} of the baseline`),
        },
        k,
        b,
      ),
    );
  }
}

/** P4: keys drawn uniformly from N stored keys vs P1's one cached key, on the same server. */
async function manyKeys(size: number): Promise<void> {
  const what = `GET /v1/key, ${fmt.int(size)} keys drawn uniformly`;
  try {
    const dbPath = join(work, `p4-${size}.db`);
    const secretsFile = join(work, `p4-${size}-keys.txt`);
    log(`P4: writing ${fmt.int(size)} keys…`);
    const data = await createDataset({ dbPath, extraKeys: size, secretsFile });
    notes.push(
      `P4 dataset: ${fmt.int(size)} keys written in ${(data.generated.ms / 1000).toFixed(1)} s (bench/dataset.ts).`,
    );
    log(`P4: ${fmt.int(size)} keys written in ${(data.generated.ms / 1000).toFixed(1)} s`);
    const keyward = await server(`Keyward, ${fmt.int(size)} keys`, [
      ...['--mode', 'keyward', '--db', dbPath],
    ]);
    try {
      const [one, many] = (await interleaved(`P4 ${fmt.int(size)} keys`, [
        { label: 'one cached key (P1)', server: keyward, spec: keyRoute(data.key) },
        {
          label: `${fmt.int(size)} keys, uniform`,
          server: keyward,
          spec: { ...keyRoute(data.key), bearerFile: secretsFile },
        },
      ])) as [Sample[], Sample[]];
      const ratio = pairedRatio(many, one);
      const peak = keyward.memory().peakRssMb;
      const missRate = median(many.map((s) => s.missRate));
      const misses: string[] = [];
      if (!(ratio >= 0.5)) misses.push(`${fmt.pct(ratio)} of P1`);
      if (!(peak <= 400)) misses.push(`RSS ${fmt.mb(peak)}`);
      rows.push(
        comparedRow(
          {
            id: 'P4',
            what,
            baselineName: 'one cached key, same server',
            target: TARGET.P4,
            verdict: judge(
              `P4 ${size}`,
              problemOf(one, many),
              misses.length === 0,
              misses.join('; '),
            ),
          },
          many,
          one,
          {
            result: `${fmt.int(rps(many))} req/s, ${fmt.pct(missRate)} cache misses`,
            rss: `${fmt.mb(peak)} peak`,
          },
        ),
      );
    } finally {
      await stop(keyward);
      await rm(dbPath, { force: true });
      await rm(`${dbPath}-wal`, { force: true });
      await rm(`${dbPath}-shm`, { force: true });
      await rm(secretsFile, { force: true });
    }
  } catch (error) {
    rows.push(failedRow('P4', what, TARGET.P4, error));
  }
}

/** P8: creating keys, and paging through 100,000 of them. */
async function management(): Promise<void> {
  const dbPath = join(work, 'p8.db');
  log(`P8: writing ${fmt.int(profile.p8Keys)} keys…`);
  const data = await createDataset({ dbPath, extraKeys: profile.p8Keys });
  const started: BenchServer[] = [];
  try {
    const bare = await server('bare Fastify', ['--mode', 'bare']);
    const keyward = await server('Keyward', ['--mode', 'keyward', '--db', dbPath]);
    started.push(bare, keyward);
    const auth = { authorization: `Bearer ${data.managementToken}` };

    // Every page's cursor, so the measured requests can ask for pages at random depths.
    const cursors: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`;
      const response = await fetch(`${keyward.url}/v1/keys?limit=100${query}`, { headers: auth });
      if (response.status !== 200)
        throw new Error(`GET /v1/keys answered ${response.status}: ${await response.text()}`);
      cursor = ((await response.json()) as { next_cursor: string | null }).next_cursor;
      if (cursor !== null) cursors.push(`&cursor=${cursor}`);
    } while (cursor !== null);
    const cursorFile = join(work, 'p8-cursors.txt');
    writeFileSync(cursorFile, `${cursors.join('\n')}\n`);
    log(`P8: ${fmt.int(cursors.length + 1)} pages of 100`);

    const [page, bareGet] = (await interleaved('P8 list', [
      {
        label: 'Keyward GET /v1/keys?limit=100, 1 connection',
        server: keyward,
        spec: {
          method: 'GET',
          path: '/v1/keys?limit=100',
          headers: auth,
          pathSuffixFile: cursorFile,
          connections: 1,
        },
      },
      {
        label: 'bare Fastify GET, 1 connection',
        server: bare,
        spec: { ...keyRoute(data.key), connections: 1 },
      },
    ])) as [Sample[], Sample[]];
    rows.push({
      id: 'P8',
      what: `list: a page of 100 of ${fmt.int(profile.p8Keys)} keys, random depth`,
      result: `${fmt.ms(p50(page))} ms per page (${fmt.int(rps(page))} pages/s)`,
      baseline: `${fmt.ms(p50(bareGet))} ms (bare Fastify GET, 1 connection)`,
      ratio: `${(p50(page) / p50(bareGet)).toFixed(1)} × the bare latency`,
      latency: latency(page),
      baselineLatency: latency(bareGet),
      rss: fmt.mb(maxRss(page)),
      target: TARGET.P8list,
      verdict: judge(
        'P8 list',
        problemOf(page, bareGet),
        p50(page) <= 10,
        `${fmt.ms(p50(page))} ms`,
      ),
    });

    const [create, barePost] = (await interleaved('P8 create', [
      {
        label: 'Keyward POST /v1/keys',
        server: keyward,
        spec: {
          method: 'POST',
          path: '/v1/keys',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'bench create' }),
          connections,
        },
      },
      { label: 'bare Fastify POST', server: bare, spec: verifyRoute(data.serviceToken, data.key) },
    ])) as [Sample[], Sample[]];
    rows.push(
      comparedRow(
        {
          id: 'P8',
          what: `create key (POST /v1/keys), ${connections} connections`,
          baselineName: 'bare Fastify POST',
          target: TARGET.P8create,
          verdict: judge(
            'P8 create',
            problemOf(create, barePost),
            rps(create) >= 1000,
            `${fmt.int(rps(create))}/s`,
          ),
        },
        create,
        barePost,
        { result: `${fmt.int(rps(create))} creates/s` },
      ),
    );
  } finally {
    await stop(...started);
  }
}

/**
 * P7 is bench/p7.ts (two `keyward serve` nodes on PostgreSQL, Redis or PostgreSQL bus), run pinned
 * like the other servers. Without a reachable PostgreSQL and Redis it is reported as not
 * measured rather than failed: they are services this machine may not run.
 */
async function revocationPropagation(): Promise<void> {
  log(`P7: ${profile.p7Rounds} revocations per bus…`);
  const [command, args] = pinned(SERVER_CPU, process.execPath, [
    join(ROOT, 'bench', 'p7.ts'),
    '--rounds',
    String(profile.p7Rounds),
  ]);
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.once('exit', (exitCode) => resolve({ code: exitCode, out: text }));
  });
  const results = out
    .split('\n')
    .map((line) =>
      /^\| (Redis pub\/sub|PostgreSQL LISTEN\/NOTIFY) \| ([\d.]+) ms \| ([\d.]+) ms \| ([\d.]+) ms \|/.exec(
        line,
      ),
    )
    .filter((match) => match !== null);
  for (const match of results) {
    const [, bus, p50Ms, p99Ms, maxMs] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    rows.push({
      id: 'P7',
      what: `revocation seen by another node, ${bus} bus, ${profile.p7Rounds} revocations`,
      result: `p99 ${p99Ms} ms`,
      baseline: '-',
      ratio: '-',
      latency: `${p50Ms} / ${p99Ms} (max ${maxMs})`,
      baselineLatency: '-',
      rss: '-',
      target: TARGET.P7,
      verdict: judge(`P7 ${bus}`, null, Number(p99Ms) <= 100, `p99 ${p99Ms} ms`),
    });
  }
  if (results.length === 0) {
    const reason = out.trim().split('\n').at(-1) ?? `exit ${code}`;
    const unreachable = /ECONNREFUSED|connect|getaddrinfo/i.test(out);
    if (!unreachable) throw new Error(`bench/p7.ts exited with ${code}: ${reason}`);
    rows.push(
      blankRow(
        'P7',
        'revocation seen by another node',
        TARGET.P7,
        'not measured: needs PostgreSQL and Redis (KEYWARD_TEST_POSTGRES_URL, KEYWARD_TEST_REDIS_URL)',
      ),
    );
  }
}

/**
 * P11 is bench/p11.ts: `keyward serve` pinned to the server core by p11.ts itself, the receiver
 * and this load generator to the load core.
 */
async function webhookDelivery(): Promise<void> {
  log(`P11: ${profile.p11Events} key events to a local receiver…`);
  const [command, args] = pinned(LOAD_CPU, process.execPath, [
    join(ROOT, 'bench', 'p11.ts'),
    '--events',
    String(profile.p11Events),
  ]);
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.once('exit', (exitCode) => resolve({ code: exitCode, out: text }));
  });
  const line = out.split('\n').find((l) => l.startsWith('P11_JSON '));
  if (line === undefined)
    throw new Error(`bench/p11.ts exited with ${code}: ${out.trim().split('\n').at(-1)}`);
  const report = JSON.parse(line.slice('P11_JSON '.length)) as P11Report;
  const rate = report.backlog.deliveriesPerS;
  const met =
    report.exactlyOnce && report.backlog.deliveriesPerS >= 1000 && report.live.p99Ms <= 2000;
  rows.push({
    id: 'P11',
    what: `webhooks: ${report.events} key events through the API at ${report.live.offeredPerS}/s (latency), then ${report.events} in the outbox at start (deliveries/s), to a local receiver verifying signatures (bench/p11.ts)`,
    result: `${fmt.int(report.backlog.deliveriesPerS)} deliveries/s from the outbox; live at ${fmt.int(report.live.createsPerS)} creates/s`,
    baseline: '-',
    ratio: '-',
    latency: `p50 ${fmt.int(report.live.p50Ms)} / p99 ${fmt.int(report.live.p99Ms)} ms (from the create request)`,
    baselineLatency: '-',
    rss: '-',
    target: TARGET.P11,
    verdict: judge(
      'P11',
      report.exactlyOnce
        ? null
        : `${report.requests} requests, ${report.distinct} distinct ids, ${report.badSignatures} bad signatures`,
      met,
      `${fmt.int(rate)} deliveries/s, p99 ${fmt.int(report.live.p99Ms)} ms`,
    ),
  });
}

/** P3 in a child pinned to the server core, so "one core" means one core. */
function inProcessVerify(): Promise<P3Result> {
  const [command, args] = pinned(SERVER_CPU, process.execPath, [
    join(ROOT, 'bench', 'p3.ts'),
    '--iterations',
    String(profile.p3Iterations),
    '--rounds',
    String(profile.p3Rounds),
  ]);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('P3_JSON '));
      if (code !== 0 || line === undefined) reject(new Error(`bench/p3.ts exited with ${code}`));
      else resolve(JSON.parse(line.slice('P3_JSON '.length)) as P3Result);
    });
  });
}

async function section(ids: Id[], what: string, target: string, run: () => Promise<void>) {
  if (!ids.some(wanted)) return;
  try {
    await run();
  } catch (error) {
    for (const id of ids.filter(wanted)) rows.push(failedRow(id, what, target, error));
  }
}

const stopAll = async () => {
  for (const s of servers) await s.stop().catch(() => {});
};
process.once('SIGINT', () => {
  stopAll().finally(() => process.exit(130));
});

log(
  `profile ${profile.name}: ${profile.rounds} round(s) of ${profile.durationS} s after ${profile.warmupS} s warm-up, ${connections} connections, log level ${logLevel}${HAVE_WRK ? '' : ', no wrk: in-Node load'}`,
);
try {
  await section(['P1', 'P2', 'P5'], 'HTTP key and verify routes', TARGET.P1, keyAndVerifyRoutes);
  await section(['P3'], 'verify in-process (cached key)', TARGET.P3, async () => {
    log('P3: in-process verify…');
    const p3 = await inProcessVerify();
    rows.push({
      id: 'P3',
      what: 'verify() in-process, cached key, one core',
      result: `${fmt.int(p3.verify)} verifies/s`,
      baseline: `${fmt.int(p3.floor)}/s (SHA-256 + Map.get)`,
      ratio: fmt.pct(p3.verify / p3.floor),
      latency: `${((1 / p3.verify) * 1e6).toFixed(2)} µs each`,
      baselineLatency: `${((1 / p3.floor) * 1e6).toFixed(2)} µs each`,
      rss: '-',
      target: TARGET.P3,
      verdict: judge('P3', null, p3.verify >= 1_000_000, `${fmt.int(p3.verify)}/s`),
    });
  });
  if (wanted('P4')) for (const size of profile.p4Sizes) await manyKeys(size);
  await section(['P8'], 'management', TARGET.P8create, management);
  await section(['P9'], 'cold start', TARGET.P9, async () => {
    log('P9: cold starts…');
    const starts: number[] = [];
    const bareStarts: number[] = [];
    for (let i = 0; i < profile.p9Starts; i++) {
      bareStarts.push(await bareColdStart());
      starts.push(await keywardColdStart());
    }
    const ms = median(starts);
    const bareMs = median(bareStarts);
    rows.push({
      id: 'P9',
      what: 'cold start to listening (SQLite, fresh database, migrations; not pinned)',
      result: `${fmt.int(ms)} ms (median of ${starts.length})`,
      baseline: `${fmt.int(bareMs)} ms (bare Fastify with pino)`,
      ratio: `${(ms / bareMs).toFixed(1)} × the baseline`,
      latency: starts.map((s) => fmt.int(s)).join(', '),
      baselineLatency: bareStarts.map((s) => fmt.int(s)).join(', '),
      rss: '-',
      target: TARGET.P9,
      verdict: judge('P9', null, ms <= 1000, `${fmt.int(ms)} ms`),
    });
  });
  await section(['P7'], 'revocation seen by another node', TARGET.P7, revocationPropagation);
  await section(['P10'], 'Prometheus metrics on, scraped every second', TARGET.P10, async () => {
    const result = await measureP10({
      rounds: profile.rounds,
      warmupS: profile.warmupS,
      connections,
      settings,
      logLevel,
      onSample: (label, round, sample) => logSample('P10')({ label } as Entry, round, sample),
    });
    roundLogs.push({ title: 'P10 metrics', samples: [...result.off, ...result.on] });
    const ratio = pairedRatio(result.on, result.off);
    rows.push(
      comparedRow(
        {
          id: 'P10',
          what: `GET /v1/key (P1 load) with METRICS_PORT set, /metrics scraped every second (bench/p10.ts)`,
          baselineName: 'same server, METRICS_PORT unset',
          target: TARGET.P10,
          verdict: judge(
            'P10',
            problemOf(result.off, result.on),
            1 - ratio <= 0.03,
            `costs ${fmt.pct(1 - ratio)}`,
          ),
        },
        result.on,
        result.off,
        {
          ratio: `${fmt.pct(ratio)}: costs ${fmt.pct(1 - ratio)} (per CPU-s: ${fmt.pct(1 - cpuRatio(result.on, result.off))})`,
        },
      ),
    );
    notes.push(
      `P10: ${result.scrapes.length} scrapes of /metrics during the rounds, median ${fmt.ms(median(result.scrapes))} ms each, ${fmt.int(result.exposition)} bytes.`,
    );
  });
  await section(['P11'], 'webhook delivery', TARGET.P11, webhookDelivery);
  await section(['P6'], 'gateway mode vs @fastify/http-proxy', TARGET.P6, async () => {
    const { proxy, gateway } = await measureP6({
      rounds: profile.rounds,
      warmupS: profile.warmupS,
      connections,
      settings,
      logLevel,
      onSample: (label, round, sample) => logSample('P6')({ label } as Entry, round, sample),
    });
    roundLogs.push({ title: 'P6 gateway', samples: [...proxy, ...gateway] });
    const ratio = pairedRatio(gateway, proxy);
    rows.push(
      comparedRow(
        {
          id: 'P6',
          what: `gateway mode, GET with a cached key, ${connections} connections (bench/p6.ts)`,
          baselineName: 'bare @fastify/http-proxy, same upstream',
          target: TARGET.P6,
          verdict: judge(
            'P6',
            problemOf(proxy, gateway),
            ratio >= 0.7,
            `${fmt.pct(ratio)} of the baseline`,
          ),
        },
        gateway,
        proxy,
      ),
    );
  });
} finally {
  await stopAll();
  await rm(work, { recursive: true, force: true });
}

rows.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
const loaded = roundLogs
  .flatMap((l) => l.samples)
  .filter((s) => !s.server.includes('1 connection'));
const lowCpu = loaded.filter((s) => s.serverCpuPct < 85);
if (lowCpu.length > 0 && profile.name !== 'smoke')
  notes.push(
    `The server's core was not all the server's in ${lowCpu.length} of ${loaded.length} loaded rounds (server CPU below 85 %: other work on the machine, or a starved load generator). Ratios are medians of per-round pairs, so both sides of a pair saw about the same machine; "per CPU-s" divides by the server's CPU time instead of wall time.`,
  );
const elapsedS = (Date.now() - startedAt.getTime()) / 1000;
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const settingsLine = `Settings: ${profile.rounds} round(s) of ${profile.durationS} s per server after a ${profile.warmupS} s warm-up, ${connections} connections unless stated, log level ${logLevel}; medians over rounds.`;

console.log(`\n${markdownTable(rows)}\n`);
console.log(settingsLine);
for (const note of notes) console.log(`- ${note}`);

if (profile.name === 'smoke') {
  console.log(
    failures.length === 0
      ? `\nsmoke: every benchmark ran and answered 2xx (${elapsedS.toFixed(0)} s)`
      : `\nsmoke FAILED:\n${failures.join('\n')}`,
  );
} else if ((profile.name === 'full' && only === undefined) || values.write) {
  const path = join(ROOT, 'docs', 'BENCHMARKS.md');
  writeDocument(
    path,
    renderDocument({
      machine: describeMachine(),
      command,
      settings: settingsLine,
      rows,
      rounds: roundLogs,
      notes,
      startedAt,
      elapsedS,
    }),
  );
  console.log(`\nwritten to docs/BENCHMARKS.md (${elapsedS.toFixed(0)} s)`);
}
if (failures.length > 0) process.exitCode = 1;
