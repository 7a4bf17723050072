/**
 * P3: the verify service called in-process (cached key, no HTTP), against the cost of its own
 * floor (one SHA-256 and one Map lookup) measured in the same process. Run by bench/run.ts in a
 * child pinned to one core; prints one JSON line.
 *
 *   node bench/p3.ts [--iterations 2000000] [--rounds 5]
 */
import { hash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { CLI_ACTOR } from '../src/services/actor.ts';
import { createServices } from '../src/services/index.ts';
import { openStore } from '../src/storage/database.ts';
import { migrateToLatest } from '../src/storage/migrations.ts';

export interface P3Result {
  /** Median verifications per second. */
  verify: number;
  /** Median SHA-256 + Map.get per second. */
  floor: number;
  rounds: { verify: number[]; floor: number[] };
}

function opsPerSecond(iterations: number, fn: () => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

export async function p3(iterations: number, roundCount: number): Promise<P3Result> {
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
  const floorMap = new Map([[hash('sha256', secret, 'hex'), { ok: true }]]);
  const rounds = { verify: [] as number[], floor: [] as number[] };
  for (let round = 0; round < roundCount; round++) {
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
  return { verify: median(rounds.verify), floor: median(rounds.floor), rounds };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      iterations: { type: 'string', default: '2000000' },
      rounds: { type: 'string', default: '5' },
    },
  });
  const result = await p3(Number(values.iterations), Number(values.rounds));
  console.log(`P3_JSON ${JSON.stringify(result)}`);
}
