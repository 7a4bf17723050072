/**
 * One server under load, started by bench/run.ts (pinned with taskset): Keyward through the
 * real startServer, or the bare Fastify baseline, with the same logger and Node flags.
 *
 *   node bench/server.ts --mode keyward --db /tmp/k.db [--usage off] [--set KEY_CACHE_TTL=1h]
 *     [--set METRICS_PORT=0] [--log-level info]
 *   node bench/server.ts --mode bare
 *
 * Prints `BENCH_READY {"url": …, "metricsUrl": …}` once listening. Over the IPC channel it answers `stats` with
 * its cache misses and CPU time, so the runner can tell a saturated server from an idle one.
 * SIGTERM closes it gracefully (flushing usage) and exits, which also writes a --cpu-prof file.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { buildBaselineApp } from './baseline.ts';

export interface ServerStats {
  /** Verifications that had to read the database (the key was not in the cache). */
  misses: number;
  /** User + system CPU time of the process, in microseconds. */
  cpuMicros: number;
  rss: number;
  heapUsed: number;
}

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'keyward' },
    db: { type: 'string' },
    usage: { type: 'string', default: 'on' },
    'log-level': { type: 'string', default: 'warn' },
    set: { type: 'string', multiple: true, default: [] },
  },
});

const settings: Record<string, string> = {};
for (const pair of values.set) {
  const at = pair.indexOf('=');
  if (at > 0) settings[pair.slice(0, at)] = pair.slice(at + 1);
}
const logLevel = values['log-level'];
let misses = 0;
let close: () => Promise<void>;
let url: string;
/** The /metrics listener's address when METRICS_PORT is set (P10). */
let metricsUrl: string | null = null;

if (values.mode === 'bare') {
  const config = loadConfig({ LOG_LEVEL: logLevel });
  const app = buildBaselineApp(createLogger(config.logLevel));
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  close = () => app.close();
} else {
  if (values.db === undefined) throw new Error('--db is required in keyward mode');
  const config = loadConfig({
    ...settings,
    DATABASE_URL: `sqlite:${values.db}`,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: logLevel,
  });
  // Imported only here so that the bare baseline's cold start (P9) loads none of Keyward.
  const { startServer } = await import('../src/server.ts');
  const server = await startServer(config, createLogger(config.logLevel));
  // Counts cache misses from outside: load() is what verify() calls when the cache has no entry.
  const verify = server.services.verify as unknown as { load(hash: string): Promise<unknown> };
  const load = verify.load.bind(verify);
  verify.load = (hash) => {
    misses += 1;
    return load(hash);
  };
  if (values.usage === 'off') {
    // P5's reference: the same server with usage accounting and the request log switched off.
    server.services.usage.record = () => {};
    server.services.usage.recordTokenUse = () => {};
  }
  url = server.address;
  metricsUrl = server.metrics?.address ?? null;
  close = () => server.close();
}

process.on('message', (message) => {
  if (message !== 'stats' || process.send === undefined) return;
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  const stats: ServerStats = {
    misses,
    cpuMicros: cpu.user + cpu.system,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
  };
  process.send(stats);
});
process.once('SIGTERM', () => {
  close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
// An IPC channel keeps the process alive; losing the runner must not leave a server behind.
process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
console.log(`BENCH_READY ${JSON.stringify({ url, metricsUrl })}`);
