/**
 * P6: Keyward's gateway in front of a trivial upstream vs a bare @fastify/http-proxy to the same
 * upstream, in the same run. The proxy under test (either) is pinned to the server core, alone;
 * wrk and the upstream share the load core, the same for both sides, so the ratio compares the
 * two proxies. Both answer `GET /hello` with the upstream's small JSON body; the gateway verifies
 * a cached key on each request (the wrk load presents it to both).
 *
 *   node bench/p6.ts [--rounds 5] [--duration 4] [--warmup 2] [--connections 64]
 *
 * The same file is the servers' entry point: `--serve gateway|proxy|upstream`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { createDataset } from './dataset.ts';
import { fmt, latency, median } from './report.ts';
import type { ServerStats } from './server.ts';
import {
  type BenchServer,
  LOAD_CPU,
  type LoadSettings,
  runRounds,
  type Sample,
  SERVER_NODE_FLAGS,
  startBenchServer,
} from './servers.ts';
import { HAVE_WRK, pinned } from './wrk.ts';

const SCRIPT = import.meta.filename;
/** What the upstream answers: about the size of a small API response. */
const UPSTREAM_BODY = JSON.stringify({
  id: 'shot_123',
  status: 'done',
  url: 'https://example.com/x.png',
});

export interface P6Result {
  proxy: Sample[];
  gateway: Sample[];
}

/** Starts the upstream pinned to the load core; resolves with its URL and a stop function. */
async function startUpstreamProcess(): Promise<{ url: string; stop: () => void }> {
  const [command, argv] = pinned(LOAD_CPU, process.execPath, [
    ...SERVER_NODE_FLAGS,
    SCRIPT,
    '--serve',
    'upstream',
  ]);
  const child: ChildProcess = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.startsWith('BENCH_READY '));
      if (line !== undefined) resolve((JSON.parse(line.slice(12)) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`upstream exited with ${code}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

/** Runs P6: interleaved rounds of the bare proxy and the gateway, fresh processes per round. */
export async function measureP6(plan: {
  rounds: number;
  warmupS: number;
  connections: number;
  settings: LoadSettings;
  logLevel: string;
  onSample?: (label: string, round: number, sample: Sample) => void;
}): Promise<P6Result> {
  const work = await mkdtemp(join(tmpdir(), 'kw-p6-'));
  const upstream = await startUpstreamProcess();
  const result: P6Result = { proxy: [], gateway: [] };
  try {
    const data = await createDataset({ dbPath: join(work, 'p6.db') });
    const routes = join(work, 'routes.json');
    writeFileSync(
      routes,
      JSON.stringify({ routes: [{ method: 'GET', path: '/hello', permission: 'hello:read' }] }),
    );
    const spec = {
      method: 'GET' as const,
      path: '/hello',
      headers: { authorization: `Bearer ${data.key}` },
      connections: plan.connections,
    };
    // New processes every round, as bench/run.ts does for P1: a process's JIT steady state varies
    // more between processes than between rounds of one.
    for (let round = 0; round < plan.rounds; round++) {
      const started: BenchServer[] = [];
      try {
        const bare = await startBenchServer(
          'bare @fastify/http-proxy',
          ['--serve', 'proxy', '--upstream', upstream.url, '--log-level', plan.logLevel],
          { script: SCRIPT },
        );
        started.push(bare);
        const gateway = await startBenchServer(
          'Keyward gateway',
          [
            ...['--serve', 'gateway', '--upstream', upstream.url, '--routes', routes],
            ...['--db', data.dbPath, '--log-level', plan.logLevel],
          ],
          { script: SCRIPT },
        );
        started.push(gateway);
        const labels = ['bare @fastify/http-proxy', 'Keyward gateway'];
        const [p, g] = (await runRounds(
          'P6',
          [
            { label: labels[0] as string, server: bare, spec },
            { label: labels[1] as string, server: gateway, spec },
          ],
          {
            rounds: 1,
            warmupS: plan.warmupS,
            settings: plan.settings,
            firstRound: round,
            onSample: (entry, _r, sample) => plan.onSample?.(entry.label, round, sample),
          },
        )) as [Sample[], Sample[]];
        result.proxy.push(...p);
        result.gateway.push(...g);
      } finally {
        for (const s of started) await s.stop();
      }
    }
  } finally {
    upstream.stop();
    await rm(work, { recursive: true, force: true });
  }
  return result;
}

/** The server side: one of the three processes, speaking bench/server.ts's protocol. */
async function serve(values: Record<string, string | undefined>): Promise<void> {
  const logLevel = values['log-level'] ?? 'warn';
  let url: string;
  let close: () => Promise<void>;
  if (values.serve === 'upstream') {
    const server = createServer((_request, response) => {
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(UPSTREAM_BODY),
      });
      response.end(UPSTREAM_BODY);
    });
    server.keepAliveTimeout = 72_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  } else if (values.serve === 'proxy') {
    const config = loadConfig({ LOG_LEVEL: logLevel });
    const app = Fastify({ loggerInstance: createLogger(config.logLevel) });
    await app.register(proxy, { upstream: values.upstream as string });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    close = () => app.close();
  } else {
    const config = loadConfig({
      DATABASE_URL: `sqlite:${values.db}`,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: logLevel,
      GATEWAY_UPSTREAM: values.upstream,
      GATEWAY_ROUTES: values.routes,
      GATEWAY_PORT: '0',
    });
    const { startServer } = await import('../src/server.ts');
    const server = await startServer(config, createLogger(config.logLevel));
    if (server.gateway === null) throw new Error('the gateway did not start');
    url = server.gateway.address;
    close = () => server.close();
  }
  process.on('message', (message) => {
    if (message !== 'stats' || process.send === undefined) return;
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const stats: ServerStats = {
      misses: 0,
      cpuMicros: cpu.user + cpu.system,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
    };
    process.send(stats);
  });
  process.once('SIGTERM', () => {
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  console.log(`BENCH_READY ${JSON.stringify({ url })}`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      upstream: { type: 'string' },
      routes: { type: 'string' },
      db: { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '64' },
    },
  });
  if (values.serve !== undefined) {
    await serve(values);
  } else {
    if (!HAVE_WRK) {
      console.error('wrk is required: apt-get install -y wrk');
      process.exit(2);
    }
    const work = await mkdtemp(join(tmpdir(), 'kw-p6-wrk-'));
    const result = await measureP6({
      rounds: Number(values.rounds),
      warmupS: Number(values.warmup),
      connections: Number(values.connections),
      settings: { durationS: Number(values.duration), useWrk: true, scriptDir: work },
      logLevel: values['log-level'],
      onSample: (label, round, s) =>
        console.log(
          `round ${round + 1} · ${label}: ${fmt.int(s.rps)} req/s, p50 ${fmt.ms(s.p50Ms)} / p99 ${fmt.ms(s.p99Ms)} ms, server CPU ${fmt.pct(s.serverCpuPct / 100)}, per CPU-s ${fmt.int(s.perCpuSecond)}${s.problem === null ? '' : ` — ${s.problem}`}`,
        ),
    });
    await rm(work, { recursive: true, force: true });
    const ratios = result.gateway.map((g, i) => g.rps / (result.proxy[i] as Sample).rps);
    const cpuRatios = result.gateway.map(
      (g, i) => g.perCpuSecond / (result.proxy[i] as Sample).perCpuSecond,
    );
    const rps = (s: Sample[]) => median(s.map((x) => x.rps));
    console.log(
      `\nP6: gateway ${fmt.int(rps(result.gateway))} req/s (${latency(result.gateway)} ms), bare @fastify/http-proxy ${fmt.int(rps(result.proxy))} req/s (${latency(result.proxy)} ms)`,
    );
    console.log(
      `ratio (median of per-round pairs): ${fmt.pct(median(ratios))}, per CPU-s ${fmt.pct(median(cpuRatios))}; rounds: ${ratios.map((r) => fmt.pct(r)).join(', ')}`,
    );
    process.exit(0);
  }
}
