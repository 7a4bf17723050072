/**
 * Benchmarks that need no load generator: P3 (the verify service in-process, against the cost
 * of its own floor — one SHA-256 and one Map lookup — measured in the same run) and P9 (cold
 * start to ready on SQLite with migrations applied). Prints a table; nothing is asserted.
 *
 *   npm run bench
 */
import { spawn } from 'node:child_process';
import { hash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.ts';
import { CLI_ACTOR } from '../src/services/actor.ts';
import { createServices } from '../src/services/index.ts';
import { openStore } from '../src/storage/database.ts';
import { migrateToLatest } from '../src/storage/migrations.ts';

const ROOT = join(import.meta.dirname, '..');

function opsPerSecond(iterations: number, fn: () => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function p3(): Promise<{ verify: number; floor: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'kw-bench-'));
  // A long fresh-TTL keeps the one key cached for the whole run: P3 measures the cached path.
  const config = loadConfig({
    DATABASE_URL: `sqlite:${join(dir, 'k.db')}`,
    LOG_LEVEL: 'silent',
    KEY_CACHE_TTL: '1h',
  });
  const store = openStore(config.database);
  await migrateToLatest(store.db, store.dialect);
  const services = createServices(config, store);
  const owner = await services.accounts.createUser(CLI_ACTOR, {
    email: 'bench@example.com',
    password: 'bench password',
    role: 'user',
    plan: 'enterprise',
  });
  const { secret } = await services.keys.create(CLI_ACTOR, { name: 'bench', ownerId: owner.id });
  await services.verify.verify({ key: secret, ip: null });
  const request = { key: secret, ip: '127.0.0.1' };
  const iterations = 2_000_000;
  const floorMap = new Map([[hash('sha256', secret, 'hex'), { ok: true }]]);
  const rounds = { verify: [] as number[], floor: [] as number[] };
  for (let round = 0; round < 5; round++) {
    rounds.floor.push(opsPerSecond(iterations, () => floorMap.get(hash('sha256', secret, 'hex'))));
    rounds.verify.push(
      opsPerSecond(iterations, () => {
        const result = services.verify.verify(request);
        if (result instanceof Promise || !result.valid)
          throw new Error(
            `expected a cached, valid key: ${result instanceof Promise ? 'promise' : result.code}`,
          );
      }),
    );
  }
  await services.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { verify: median(rounds.verify), floor: median(rounds.floor) };
}

function coldStart(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kw-bench-'));
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, ['src/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: `sqlite:${join(dir, 'k.db')}`,
      PORT: '0',
      LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    let ready = false;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!ready && output.includes('Keyward is listening')) {
        ready = true;
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        child.kill('SIGTERM');
        child.once('exit', () => {
          rmSync(dir, { recursive: true, force: true });
          resolve(ms);
        });
      }
    });
    child.once('exit', (code) => {
      if (!ready) reject(new Error(`server exited with ${code} before it was ready: ${output}`));
    });
  });
}

const p3Result = await p3();
const starts: number[] = [];
for (let i = 0; i < 5; i++) starts.push(await coldStart());
const startMs = median(starts);

const rows = [
  [
    'P3 verify in-process (cached key)',
    `${Math.round(p3Result.verify).toLocaleString('en-US')}/s`,
    `${Math.round(p3Result.floor).toLocaleString('en-US')}/s (SHA-256 + Map.get)`,
    `${((p3Result.verify / p3Result.floor) * 100).toFixed(0)} %`,
    '≥ 1,000,000/s',
  ],
  [
    'P9 cold start to listening (SQLite, fresh DB)',
    `${startMs.toFixed(0)} ms (median of 5)`,
    '-',
    '-',
    '≤ 1000 ms',
  ],
];
console.log(`node ${process.version}, ${process.platform} ${process.arch}`);
console.log('| benchmark | result | baseline (same run) | ratio | target |');
console.log('|---|---|---|---|---|');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
