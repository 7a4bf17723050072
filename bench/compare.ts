/**
 * A/B comparison of two checkouts of Keyward under the same load, in interleaved rounds: how a
 * hot-path change is measured on a noisy machine. Checkout B needs this bench/ directory too
 * (e.g. `cp -r src bench package.json` into a scratch directory and symlink node_modules).
 *
 *   node bench/compare.ts --b /tmp/keyward-experiment [--a .] [--only P1,P2,P4] [--keys 100000]
 *   node bench/compare.ts --b . --b-args='--usage off'    # what usage accounting costs
 *   node bench/compare.ts --b /tmp/x --fresh --rounds 8  # new server processes every round
 *
 * Each checkout builds its own database with its own bench/dataset.ts (so a migration change is
 * measured too); both servers are pinned to core 0 and driven by wrk on core 1. Prints, per scenario, requests/s of A and B, the median of the per-round ratios B/A
 * (also per server CPU-second) and the p50 / p99 latencies.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Dataset } from './dataset.ts';
import { fmt, latency, median } from './report.ts';
import {
  type BenchServer,
  keyRoute,
  type LoadSpec,
  runRounds,
  type Sample,
  startBenchServer,
  verifyRoute,
} from './servers.ts';
import { HAVE_WRK } from './wrk.ts';

const { values } = parseArgs({
  options: {
    a: { type: 'string', default: join(import.meta.dirname, '..') },
    b: { type: 'string' },
    only: { type: 'string', default: 'P1,P2,P4' },
    keys: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    'a-args': { type: 'string', default: '' },
    'b-args': { type: 'string', default: '' },
    fresh: { type: 'boolean', default: false },
  },
});
if (values.b === undefined || !HAVE_WRK) {
  console.error('usage: node bench/compare.ts --b <other checkout> [--a <checkout>] (needs wrk)');
  process.exit(2);
}
const only = values.only.split(',').map((s) => s.trim().toUpperCase());
const connections = Number(values.connections);
const work = await mkdtemp(join(tmpdir(), 'kw-compare-'));
const keyCount = Number(values.keys);

/** Builds a database with `root`'s own dataset script and returns what it created. */
function dataset(root: string, name: string): Dataset {
  const out = execFileSync(process.execPath, [
    join(root, 'bench', 'dataset.ts'),
    '--db',
    join(work, `${name}.db`),
    '--json',
    ...(only.includes('P4')
      ? ['--keys', String(keyCount), '--keys-file', join(work, `${name}-keys.txt`)]
      : ['--keys', '0']),
  ]).toString();
  const line = out.split('\n').find((l) => l.startsWith('DATASET_JSON '));
  if (line === undefined) throw new Error(`${root}/bench/dataset.ts printed no DATASET_JSON`);
  return JSON.parse(line.slice('DATASET_JSON '.length)) as Dataset;
}

interface Scenario {
  id: string;
  title: string;
  spec: LoadSpec;
}

function scenarios(data: Dataset): Scenario[] {
  const all: Scenario[] = [
    { id: 'P1', title: 'GET /v1/key, one cached key', spec: keyRoute(data.key, connections) },
    {
      id: 'P2',
      title: 'POST /v1/verify, service token',
      spec: verifyRoute(data.serviceToken, data.key, connections),
    },
    {
      id: 'P4',
      title: `GET /v1/key, ${keyCount.toLocaleString('en-US')} keys drawn uniformly`,
      spec: {
        method: 'GET',
        path: '/v1/key',
        headers: {},
        bearerFile: data.generated.secretsFile ?? '',
        connections,
      },
    },
  ];
  return all.filter((s) => only.includes(s.id));
}

try {
  const sides = [
    { name: 'A', root: resolve(values.a), args: values['a-args'].split(' ').filter(Boolean) },
    { name: 'B', root: resolve(values.b), args: values['b-args'].split(' ').filter(Boolean) },
  ].map((side) => ({ ...side, data: dataset(side.root, side.name) }));
  const startSides = async () => {
    const started: BenchServer[] = [];
    for (const side of sides) {
      started.push(
        await startBenchServer(
          side.name,
          ['--mode', 'keyward', '--db', side.data.dbPath, ...side.args],
          { script: join(side.root, 'bench', 'server.ts') },
        ),
      );
    }
    return started;
  };
  const lines = [
    '| scenario | A req/s | B req/s | B / A | B / A per CPU-s | A p50 / p99 ms | B p50 / p99 ms |',
    '|---|---|---|---|---|---|---|',
  ];
  const perSide = sides.map((side) => scenarios(side.data));
  const rounds = Number(values.rounds);
  const fresh = values.fresh;
  const collected = (perSide[0] ?? []).map((): [Sample[], Sample[]] => [[], []]);
  // With --fresh every round gets new server processes (one Node process can settle 20 % faster
  // or slower than another of the same code); otherwise one process per side serves every round.
  for (let batch = 0; batch < (fresh ? rounds : 1); batch++) {
    const servers = await startSides();
    try {
      for (const [index, scenario] of (perSide[0] ?? []).entries()) {
        const got = (await runRounds(
          scenario.title,
          servers.map((server, side) => ({
            label: server.name,
            server,
            spec: perSide[side]?.[index]?.spec ?? scenario.spec,
          })),
          {
            rounds: fresh ? 1 : rounds,
            firstRound: batch,
            warmupS: Number(values.warmup),
            settings: { durationS: Number(values.duration), useWrk: true, scriptDir: work },
            onSample(entry, round, sample) {
              console.log(
                `${scenario.id} ${entry.label} round ${round + 1}: ${fmt.int(sample.rps)} req/s, ${fmt.int(sample.perCpuSecond)} per CPU-s, p99 ${fmt.ms(sample.p99Ms)} ms, ${(sample.missRate * 100).toFixed(1)} % cache misses${sample.problem === null ? '' : ` — ${sample.problem}`}`,
              );
            },
          },
        )) as [Sample[], Sample[]];
        collected[index]?.[0].push(...got[0]);
        collected[index]?.[1].push(...got[1]);
      }
    } finally {
      for (const server of servers) await server.stop();
    }
  }
  for (const [index, scenario] of (perSide[0] ?? []).entries()) {
    const [a, b] = collected[index] as [Sample[], Sample[]];
    const ratio = median(b.map((s, i) => s.rps / (a[i] as Sample).rps));
    const cpu = median(b.map((s, i) => s.perCpuSecond / (a[i] as Sample).perCpuSecond));
    lines.push(
      `| ${scenario.id} ${scenario.title} | ${fmt.int(median(a.map((s) => s.rps)))} | ${fmt.int(median(b.map((s) => s.rps)))} | ${fmt.pct(ratio)} | ${fmt.pct(cpu)} | ${latency(a)} | ${latency(b)} |`,
    );
  }
  console.log(`\nA = ${sides[0]?.root}\nB = ${sides[1]?.root}\n\n${lines.join('\n')}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
