/**
 * R16 soak: GET /v1/key with a cached key at about half the peak rate for 10 minutes, the server
 * pinned to core 0 and wrk to core 1. The peak is measured first in the same run (a 10 s flood);
 * wrk's per-connection delay then paces 64 connections to half of it. Every 30 s: requests/s,
 * p50/p99 latency and the server's resident memory. Writes docs/soak.md (the table) and
 * docs/img/soak.svg (a small plot), and fails on any error or non-2xx answer, never on speed.
 *
 *   node bench/soak.ts [--minutes 10] [--slice 30]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDataset } from './dataset.ts';
import { LOAD_CPU, startBenchServer } from './servers.ts';
import { HAVE_WRK, runWrk, type WrkResult, wrkProblem } from './wrk.ts';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '10' }, slice: { type: 'string', default: '30' } },
});
const minutes = Number(values.minutes);
const sliceS = Number(values.slice);
if (!HAVE_WRK) throw new Error('wrk is required: apt-get install -y wrk');

const CONNECTIONS = 64;
const dir = mkdtempSync(join(tmpdir(), 'kw-soak-'));
const dataset = await createDataset({ dbPath: join(dir, 'soak.db') });
const server = await startBenchServer('keyward', [
  '--mode',
  'keyward',
  '--db',
  dataset.dbPath,
  '--log-level',
  'warn',
]);

interface Slice {
  at: number;
  result: WrkResult;
  rssMb: number;
}

try {
  const spec = {
    baseUrl: server.url,
    method: 'GET' as const,
    path: '/v1/key',
    headers: { authorization: `Bearer ${dataset.key}` },
    connections: CONNECTIONS,
  };
  const peak = await runWrk({ ...spec, durationS: 10 }, { cpu: LOAD_CPU, scriptDir: dir });
  const target = peak.rps / 2;
  // Each connection: one request, then a pause; the pause is tuned after every slice.
  let delayMs = Math.max(0, (CONNECTIONS * 1000) / target - peak.p50Ms);
  console.log(
    `peak ${Math.round(peak.rps)} req/s; soaking at ~${Math.round(target)} req/s for ${minutes} min`,
  );
  // Two short unrecorded runs tune the pause (wrk rounds it to whole milliseconds).
  for (let i = 0; i < 2; i++) {
    const calibration = await runWrk(
      { ...spec, durationS: 5, delayMs: Math.round(delayMs) },
      { cpu: LOAD_CPU, scriptDir: dir },
    );
    delayMs = Math.max(0, delayMs * (calibration.rps / target));
  }
  const slices: Slice[] = [];
  const started = Date.now();
  while (Date.now() - started < minutes * 60_000) {
    const result = await runWrk(
      { ...spec, durationS: sliceS, delayMs: Math.round(delayMs) },
      { cpu: LOAD_CPU, scriptDir: dir },
    );
    const problem = wrkProblem(result);
    if (problem !== null) throw new Error(`soak slice failed: ${problem}`);
    const { rssMb } = server.memory();
    slices.push({ at: (Date.now() - started) / 1000, result, rssMb });
    console.log(
      `[${Math.round((Date.now() - started) / 1000)} s] ${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, RSS ${rssMb.toFixed(0)} MB`,
    );
    delayMs = Math.max(0, delayMs * (result.rps / target));
  }
  const docs = join(import.meta.dirname, '..', 'docs');
  writeFileSync(join(docs, 'img', 'soak.svg'), `${plot(slices)}\n`);
  writeFileSync(join(docs, 'soak.md'), report(peak, target, slices));
  console.log('written to docs/soak.md');
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

function report(peak: WrkResult, target: number, slices: Slice[]): string {
  const rss = slices.map((s) => s.rssMb);
  const p99 = slices.map((s) => s.result.p99Ms);
  const lines = [
    '# Soak (R16)',
    '',
    `Written by \`node bench/soak.ts --minutes ${minutes}\` on ${new Date().toISOString().slice(0, 16)} UTC: GET /v1/key with one cached key,`,
    `server on core 0, wrk on core 1, ${CONNECTIONS} paced connections. Peak measured first in the same run:`,
    `${Math.round(peak.rps).toLocaleString('en-US')} req/s; the soak aims at half of it (${Math.round(target).toLocaleString('en-US')} req/s).`,
    '',
    `Resident memory ${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB (first slice ${rss[0]?.toFixed(0)} MB, last ${rss.at(-1)?.toFixed(0)} MB);`,
    `p99 ${Math.min(...p99).toFixed(2)}–${Math.max(...p99).toFixed(2)} ms. No errors and no non-2xx answers in ${slices.reduce((n, s) => n + s.result.requests, 0).toLocaleString('en-US')} requests.`,
    '',
    '![Resident memory (blue) and p99 latency (orange) over the soak](img/soak.svg)',
    '',
    '| time | requests/s | p50 ms | p99 ms | RSS MB |',
    '|---|---|---|---|---|',
    ...slices.map(
      (s) =>
        `| ${Math.round(s.at)} s | ${Math.round(s.result.rps).toLocaleString('en-US')} | ${s.result.p50Ms.toFixed(2)} | ${s.result.p99Ms.toFixed(2)} | ${s.rssMb.toFixed(0)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

/** An inline SVG: RSS (MB, left scale) and p99 (ms, right scale) over time. */
function plot(slices: Slice[]): string {
  const w = 600;
  const h = 200;
  const maxT = Math.max(...slices.map((s) => s.at), 1);
  const maxRss = Math.max(...slices.map((s) => s.rssMb), 1) * 1.1;
  const maxP99 = Math.max(...slices.map((s) => s.result.p99Ms), 1) * 1.1;
  const line = (value: (s: Slice) => number, max: number) =>
    slices
      .map((s) => `${((s.at / maxT) * w).toFixed(1)},${(h - (value(s) / max) * h).toFixed(1)}`)
      .join(' ');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h + 20}" viewBox="0 0 ${w} ${h + 20}">`,
    '<title>Resident memory and p99 latency over the soak</title>',
    `<polyline fill="none" stroke="#4f46e5" stroke-width="2" points="${line((s) => s.rssMb, maxRss)}"/>`,
    `<polyline fill="none" stroke="#d97706" stroke-width="2" points="${line((s) => s.result.p99Ms, maxP99)}"/>`,
    `<text x="4" y="${h + 16}" font-size="12" fill="#4f46e5">RSS (0–${maxRss.toFixed(0)} MB)</text>`,
    `<text x="200" y="${h + 16}" font-size="12" fill="#d97706">p99 (0–${maxP99.toFixed(1)} ms)</text>`,
    `<text x="420" y="${h + 16}" font-size="12">0–${Math.round(maxT)} s</text>`,
    '</svg>',
  ].join('\n');
}
