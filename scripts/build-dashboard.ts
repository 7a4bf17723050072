// Builds the dashboard (dashboard/ → dashboard/dist/) with Vite when its sources changed since
// the last build. `npm start` and `npm test` run it first (prestart / pretest), so the README's
// two commands need no third one; `npm run build:dashboard` forces a build.
//
//   node scripts/build-dashboard.ts           build if the sources changed
//   node scripts/build-dashboard.ts --force   always build
//   node scripts/build-dashboard.ts --soft    on failure warn and exit 0 (the API still starts)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inputsHash, withBuildLock } from './build-cache.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DASHBOARD = join(ROOT, 'dashboard');
export const DASHBOARD_DIST = join(DASHBOARD, 'dist');
const STAMP = join(DASHBOARD_DIST, '.source-hash');
const LOCK = join(DASHBOARD, '.build-lock');
/** Everything the build output depends on. */
const INPUTS = [
  join(DASHBOARD, 'index.html'),
  join(DASHBOARD, 'vite.config.ts'),
  join(DASHBOARD, 'src'),
  join(DASHBOARD, 'public'),
  join(ROOT, 'package-lock.json'),
];

/** A hash of every source file's path and content. */
export function dashboardSourceHash(): string {
  return inputsHash(ROOT, INPUTS);
}

export function dashboardIsCurrent(): boolean {
  return (
    existsSync(join(DASHBOARD_DIST, 'index.html')) &&
    existsSync(STAMP) &&
    readFileSync(STAMP, 'utf8').trim() === dashboardSourceHash()
  );
}

export interface BuildResult {
  built: boolean;
  ms: number;
}

/** Builds the dashboard unless the last build is of the current sources (or `force`). */
export function buildDashboard(options: { force?: boolean; quiet?: boolean } = {}): BuildResult {
  const started = Date.now();
  if (!options.force && dashboardIsCurrent()) return { built: false, ms: 0 };
  return withBuildLock(LOCK, 'dashboard', 180_000, () => {
    if (!options.force && dashboardIsCurrent()) return { built: false, ms: Date.now() - started };
    const hash = dashboardSourceHash();
    const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
    if (!existsSync(vite)) throw new Error('vite is not installed: run npm install first');
    const result = spawnSync(
      process.execPath,
      [vite, 'build', '--config', join(DASHBOARD, 'vite.config.ts'), '--logLevel', 'warn'],
      {
        cwd: ROOT,
        stdio: options.quiet ? 'pipe' : 'inherit',
        encoding: 'utf8',
        // Vite builds React's development runtime when NODE_ENV is anything else (vitest sets "test").
        env: { ...process.env, NODE_ENV: 'production' },
      },
    );
    if (result.status !== 0) {
      const output = options.quiet ? `\n${result.stdout}${result.stderr}` : '';
      throw new Error(`vite build failed (exit ${result.status})${output}`);
    }
    writeFileSync(STAMP, `${hash}\n`);
    return { built: true, ms: Date.now() - started };
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  const soft = process.argv.includes('--soft');
  try {
    const result = buildDashboard({ force });
    if (result.built) console.log(`dashboard built in ${(result.ms / 1000).toFixed(1)} s`);
  } catch (error) {
    console.error(`Could not build the dashboard: ${(error as Error).message}`);
    if (soft) console.error('Starting anyway; / will say how to build it.');
    else process.exitCode = 1;
  }
}
