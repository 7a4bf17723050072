/**
 * P9: cold start to ready. Times `node src/main.ts serve` (with npm start's Node flags) on a
 * fresh SQLite file (so migrations are applied) until it prints that it listens, and, as the
 * baseline, the bare Fastify server of bench/server.ts until it listens (same flags). Neither is
 * pinned: this is how a deployment starts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_NODE_FLAGS } from './servers.ts';

const ROOT = join(import.meta.dirname, '..');

function timeToReady(
  args: string[],
  ready: string,
  env: NodeJS.ProcessEnv,
  cwd = ROOT,
): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    let done = false;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!done && output.includes(ready)) {
        done = true;
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        child.kill('SIGTERM');
        child.once('exit', () => resolve(ms));
      }
    });
    child.once('exit', (code) => {
      if (!done) reject(new Error(`${args.join(' ')} exited with ${code} before ready: ${output}`));
    });
  });
}

/** Milliseconds from spawn to "Keyward is listening", on a fresh database; `root`: a checkout. */
export async function keywardColdStart(root = ROOT): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kw-bench-'));
  try {
    return await timeToReady(
      ['src/main.ts', 'serve'],
      'Keyward is listening',
      {
        DATABASE_URL: `sqlite:${join(dir, 'k.db')}`,
        PORT: '0',
        LOG_LEVEL: 'silent',
        // Only the start is timed: nothing to drain at the SIGTERM that ends each run.
        SHUTDOWN_DRAIN_DELAY: '0s',
      },
      root,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Milliseconds from spawn to a bare Fastify server listening, with the same logger. */
export function bareColdStart(): Promise<number> {
  return timeToReady(['bench/server.ts', '--mode', 'bare'], 'BENCH_READY', {});
}
