/**
 * Import throughput (issue 16): `keyward keys import FILE.jsonl` of N keys — a third new-api
 * shaped plaintext (`sk-` + 48 letters and digits, through ACCEPTED_KEY_SHAPES), a third
 * plaintext of Keyward's own shape, a third given by hash — into a fresh database, timed; then
 * every key is verified (in-process, uncached) and must be VALID. Target: ≥ 5,000 keys/s on
 * SQLite. Also measures the shape check that verification runs first, with and without
 * ACCEPTED_KEY_SHAPES, on an `sk_` key (the hot path must not get slower).
 *
 *   node bench/import.ts [--keys 100000] [--postgres postgres://…/db]
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildProgram } from '../src/cli/program.ts';
import { loadConfig } from '../src/config.ts';
import { apiKeyShapeChecker } from '../src/core/api-key.ts';
import { keyShapeChecker } from '../src/core/key-shapes.ts';
import { createServices } from '../src/services/index.ts';
import { openStore } from '../src/storage/database.ts';

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const SHAPE = '^sk-[A-Za-z0-9]{48}$';

function newApiKey(): string {
  let out = 'sk-';
  for (const byte of randomBytes(48)) out += ALPHANUMERIC[byte % ALPHANUMERIC.length];
  return out;
}

function writeFile(path: string, count: number): string[] {
  const keys: string[] = [];
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const owner_email = `owner${i % 500}@example.com`;
    if (i % 3 === 0) {
      const key = newApiKey();
      keys.push(key);
      lines.push(JSON.stringify({ key, owner_email, credits: { remaining: 1000 } }));
    } else if (i % 3 === 1) {
      const key = `sk_live_${randomBytes(20).toString('hex')}`;
      keys.push(key);
      lines.push(JSON.stringify({ key, owner_email, name: `key ${i}` }));
    } else {
      const key = `sk_test_${randomBytes(20).toString('hex')}`;
      keys.push(key);
      const hash = createHash('sha256').update(key).digest('hex');
      lines.push(
        JSON.stringify({
          hash: `sha256:${hash}`,
          start: key.slice(0, 12),
          last4: key.slice(-4),
          owner_email,
          environment: 'test',
        }),
      );
    }
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return keys;
}

function shapeCheckRate(check: (key: string) => boolean, key: string): number {
  const iterations = 5_000_000;
  let accepted = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) if (check(key)) accepted += 1;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (accepted !== iterations) throw new Error('the shape check refused an sk_ key');
  return Math.round(iterations / seconds);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { keys: { type: 'string', default: '100000' }, postgres: { type: 'string' } },
  });
  const count = Number(values.keys);
  const dir = mkdtempSync(join(tmpdir(), 'kw-import-'));
  try {
    const env = {
      DATABASE_URL: values.postgres ?? `sqlite:${join(dir, 'keyward.db')}`,
      LOG_LEVEL: 'silent',
      ACCEPTED_KEY_SHAPES: SHAPE,
    };
    const file = join(dir, 'keys.jsonl');
    const keys = writeFile(file, count);
    const stderr: string[] = [];
    const run = async (...args: string[]) => {
      const out: string[] = [];
      await buildProgram({
        loadConfig: () => loadConfig(env),
        output: { out: (l) => out.push(l), err: (l) => stderr.push(l) },
        untilSignal: () => Promise.resolve('SIGTERM'),
      }).parseAsync(['node', 'keyward', ...args]);
      return out.join('\n');
    };
    await run('migrate');
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    const summary = await run('keys', 'import', file);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cpu = process.cpuUsage(cpuStart);
    // On a shared machine the wall clock measures the neighbours too; CPU time is this process's.
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const resumeStart = process.hrtime.bigint();
    const rerun = await run('keys', 'import', file);
    const resumeSeconds = Number(process.hrtime.bigint() - resumeStart) / 1e9;

    const config = loadConfig(env);
    const store = openStore(config.database);
    const services = createServices(config, store);
    let valid = 0;
    try {
      for (const key of keys) {
        const result = await services.verify.verify({ key, ip: null });
        if (result.code === 'VALID') valid += 1;
      }
    } finally {
      await services.stop();
      await store.close();
    }

    const key = `sk_live_${randomBytes(20).toString('hex')}`;
    const own = apiKeyShapeChecker('sk', ['live', 'test']);
    const ownRates: number[] = [];
    const withShapesRates: number[] = [];
    const withShapes = keyShapeChecker(own, [SHAPE]);
    for (let round = 0; round < 5; round++) {
      ownRates.push(shapeCheckRate(own, key));
      withShapesRates.push(shapeCheckRate(withShapes, key));
    }
    const median = (list: number[]) => [...list].sort((a, b) => a - b)[2] as number;
    console.log(
      JSON.stringify({
        database: values.postgres === undefined ? 'sqlite' : 'postgres',
        keys: count,
        seconds: Number(seconds.toFixed(2)),
        keys_per_second: Math.round(count / seconds),
        cpu_seconds: Number(cpuSeconds.toFixed(2)),
        keys_per_cpu_second: Math.round(count / cpuSeconds),
        load_average: loadavg()[0],
        rerun_seconds: Number(resumeSeconds.toFixed(2)),
        verified_valid: valid,
        summary,
        rerun,
        shape_check_per_second: {
          sk_key_without_accepted_shapes: median(ownRates),
          sk_key_with_accepted_shapes: median(withShapesRates),
        },
      }),
    );
    if (valid !== count) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
