/**
 * CPU profile of the server under load: starts bench/server.ts with `node --cpu-prof` (pinned to
 * core 0), drives it with wrk (core 1) and prints the functions with the most self time, and self
 * time per package, for each scenario.
 *
 *   node bench/profile.ts [--only B1,B2,P1,P2,P4] [--duration 10] [--top 25] [--keep]
 *
 * P1: GET /v1/key, one cached key. P2: POST /v1/verify with a service token. P4: GET /v1/key
 * with keys drawn from 100,000 (nearly every request a cache miss). B1, B2: the bare Fastify
 * baselines of P1 and P2, for comparison. --keep leaves the
 * .cpuprofile files (open them in Chrome DevTools or speedscope) and prints where they are.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDataset } from './dataset.ts';
import { keyRoute, LOAD_CPU, startBenchServer, verifyRoute } from './servers.ts';
import { runWrk, type WrkSpec, wrkProblem } from './wrk.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  share: number;
}

/** Where a script URL belongs: a package, Keyward's own source, or Node itself. */
function packageOf(url: string): string {
  if (url === '') return '(native / V8)';
  const nodeModules = url.lastIndexOf('/node_modules/');
  if (nodeModules >= 0) {
    const rest = url.slice(nodeModules + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return 'node (core)';
  const src = url.indexOf('/src/');
  if (src >= 0) return 'keyward src/';
  if (url.includes('/bench/')) return 'bench/';
  return url;
}

function shortPath(url: string): string {
  const nodeModules = url.lastIndexOf('/node_modules/');
  if (nodeModules >= 0) return url.slice(nodeModules + '/node_modules/'.length);
  const src = url.lastIndexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

/**
 * Total (inclusive) time of Keyward's own functions: a sample counts for every distinct src/
 * function on its stack, so a caller shows what it costs with everything it calls.
 */
export function inclusiveSrc(profile: CpuProfile): SelfTime[] {
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, SelfTime>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const micros = profile.timeDeltas[i] ?? 0;
    total += micros;
    const seen = new Set<string>();
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const frame = (byId.get(id) as ProfileNode).callFrame;
      if (packageOf(frame.url) !== 'keyward src/') continue;
      const name = frame.functionName || '(anonymous)';
      const where = `${shortPath(frame.url)}:${frame.lineNumber + 1}`;
      const key = `${name} ${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = totals.get(key) ?? { name, where, ms: 0, share: 0 };
      entry.ms += micros / 1000;
      totals.set(key, entry);
    }
  }
  return [...totals.values()]
    .map((entry) => ({ ...entry, share: entry.ms / (total / 1000) }))
    .sort((a, b) => b.ms - a.ms);
}

/** Self time per function and per package, from the samples and their time deltas. */
export function summarise(profile: CpuProfile): { functions: SelfTime[]; packages: SelfTime[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const perNode = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    perNode.set(id, (perNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map<string, SelfTime>();
  const packages = new Map<string, SelfTime>();
  let total = 0;
  for (const [id, micros] of perNode) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    total += micros;
    const name = frame.functionName || '(anonymous)';
    const where = frame.url === '' ? '' : `${shortPath(frame.url)}:${frame.lineNumber + 1}`;
    const key = `${name} ${where}`;
    const entry = functions.get(key) ?? { name, where, ms: 0, share: 0 };
    entry.ms += micros / 1000;
    functions.set(key, entry);
    const pkg = ['(idle)', '(program)', '(garbage collector)'].includes(name)
      ? name
      : packageOf(frame.url);
    const pkgEntry = packages.get(pkg) ?? { name: pkg, where: '', ms: 0, share: 0 };
    pkgEntry.ms += micros / 1000;
    packages.set(pkg, pkgEntry);
  }
  const sorted = (map: Map<string, SelfTime>) =>
    [...map.values()]
      .map((entry) => ({ ...entry, share: entry.ms / (total / 1000) }))
      .sort((a, b) => b.ms - a.ms);
  return { functions: sorted(functions), packages: sorted(packages) };
}

function table(entries: SelfTime[], top: number, withWhere: boolean): string {
  const lines = withWhere
    ? ['| self % | self ms | function | where |', '|---:|---:|---|---|']
    : ['| self % | self ms | package |', '|---:|---:|---|'];
  for (const e of entries.slice(0, top)) {
    const share = `${(e.share * 100).toFixed(1)}`;
    lines.push(
      withWhere
        ? `| ${share} | ${e.ms.toFixed(0)} | ${e.name} | ${e.where} |`
        : `| ${share} | ${e.ms.toFixed(0)} | ${e.name} |`,
    );
  }
  return lines.join('\n');
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', default: 'B1,B2,P1,P2,P4' },
      duration: { type: 'string', default: '10' },
      top: { type: 'string', default: '25' },
      keep: { type: 'boolean', default: false },
    },
  });
  const only = values.only.split(',').map((s) => s.trim().toUpperCase());
  const work = await mkdtemp(join(tmpdir(), 'kw-profile-'));
  const top = Number(values.top);
  try {
    const needsMany = only.includes('P4');
    const secretsFile = join(work, 'keys.txt');
    const data = await createDataset({
      dbPath: join(work, 'k.db'),
      ...(needsMany && { extraKeys: 100_000, secretsFile }),
    });
    const durationS = Number(values.duration);
    const p1 = { ...keyRoute(data.key, 64), durationS };
    const p2 = { ...verifyRoute(data.serviceToken, data.key, 64), durationS };
    const scenarios: {
      id: string;
      title: string;
      server: 'keyward' | 'bare';
      spec: Omit<WrkSpec, 'baseUrl'>;
    }[] = [
      { id: 'B1', title: 'bare Fastify GET (P1 baseline)', server: 'bare', spec: p1 },
      { id: 'B2', title: 'bare Fastify POST (P2 baseline)', server: 'bare', spec: p2 },
      { id: 'P1', title: 'GET /v1/key, one cached key', server: 'keyward', spec: p1 },
      { id: 'P2', title: 'POST /v1/verify, service token', server: 'keyward', spec: p2 },
      {
        id: 'P4',
        title: 'GET /v1/key, keys drawn from 100,000 (cache misses)',
        server: 'keyward',
        spec: { ...p1, headers: {}, bearerFile: secretsFile },
      },
    ];
    for (const scenario of scenarios.filter((s) => only.includes(s.id))) {
      const dir = join(work, scenario.id);
      const server = await startBenchServer(
        scenario.id,
        scenario.server === 'bare'
          ? ['--mode', 'bare']
          : ['--mode', 'keyward', '--db', data.dbPath],
        { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', dir] },
      );
      let problem: string | null;
      let rps: number;
      try {
        const result = await runWrk(
          { ...scenario.spec, baseUrl: server.url },
          { cpu: LOAD_CPU, scriptDir: work },
        );
        problem = wrkProblem(result);
        rps = result.rps;
      } finally {
        await server.stop();
      }
      const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
      if (file === undefined) throw new Error(`no profile written in ${dir}`);
      const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
      const { functions, packages } = summarise(profile);
      console.log(
        `\n## ${scenario.id}: ${scenario.title} — ${Math.round(rps).toLocaleString('en-US')} req/s under the profiler${problem === null ? '' : ` (${problem})`}\n`,
      );
      console.log(`Top ${top} functions by self time (whole process lifetime):\n`);
      console.log(table(functions, top, true));
      console.log('\nSelf time by package:\n');
      console.log(table(packages, 12, false));
      if (scenario.server === 'keyward') {
        console.log("\nKeyward's own functions by total (inclusive) time:\n");
        console.log(
          table(inclusiveSrc(profile), 15, true).replace(
            '| self % | self ms |',
            '| total % | total ms |',
          ),
        );
      }
      if (values.keep) console.log(`\nprofile: ${join(dir, file)}`);
    }
  } finally {
    if (!values.keep) await rm(work, { recursive: true, force: true });
  }
}
