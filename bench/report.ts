/**
 * The results table (terminal and Markdown), the machine description, and docs/BENCHMARKS.md.
 * Hand-written notes below the KEEP marker of that file survive every rewrite.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import SQLite from 'better-sqlite3';
import type { Sample } from './servers.ts';
import { wrkVersion } from './wrk.ts';

export interface Row {
  id: string;
  what: string;
  result: string;
  baseline: string;
  ratio: string;
  latency: string;
  baselineLatency: string;
  rss: string;
  target: string;
  /** `met`, `missed …`, `not built yet`, `failed …`, or `-` when there is nothing to judge. */
  verdict: string;
}

export interface RoundLog {
  title: string;
  samples: Sample[];
}

export const KEEP_MARKER =
  '<!-- Everything below this line is kept when bench/run.ts rewrites this file. -->';

export const fmt = {
  int: (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'),
  pct: (ratio: number) => (Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)} %` : 'n/a'),
  ms: (n: number) =>
    Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)) : 'n/a',
  mb: (n: number) => (Number.isFinite(n) ? `${n.toFixed(0)} MB` : 'n/a'),
};

export function median(values: number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1
    ? (finite[mid] as number)
    : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

export function latency(samples: Sample[]): string {
  return `${fmt.ms(median(samples.map((s) => s.p50Ms)))} / ${fmt.ms(median(samples.map((s) => s.p99Ms)))}`;
}

export interface Machine {
  cpu: string;
  cores: number;
  hypervisor: boolean;
  memoryGb: number;
  kernel: string;
  node: string;
  wrk: string;
  sqlite: string;
}

export function describeMachine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  let hypervisor = false;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpu;
    hypervisor = /^flags\s*:.*\bhypervisor\b/m.test(info);
  } catch {
    // Not Linux: os.cpus() is all there is.
  }
  const memory = new SQLite(':memory:');
  const sqlite = (memory.prepare('select sqlite_version() as v').get() as { v: string }).v;
  memory.close();
  return {
    cpu,
    cores: cpus().length,
    hypervisor,
    memoryGb: totalmem() / 2 ** 30,
    kernel: `Linux ${release()}`,
    node: process.version,
    wrk: wrkVersion(),
    sqlite,
  };
}

function gitRevision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .toString()
        .trim() !== '';
    return dirty ? `${head} (with uncommitted changes in src/)` : head;
  } catch {
    return 'unknown';
  }
}

const HEADERS = [
  'id',
  'benchmark',
  'Keyward',
  'baseline (same run)',
  'ratio',
  'p50 / p99 ms',
  'baseline p50 / p99 ms',
  'server RSS',
  'target',
  'verdict',
];

function cells(row: Row): string[] {
  return [
    row.id,
    row.what,
    row.result,
    row.baseline,
    row.ratio,
    row.latency,
    row.baselineLatency,
    row.rss,
    row.target,
    row.verdict,
  ];
}

export function markdownTable(rows: Row[]): string {
  const lines = [`| ${HEADERS.join(' | ')} |`, `|${HEADERS.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${cells(row).join(' | ')} |`);
  return lines.join('\n');
}

export function roundsTable(logs: RoundLog[]): string {
  const lines = [
    '| measurement | server | requests/s per round | per server CPU-s | p50 / p99 ms per round | server CPU | cache misses |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const log of logs) {
    const servers = [...new Set(log.samples.map((s) => s.server))];
    for (const server of servers) {
      const samples = log.samples.filter((s) => s.server === server);
      lines.push(
        `| ${log.title} | ${server} | ${samples.map((s) => fmt.int(s.rps)).join(', ')} | ${samples
          .map((s) => fmt.int(s.perCpuSecond))
          .join(', ')} | ${samples
          .map((s) => `${fmt.ms(s.p50Ms)} / ${fmt.ms(s.p99Ms)}`)
          .join(', ')} | ${samples.map((s) => fmt.pct(s.serverCpuPct / 100)).join(', ')} | ${samples
          .map((s) => fmt.pct(s.missRate))
          .join(', ')} |`,
      );
    }
  }
  return lines.join('\n');
}

export function renderDocument(options: {
  machine: Machine;
  command: string;
  settings: string;
  rows: Row[];
  rounds: RoundLog[];
  notes: string[];
  startedAt: Date;
  elapsedS: number;
}): string {
  const { machine } = options;
  return `# Benchmarks

Written by \`${options.command}\` on ${options.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC
(${options.elapsedS.toFixed(0)} s), at commit ${gitRevision()}. The targets are the project's
P1–P10, each stated in the table's *target* column; every throughput is a ratio against a baseline measured in the same run, on
the same machine, with the same process settings.

## Machine

| | |
|---|---|
| CPU | ${machine.cpu}, ${machine.cores} cores${machine.hypervisor ? ' (virtual machine)' : ''} |
| Memory | ${machine.memoryGb.toFixed(0)} GB |
| OS | ${machine.kernel} |
| Node.js | ${machine.node} |
| SQLite | ${machine.sqlite} (better-sqlite3) |
| Load generator | ${machine.wrk} |

## Results

${markdownTable(options.rows)}

${options.settings}

${options.notes.map((n) => `- ${n}`).join('\n')}

### Every round

${roundsTable(options.rounds)}

## Method

- Each server under test is \`node bench/server.ts\` pinned to core 0 with \`taskset -c 0\`: Keyward
  through the real \`startServer\` (SQLite, default settings: key cache of 100,000 entries, kept
  until evicted or invalidated by the SQLite change bus, usage flushed every second), or the bare
  Fastify baseline of \`bench/baseline.ts\` with the same pino logger at the same level. Every
  server runs with the Node flags of \`npm start\` (\`--max-semi-space-size=16\`). wrk runs pinned
  to core 1 (\`taskset -c 1 wrk -t1\`).
- Every server is warmed up with the same load before the measured rounds. The rounds of a
  benchmark and its baseline are interleaved (A B A B …, the order rotating each round) so that
  drift on a shared machine hits both alike. P1, P2 and P5 start fresh server processes for every
  round: a Node process settles into a faster or a slower steady state, which differed by up to
  20 % between two processes of the same code, while rounds within one process differ by 1–3 %. The table shows medians; a ratio is the median of the
  per-round ratios, in requests per second as the targets define them and, as a cross-check, in
  requests per second of server CPU time ("per CPU-s"): on this shared machine other work
  sometimes takes part of the server's core, which lowers requests/s but not requests per CPU-s.
  Verdicts use requests/s.
- **P1** \`GET /v1/key\` with one valid, cached key (64 connections) vs a bare \`GET\` returning the
  same-sized JSON. **P2** \`POST /v1/verify\` with a service token (64 connections) vs a bare \`POST\`
  that parses the body and answers the same-shaped JSON. **P5** the P1 server vs the same server
  with usage accounting and the request log switched off (\`UsageRecorder.record\` replaced by a
  no-op): the ratio is the share of throughput left with accounting on. P1 is also measured with
  the **default settings** (\`LOG_LEVEL=info\`, \`ACCESS_LOG=errors\`, as \`npm start\` runs it)
  against the same bare baseline, in the same rounds, and reported in points from P1 at the run's
  log level (target: within 5 points).
- **P4** \`GET /v1/key\`, each request presenting a key drawn uniformly from N bulk-generated keys
  (\`bench/dataset.ts\`), against the same server answering P1's single cached key in interleaved
  rounds. With 10,000 keys the working set fits in the cache; with 1,000,000 (ten times the
  cache) about 90 % of requests are cache misses that read SQLite.
  Memory is the server's peak resident set (VmHWM).
- **P8** create: \`POST /v1/keys\` with a management token (64 connections), against the bare
  \`POST\`. List: \`GET /v1/keys?limit=100\` over 100,000 keys of one account, one connection, each
  request a page at a random depth (cursors collected by walking every page first); the baseline
  is the bare \`GET\` on one connection.
- **P3** runs in a child pinned to core 0: \`verify()\` on a cached key against one SHA-256 plus one
  \`Map.get\` in the same process. **P9** times \`node src/main.ts serve\` on a fresh SQLite file
  until it prints that it is listening, against a bare Fastify server (same logger) started the
  same way; neither is pinned, as a deployment would not be.
- **P7** runs \`bench/p7.ts\` pinned to core 0: two \`keyward serve\` nodes on one PostgreSQL
  database, the bus being Redis pub/sub and then PostgreSQL LISTEN/NOTIFY; each round revokes a
  key cached on node B through node A and polls B until it answers 401. It needs PostgreSQL and
  Redis (\`KEYWARD_TEST_POSTGRES_URL\`, \`KEYWARD_TEST_REDIS_URL\`) and is reported as not measured
  without them. **P6** runs \`bench/p6.ts\`: Keyward's gateway (\`GET /hello\` needing a cached key
  with a permission) and a bare \`@fastify/http-proxy\` (same logger, same Node flags), each pinned
  alone to core 0, in front of the same trivial upstream (a \`node:http\` server answering 77 bytes
  of JSON), which shares core 1 with wrk; fresh processes every round, both presented the same key.
- **P10** runs \`bench/p10.ts\`: P1's load against Keyward without \`METRICS_PORT\` and Keyward with
  it, whose \`/metrics\` the runner fetches every second for the whole round; fresh processes every
  round, each on its own copy of the dataset. \`node bench/p10.ts --concurrent\` runs both servers
  at once on core 0 (one wrk each on core 1), a cross-check when the machine's load changes
  within a round; \`--scrape-interval 0\` sets \`METRICS_PORT\` without scraping.
- Failures are never hidden: a round with a non-2xx answer or a socket error marks its benchmark
  failed and the run exits 1.

## Reproduce

\`\`\`sh
apt-get install -y wrk            # the load generator (Debian package)
npm run bench                     # everything, about 10 minutes on 2 cores; rewrites this file
npm run bench -- --only P1,P2     # some benchmarks (prints, does not rewrite this file)
npm run bench -- --quick          # shorter rounds, for a quick look
npm run bench:smoke               # a few seconds each; fails only on crashes, non-2xx or errors
node bench/profile.ts             # CPU profile of the server under P1 and P2 load (top self time)
node bench/dataset.ts --db /tmp/k.db --keys 1000000 --keys-file /tmp/keys.txt   # a dataset alone
\`\`\`

Options: \`--rounds N\`, \`--duration S\` (seconds per round), \`--warmup S\`, \`--connections N\`,
\`--write\` (rewrite this file even for a partial run), \`--log-level L\` (default warn, for both
Keyward and the baseline). The machine needs 2 cores: with fewer the pinning is skipped and the
numbers mean less.

${KEEP_MARKER}
`;
}

/** Rewrites docs/BENCHMARKS.md, keeping whatever follows the KEEP marker in the existing file. */
export function writeDocument(path: string, generated: string): void {
  let kept = '';
  if (existsSync(path)) {
    const existing = readFileSync(path, 'utf8');
    const at = existing.indexOf(KEEP_MARKER);
    if (at >= 0) kept = existing.slice(at + KEEP_MARKER.length).replace(/^\n/, '');
  }
  writeFileSync(path, generated + kept);
}
