/**
 * P10: what Prometheus metrics cost the hot path. P1's load (`GET /v1/key`, one cached key) against
 * Keyward without METRICS_PORT and Keyward with METRICS_PORT set while /metrics is scraped every
 * second, as Prometheus would, for the whole of both sides' runs. Fresh server processes every
 * round (as bench/run.ts does for P1), each side on its own copy of the dataset (two processes on
 * one SQLite file would invalidate each other's caches), the servers pinned to the server core
 * and wrk to the load core; the scrapes come from this process.
 *
 *   node bench/p10.ts [--rounds 5] [--duration 4] [--warmup 2] [--connections 64] [--concurrent]
 *   node bench/p10.ts --compare logging …   # LOG_LEVEL=warn vs the default settings instead
 *   node bench/p10.ts --scrape-interval 0 …  # METRICS_PORT set, never scraped: per-request cost
 *
 * `--concurrent` runs the two servers at the same time, sharing the server core, each under its
 * own wrk on the load core: the cross-check for a machine whose load changes faster than a round.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDataset } from './dataset.ts';
import { fmt, latency, median } from './report.ts';
import {
  type BenchServer,
  type Entry,
  keyRoute,
  type LoadSettings,
  measure,
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

/** Fetches /metrics every `intervalMs` until stopped; records each scrape's time. */
function scrapeEvery(
  intervalMs: number,
  url: string,
  scrapes: number[],
): { stop(): Promise<void> } {
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
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      if (failed !== null) throw failed;
    },
  };
}

export interface P10Plan {
  rounds: number;
  warmupS: number;
  connections: number;
  settings: LoadSettings;
  logLevel: string;
  /**
   * Run both servers at the same time (both on the server core, one wrk each on the load core)
   * instead of one after the other: on a machine whose load changes from second to second, both
   * sides then see the same machine, and the ratio is one of work per CPU time.
   */
  concurrent?: boolean;
  /**
   * How often /metrics is scraped (P10: 1000 ms); 0 sets METRICS_PORT without scraping, to tell
   * the per-request cost from the scrapes'.
   */
  scrapeIntervalMs?: number;
  onSample?: (label: string, round: number, sample: Sample) => void;
}

/** Both entries measured at once, after a warm-up of both at once. */
async function concurrently(entries: Entry[], plan: P10Plan, round: number): Promise<Sample[]> {
  if (plan.warmupS > 0)
    await Promise.all(
      entries.map((e) => measure(e.server, e.spec, { ...plan.settings, durationS: plan.warmupS })),
    );
  const samples = await Promise.all(entries.map((e) => measure(e.server, e.spec, plan.settings)));
  return samples.map((sample, i) => {
    const entry = entries[i] as Entry;
    const labelled = { ...sample, server: entry.label };
    plan.onSample?.(entry.label, round, labelled);
    return labelled;
  });
}

interface Side {
  label: string;
  /** bench/server.ts arguments besides the mode and the database. */
  args: string[];
  /** Scrape this side's /metrics every second while the round runs. */
  scraped: boolean;
}

/**
 * Fresh processes for both sides every round, each on its own copy of the dataset; interleaved
 * (or, with `concurrent`, simultaneous) P1 loads. Returns the samples of each side.
 */
async function measurePair(
  plan: P10Plan,
  sides: [Side, Side],
): Promise<{ a: Sample[]; b: Sample[]; scrapes: number[]; exposition: number }> {
  const work = await mkdtemp(join(tmpdir(), 'kw-p10-'));
  const out = { a: [] as Sample[], b: [] as Sample[], scrapes: [] as number[], exposition: 0 };
  try {
    const data = [
      await createDataset({ dbPath: join(work, 'a.db') }),
      await createDataset({ dbPath: join(work, 'b.db') }),
    ];
    for (let round = 0; round < plan.rounds; round++) {
      const started: BenchServer[] = [];
      const scrapers: { url: string; scraper: { stop(): Promise<void> } }[] = [];
      try {
        const entries: Entry[] = [];
        for (const [i, side] of sides.entries()) {
          const dataset = data[i] as (typeof data)[number];
          const server = await startBenchServer(side.label, [
            ...['--mode', 'keyward', '--db', dataset.dbPath, ...side.args],
          ]);
          started.push(server);
          const interval = plan.scrapeIntervalMs ?? 1000;
          if (side.scraped) {
            if (server.metricsUrl === null) throw new Error('the metrics listener did not start');
            const url = `${server.metricsUrl}/metrics`;
            const scraper =
              interval > 0
                ? scrapeEvery(interval, url, out.scrapes)
                : { stop: () => Promise.resolve() };
            scrapers.push({ url, scraper });
          }
          entries.push({
            label: side.label,
            server,
            spec: keyRoute(dataset.key, plan.connections),
          });
        }
        const [a, b] = (
          plan.concurrent
            ? (await concurrently(entries, plan, round)).map((sample) => [sample])
            : await runRounds('P10', entries, {
                rounds: 1,
                warmupS: plan.warmupS,
                settings: plan.settings,
                firstRound: round,
                onSample: (entry, _r, sample) => plan.onSample?.(entry.label, round, sample),
              })
        ) as [Sample[], Sample[]];
        for (const { url, scraper } of scrapers.splice(0)) {
          await scraper.stop();
          const text = await (await fetch(url)).text();
          out.exposition = Buffer.byteLength(text);
          // The load really was counted: the verifications are in the exposition.
          if (!/keyward_verifications_total\{route="key_holder",code="VALID"\} [1-9]/.test(text))
            throw new Error('the metered server did not count its verifications');
        }
        out.a.push(...a);
        out.b.push(...b);
      } finally {
        for (const { scraper } of scrapers) await scraper.stop().catch(() => {});
        for (const s of started) await s.stop();
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return out;
}

/** P10: Keyward without METRICS_PORT vs with it, scraped every second. */
export async function measureP10(plan: P10Plan): Promise<P10Result> {
  const { a, b, scrapes, exposition } = await measurePair(plan, [
    { label: 'metrics off', args: ['--log-level', plan.logLevel], scraped: false },
    {
      label:
        (plan.scrapeIntervalMs ?? 1000) > 0
          ? `METRICS_PORT set, scraped every ${(plan.scrapeIntervalMs ?? 1000) / 1000} s`
          : 'METRICS_PORT set, not scraped',
      args: ['--log-level', plan.logLevel, '--set', 'METRICS_PORT=0'],
      scraped: true,
    },
  ]);
  return { off: a, on: b, scrapes, exposition };
}

/**
 * The logging cross-check of issue 15: Keyward at LOG_LEVEL=warn vs the default settings
 * (LOG_LEVEL=info, ACCESS_LOG=errors), same pairing as P10 (bench/run.ts reports the same
 * comparison as P1's "default settings" row, each side against the bare baseline).
 */
export async function measureLogLevels(plan: P10Plan): Promise<{ warn: Sample[]; info: Sample[] }> {
  const { a, b } = await measurePair(plan, [
    { label: 'LOG_LEVEL=warn', args: ['--log-level', 'warn'], scraped: false },
    { label: 'default settings (LOG_LEVEL=info)', args: ['--log-level', 'info'], scraped: false },
  ]);
  return { warn: a, info: b };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '64' },
      'log-level': { type: 'string', default: 'warn' },
      concurrent: { type: 'boolean', default: false },
      compare: { type: 'string', default: 'metrics' },
      'scrape-interval': { type: 'string', default: '1000' },
    },
  });
  if (!HAVE_WRK) {
    console.error('wrk is required: apt-get install -y wrk');
    process.exit(2);
  }
  const work = await mkdtemp(join(tmpdir(), 'kw-p10-wrk-'));
  const plan: P10Plan = {
    rounds: Number(values.rounds),
    warmupS: Number(values.warmup),
    connections: Number(values.connections),
    settings: { durationS: Number(values.duration), useWrk: true, scriptDir: work },
    logLevel: values['log-level'],
    concurrent: values.concurrent,
    scrapeIntervalMs: Number(values['scrape-interval']),
    onSample: (label, round, s) =>
      console.log(
        `round ${round + 1} · ${label}: ${fmt.int(s.rps)} req/s, p50 ${fmt.ms(s.p50Ms)} / p99 ${fmt.ms(s.p99Ms)} ms, server CPU ${fmt.pct(s.serverCpuPct / 100)}, per CPU-s ${fmt.int(s.perCpuSecond)}${s.problem === null ? '' : ` — ${s.problem}`}`,
      ),
  };
  const logging = values.compare === 'logging';
  const result = logging
    ? await measureLogLevels(plan).then((r) => ({
        off: r.warn,
        on: r.info,
        scrapes: [] as number[],
        exposition: 0,
      }))
    : await measureP10(plan);
  await rm(work, { recursive: true, force: true });
  const ratios = result.on.map((s, i) => s.rps / (result.off[i] as Sample).rps);
  const cpuRatios = result.on.map(
    (s, i) => s.perCpuSecond / (result.off[i] as Sample).perCpuSecond,
  );
  const rps = (s: Sample[]) => median(s.map((x) => x.rps));
  const [on, off] = logging ? ['LOG_LEVEL=info', 'LOG_LEVEL=warn'] : ['metrics on', 'off'];
  console.log(
    `\n${logging ? 'Logging' : 'P10'}${plan.concurrent ? ' (concurrent)' : ''}: ${on} ${fmt.int(rps(result.on))} req/s (${latency(result.on)} ms), ${off} ${fmt.int(rps(result.off))} req/s (${latency(result.off)} ms)${logging ? '' : `; ${result.scrapes.length} scrapes, median ${fmt.ms(median(result.scrapes))} ms, ${fmt.int(result.exposition)} bytes`}`,
  );
  console.log(
    `ratio (median of per-round pairs): ${fmt.pct(median(ratios))} (costs ${fmt.pct(1 - median(ratios))}), per CPU-s ${fmt.pct(median(cpuRatios))}; rounds: ${ratios.map((r) => fmt.pct(r)).join(', ')}`,
  );
  process.exit(0);
}
