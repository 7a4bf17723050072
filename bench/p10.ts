/**
 * P10: what Prometheus metrics cost the hot path. P1's load (`GET /v1/key`, one cached key) against
 * Keyward without METRICS_PORT and Keyward with METRICS_PORT set while /metrics is scraped every
 * second, as Prometheus would, for the whole of both sides' runs. Fresh server processes every
 * round (as bench/run.ts does for P1), each side on its own copy of the dataset (two processes on
 * one SQLite file would invalidate each other's caches), the servers pinned to the server core
 * and wrk to the load core; the scrapes come from this process.
 *
 *   node bench/p10.ts [--rounds 5] [--duration 4] [--warmup 2] [--connections 64]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDataset } from './dataset.ts';
import { fmt, latency, median } from './report.ts';
import {
  type BenchServer,
  keyRoute,
  type LoadSettings,
  runRounds,
  type Sample,
  startBenchServer,
} from './servers.ts';
import { HAVE_WRK } from './wrk.ts';

export interface P10Result {
  off: Sample[];
  on: Sample[];
  /** Scrapes made, and how long each took to answer (ms). */
  scrapes: number[];
  /** Size of the last exposition, in bytes. */
  exposition: number;
}

/** Fetches /metrics every second until stopped; records each scrape's time. */
function scrapeEverySecond(url: string, scrapes: number[]): { stop(): Promise<void> } {
  let failed: Error | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    inFlight = (async () => {
      const started = performance.now();
      try {
        const response = await fetch(url);
        await response.text();
        if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
        scrapes.push(performance.now() - started);
      } catch (error) {
        failed ??= error as Error;
      }
    })();
  }, 1000);
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      if (failed !== null) throw failed;
    },
  };
}

export async function measureP10(plan: {
  rounds: number;
  warmupS: number;
  connections: number;
  settings: LoadSettings;
  logLevel: string;
  onSample?: (label: string, round: number, sample: Sample) => void;
}): Promise<P10Result> {
  const work = await mkdtemp(join(tmpdir(), 'kw-p10-'));
  const result: P10Result = { off: [], on: [], scrapes: [], exposition: 0 };
  try {
    const plain = await createDataset({ dbPath: join(work, 'off.db') });
    const metered = await createDataset({ dbPath: join(work, 'on.db') });
    for (let round = 0; round < plan.rounds; round++) {
      const started: BenchServer[] = [];
      let scraper: { stop(): Promise<void> } | null = null;
      try {
        const off = await startBenchServer('Keyward', [
          ...['--mode', 'keyward', '--db', plain.dbPath, '--log-level', plan.logLevel],
        ]);
        started.push(off);
        const on = await startBenchServer('Keyward, METRICS_PORT set', [
          ...['--mode', 'keyward', '--db', metered.dbPath, '--log-level', plan.logLevel],
          ...['--set', 'METRICS_PORT=0'],
        ]);
        started.push(on);
        if (on.metricsUrl === null) throw new Error('the metrics listener did not start');
        const metricsUrl = `${on.metricsUrl}/metrics`;
        scraper = scrapeEverySecond(metricsUrl, result.scrapes);
        const [a, b] = (await runRounds(
          'P10',
          [
            { label: 'metrics off', server: off, spec: keyRoute(plain.key, plan.connections) },
            {
              label: 'METRICS_PORT set, scraped every second',
              server: on,
              spec: keyRoute(metered.key, plan.connections),
            },
          ],
          {
            rounds: 1,
            warmupS: plan.warmupS,
            settings: plan.settings,
            firstRound: round,
            onSample: (entry, _r, sample) => plan.onSample?.(entry.label, round, sample),
          },
        )) as [Sample[], Sample[]];
        await scraper.stop();
        scraper = null;
        const text = await (await fetch(metricsUrl)).text();
        result.exposition = Buffer.byteLength(text);
        // The load really was counted: the metered server's verifications are in the exposition.
        if (!/keyward_verifications_total\{route="key_holder",code="VALID"\} [1-9]/.test(text))
          throw new Error('the metered server did not count its verifications');
        result.off.push(...a);
        result.on.push(...b);
      } finally {
        await scraper?.stop().catch(() => {});
        for (const s of started) await s.stop();
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return result;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '64' },
      'log-level': { type: 'string', default: 'warn' },
    },
  });
  if (!HAVE_WRK) {
    console.error('wrk is required: apt-get install -y wrk');
    process.exit(2);
  }
  const work = await mkdtemp(join(tmpdir(), 'kw-p10-wrk-'));
  const result = await measureP10({
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
  const ratios = result.on.map((s, i) => s.rps / (result.off[i] as Sample).rps);
  const cpuRatios = result.on.map(
    (s, i) => s.perCpuSecond / (result.off[i] as Sample).perCpuSecond,
  );
  const rps = (s: Sample[]) => median(s.map((x) => x.rps));
  console.log(
    `\nP10: metrics on ${fmt.int(rps(result.on))} req/s (${latency(result.on)} ms), off ${fmt.int(rps(result.off))} req/s (${latency(result.off)} ms); ${result.scrapes.length} scrapes, median ${fmt.ms(median(result.scrapes))} ms, ${fmt.int(result.exposition)} bytes`,
  );
  console.log(
    `ratio (median of per-round pairs): ${fmt.pct(median(ratios))} (costs ${fmt.pct(1 - median(ratios))}), per CPU-s ${fmt.pct(median(cpuRatios))}; rounds: ${ratios.map((r) => fmt.pct(r)).join(', ')}`,
  );
  process.exit(0);
}
