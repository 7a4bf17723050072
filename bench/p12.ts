/**
 * P12: a Fastify route protected by @keyward/sdk's middleware against the same route verifying
 * with a hand-written `fetch` to POST /v1/verify, in the same app, the same run, against the same
 * Keyward. Keyward (bench/server.ts) and the app are pinned to the server core, wrk to the load
 * core; the two routes are loaded in alternating rounds and the result is the median ratio.
 *
 *   node bench/p12.ts [--duration 10] [--rounds 3] [--connections 32]
 *
 * Prints a table and a `P12_JSON {…}` line. `--serve-app` is the app process it starts itself.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { buildSdk } from '../scripts/build-sdk.ts';
import { createDataset } from './dataset.ts';
import { LOAD_CPU, SERVER_CPU, SERVER_NODE_FLAGS, startBenchServer } from './servers.ts';
import { HAVE_WRK, pinned, runWrk, type WrkResult, wrkProblem } from './wrk.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    'serve-app': { type: 'boolean', default: false },
    keyward: { type: 'string' },
    token: { type: 'string' },
  },
});

/** The app under test: the same handler behind the middleware (/sdk) and behind a bare fetch (/fetch). */
async function serveApp(keywardUrl: string, token: string): Promise<void> {
  const { Keyward } = await import('../sdk/dist/index.js');
  const { keywardAuth } = await import('../sdk/dist/fastify.js');
  const client = new Keyward({ baseUrl: keywardUrl, token });
  const app = Fastify({ logger: false });
  const answer = (keyId: string | null | undefined) => ({ ok: true, key_id: keyId ?? null });

  await app.register(async (scope) => {
    await scope.register(keywardAuth, { client, permission: 'reports:read' });
    scope.get('/sdk', async (request) => answer(request.keyward?.key_id));
  });

  // What a developer writes without the SDK: read the bearer key, POST it to /v1/verify, refuse
  // an invalid key with 401.
  const verifyUrl = `${keywardUrl}/v1/verify`;
  const authorization = `Bearer ${token}`;
  app.get('/fetch', async (request, reply) => {
    const header = request.headers.authorization ?? '';
    const key = header.startsWith('Bearer ') ? header.slice(7) : '';
    const response = await fetch(verifyUrl, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ key, permission: 'reports:read', ip: request.ip }),
    });
    const verification = (await response.json()) as {
      valid: boolean;
      code: string;
      key_id: string;
    };
    if (!verification.valid)
      return reply.code(401).send({ error: { code: verification.code, message: 'refused' } });
    return answer(verification.key_id);
  });

  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  console.log(`P12_APP_READY ${url}`);
  process.once('disconnect', () => process.exit(0));
  process.once('SIGTERM', () => {
    app.close().then(() => process.exit(0));
  });
}

/** User + system CPU seconds a process has used so far (Linux /proc; clock ticks at 100 Hz). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function startApp(keywardUrl: string, token: string) {
  const [command, args] = pinned(SERVER_CPU, process.execPath, [
    ...SERVER_NODE_FLAGS,
    import.meta.filename,
    '--serve-app',
    '--keyward',
    keywardUrl,
    '--token',
    token,
  ]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const line = out.split('\n').find((l) => l.startsWith('P12_APP_READY '));
      if (line !== undefined) resolve(line.slice('P12_APP_READY '.length).trim());
    });
    child.once('exit', (code) => reject(new Error(`the P12 app exited with ${code}: ${out}`)));
  });
  return {
    url,
    pid: child.pid as number,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function run(): Promise<void> {
  if (!HAVE_WRK) throw new Error('P12 needs wrk (apt-get install -y wrk)');
  buildSdk();
  const durationS = Number(values.duration);
  const rounds = Number(values.rounds);
  const connections = Number(values.connections);
  const dir = mkdtempSync(join(tmpdir(), 'kw-p12-'));
  const dataset = await createDataset({ dbPath: join(dir, 'k.db') });
  // Key and token stay cached for the whole run: P12 measures the cached verification path.
  const keyward = await startBenchServer('keyward', [
    '--mode',
    'keyward',
    '--db',
    dataset.dbPath,
    '--set',
    'KEY_CACHE_TTL=1h',
  ]);
  const app = await startApp(keyward.url, dataset.serviceToken);
  const load = (path: string, seconds: number): Promise<WrkResult> =>
    runWrk(
      {
        baseUrl: app.url,
        method: 'GET',
        path,
        headers: { authorization: `Bearer ${dataset.key}` },
        connections,
        durationS: seconds,
      },
      { cpu: LOAD_CPU, scriptDir: dir },
    );
  const results = { sdk: [] as WrkResult[], fetch: [] as WrkResult[] };
  // Requests per CPU-second of the app and Keyward together: what each variant costs, which a
  // shared, noisy machine disturbs far less than requests per wall-clock second.
  const perCpu = { sdk: [] as number[], fetch: [] as number[] };
  try {
    // Warm both routes (JIT, connection pools, the key and token caches) before measuring.
    for (const path of ['/sdk', '/fetch']) await load(path, Math.min(3, durationS));
    for (let round = 0; round < rounds; round++) {
      // Alternating order, so neither route always runs on a warmer (or noisier) machine.
      const order = round % 2 === 0 ? (['sdk', 'fetch'] as const) : (['fetch', 'sdk'] as const);
      for (const variant of order) {
        const cpuBefore = cpuSeconds(app.pid) + cpuSeconds(keyward.pid);
        const result = await load(`/${variant}`, durationS);
        const cpu = cpuSeconds(app.pid) + cpuSeconds(keyward.pid) - cpuBefore;
        perCpu[variant].push(result.requests / cpu);
        const problem = wrkProblem(result);
        if (problem !== null) throw new Error(`P12 /${variant}: ${problem}`);
        results[variant].push(result);
      }
    }
  } finally {
    await app.stop();
    await keyward.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const ratios = results.sdk.map((r, i) => r.rps / (results.fetch[i] as WrkResult).rps);
  const cpuRatios = perCpu.sdk.map((r, i) => r / (perCpu.fetch[i] as number));
  const summary = {
    cpuRatio: median(cpuRatios),
    cpuRatios,
    sdkPerCpuSecond: median(perCpu.sdk),
    fetchPerCpuSecond: median(perCpu.fetch),
    sdkRps: median(results.sdk.map((r) => r.rps)),
    fetchRps: median(results.fetch.map((r) => r.rps)),
    ratio: median(ratios),
    ratios,
    sdkP99Ms: median(results.sdk.map((r) => r.p99Ms)),
    fetchP99Ms: median(results.fetch.map((r) => r.p99Ms)),
    rounds,
    durationS,
    connections,
  };
  console.log(
    'round  middleware req/s  fetch req/s  ratio    middleware req/CPU-s  fetch req/CPU-s  ratio',
  );
  ratios.forEach((ratio, i) => {
    console.log(
      `${String(i + 1).padEnd(7)}${(results.sdk[i] as WrkResult).rps.toFixed(0).padStart(17)}${(results.fetch[i] as WrkResult).rps.toFixed(0).padStart(13)}  ${(ratio * 100).toFixed(1).padStart(5)} %${(perCpu.sdk[i] as number).toFixed(0).padStart(22)}${(perCpu.fetch[i] as number).toFixed(0).padStart(17)}  ${((cpuRatios[i] as number) * 100).toFixed(1).padStart(5)} %`,
    );
  });
  console.log(
    `P12: middleware ${summary.sdkRps.toFixed(0)} req/s vs hand-written fetch ${summary.fetchRps.toFixed(0)} req/s: median ratio ${(summary.ratio * 100).toFixed(1)} % (target ≥ 80 %); per CPU-second of app + Keyward ${(summary.cpuRatio * 100).toFixed(1)} %`,
  );
  console.log(`P12_JSON ${JSON.stringify(summary)}`);
}

if (values['serve-app']) {
  if (values.keyward === undefined || values.token === undefined)
    throw new Error('--serve-app needs --keyward URL --token TOKEN');
  await serveApp(values.keyward, values.token);
} else {
  await run();
}
