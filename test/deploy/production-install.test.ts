// The production install path (docs/DEPLOYMENT.md): scripts/install-prod.sh packs this checkout
// (dashboard built), installs it with `npm ci --omit=dev` in a temporary directory, and the result
// starts with `npm run start:prod` without Vite, React or any other build-only package. The
// Docker image's build stage runs the same script.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
/** Packages only the dashboard build, the type check or the tests use. */
const BUILD_ONLY = [
  'vite',
  '@vitejs/plugin-react',
  'react',
  'react-dom',
  'uplot',
  'typescript',
  '@fastify/type-provider-typebox',
  'vitest',
  '@biomejs/biome',
];

/** The environment of an operator's shell: not vitest's NODE_ENV, not `npm test`'s package vars. */
function operatorEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name === 'NODE_ENV' || name.startsWith('VITEST') || /^npm_(lifecycle|package)_/.test(name))
      continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The package a bare specifier names: `@scope/name` or `name`, without a subpath. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/**
 * The packages a source file loads when it runs: static imports and re-exports that are not
 * `import type`, and dynamic `import('…')`. Node's type stripping erases only `import type`.
 */
function runtimeImports(text: string): string[] {
  const found: string[] = [];
  const statement = /^\s*(import|export)\s+(type\s+)?[^;]*?\sfrom\s+'([^']+)'/gms;
  for (const match of text.matchAll(statement)) {
    if (match[2] === undefined && match[3] !== undefined) found.push(match[3]);
  }
  for (const match of text.matchAll(/^\s*import\s+'([^']+)'/gm)) found.push(match[1] as string);
  for (const match of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) found.push(match[1] as string);
  return found.filter((s) => !s.startsWith('.') && !s.startsWith('node:')).map(packageOf);
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startProd(dir: string, env: Record<string, string>): Started {
  // Its own process group: npm and the node it starts are stopped together.
  const child = spawn('npm', ['run', 'start:prod'], {
    cwd: dir,
    env: operatorEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    output += String(chunk);
  });
  // 'close': npm and the server it started have both exited (they share the output pipes).
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, output: () => output, exited };
}

async function listeningUrl(started: Started): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(started.output());
    if (match?.[1] !== undefined) return match[1];
    if (started.child.exitCode !== null)
      throw new Error(`start:prod exited ${started.child.exitCode}:\n${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`start:prod did not listen within 30 s:\n${started.output()}`);
}

function stop(started: Started): Promise<number | null> {
  if (started.child.exitCode === null && started.child.pid !== undefined) {
    try {
      process.kill(-started.child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  return started.exited;
}

describe('production install (scripts/install-prod.sh, npm ci --omit=dev, npm run start:prod)', () => {
  let app: string;
  let data: string;
  let installOutput = '';
  let running: Started | undefined;

  beforeAll(() => {
    app = join(mkdtempSync(join(tmpdir(), 'keyward-prod-')), 'app');
    data = mkdtempSync(join(tmpdir(), 'keyward-prod-data-'));
    const result = spawnSync('sh', [join(ROOT, 'scripts', 'install-prod.sh'), app], {
      cwd: ROOT,
      env: operatorEnv(),
      encoding: 'utf8',
    });
    installOutput = `${result.stdout}${result.stderr}`;
    if (result.status !== 0)
      throw new Error(`install-prod.sh exited ${result.status}:\n${installOutput}`);
  }, 180_000);

  afterAll(async () => {
    if (running !== undefined) await stop(running);
    rmSync(join(app, '..'), { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });

  it('installs the runtime dependencies only, and every package src/ loads is one of them', () => {
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const name of BUILD_ONLY) {
      expect(pkg.devDependencies[name], name).toBeDefined();
      expect(existsSync(join(app, 'node_modules', name)), `${name} installed`).toBe(false);
    }
    const files = sources(join(app, 'src'));
    expect(files.length).toBeGreaterThan(50);
    const imported = new Set(files.flatMap((file) => runtimeImports(readFileSync(file, 'utf8'))));
    // The scan finds what the server is known to load, so a miss would show here.
    for (const name of ['fastify', 'kysely', 'better-sqlite3', 'pg', 'ioredis', 'commander'])
      expect(imported).toContain(name);
    for (const name of imported) {
      expect(pkg.dependencies[name], `${name} is imported by src/ at run time`).toBeDefined();
      expect(existsSync(join(app, 'node_modules', name)), `${name} installed`).toBe(true);
    }
    // And the other way: a dependency nothing loads at run time (a type-only import, a build
    // tool) belongs in devDependencies.
    for (const name of Object.keys(pkg.dependencies))
      expect(imported.has(name), `${name} is a dependency but src/ never loads it`).toBe(true);
    // What ships: the built dashboard and the code, not the tests, the dashboard's sources or docs.
    expect(existsSync(join(app, 'dashboard', 'dist', 'index.html'))).toBe(true);
    // The unit file's Documentation= points at the shipped docs.
    expect(existsSync(join(app, 'docs', 'DEPLOYMENT.md'))).toBe(true);
    for (const absent of ['test', 'dashboard/src', 'scripts', 'bench', 'sdk', '.git'])
      expect(existsSync(join(app, absent)), absent).toBe(false);
  });

  it('starts with npm run start:prod: /readyz is ready, / serves the built dashboard and its assets', async () => {
    running = startProd(app, {
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(data, 'keyward.db')}`,
      LOG_LEVEL: 'warn',
      SHUTDOWN_DRAIN_DELAY: '0s',
    });
    const url = await listeningUrl(running);

    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });

    const revision = existsSync(join(app, 'REVISION'))
      ? readFileSync(join(app, 'REVISION'), 'utf8').trim()
      : null;
    const health = (await (await fetch(`${url}/healthz`)).json()) as { commit: string | null };
    expect(health.commit).toBe(revision);

    const index = await fetch(`${url}/`);
    expect(index.status).toBe(200);
    const html = await index.text();
    expect(html).toBe(readFileSync(join(app, 'dashboard', 'dist', 'index.html'), 'utf8'));
    const script = /<script[^>]+src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script, html).toBeDefined();
    const asset = await fetch(`${url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(Buffer.from(await asset.arrayBuffer())).toEqual(
      readFileSync(join(app, 'dashboard', 'dist', script as string)),
    );

    await stop(running);
    expect(running.output()).toContain('stopped');
    running = undefined;
  }, 60_000);

  it('prints the release and the commit it was installed from', () => {
    const result = spawnSync(process.execPath, [join(app, 'bin', 'keyward.ts'), '--version'], {
      cwd: app,
      env: operatorEnv(),
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    const revision = existsSync(join(app, 'REVISION'))
      ? ` (${readFileSync(join(app, 'REVISION'), 'utf8').trim().slice(0, 12)})`
      : '';
    expect(result.stdout.trim()).toBe(`keyward 0.1.0${revision}`);
  });

  it('start:prod refuses to start without dashboard/dist, saying why', async () => {
    const dist = join(app, 'dashboard', 'dist');
    renameSync(dist, `${dist}.moved`);
    try {
      const started = startProd(app, {
        PORT: '0',
        DATABASE_URL: `sqlite:${join(data, 'other.db')}`,
      });
      expect(await started.exited).not.toBe(0);
      expect(started.output()).toContain(
        `the dashboard is not built: ${join(dist, 'index.html')} is missing`,
      );
      // It stopped before opening the database.
      expect(existsSync(join(data, 'other.db'))).toBe(false);
    } finally {
      renameSync(`${dist}.moved`, dist);
    }
  }, 30_000);
});
