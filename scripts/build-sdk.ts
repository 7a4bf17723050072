// Builds @keyward/sdk (sdk/src → sdk/dist): ESM .js and .d.ts by tsc, CommonJS .cjs and .d.cts by
// TypeScript's own transpiler, when the sources changed since the last build. `npm test` runs it
// first (pretest), so the SDK's tests always run against its current build; `--force` always builds.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const ROOT = join(import.meta.dirname, '..');
const SDK = join(ROOT, 'sdk');
const SRC = join(SDK, 'src');
export const SDK_DIST = join(SDK, 'dist');
const STAMP = join(SDK_DIST, '.source-hash');
const LOCK = join(SDK, '.build-lock');

function sourceFiles(): string[] {
  return readdirSync(SRC)
    .filter((name) => name.endsWith('.ts'))
    .sort()
    .map((name) => join(SRC, name));
}

function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of [...sourceFiles(), join(SDK, 'package.json'), join(SDK, 'tsconfig.json')]) {
    hash.update(relative(ROOT, file));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function isCurrent(): boolean {
  return existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === sourceHash();
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Serialises builds across processes (vitest workers, a bench run during a test run). */
function withLock<T>(run: () => T): T {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 120_000) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`another SDK build holds ${LOCK}`);
      sleep(100);
    }
  }
  try {
    return run();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** `./client.js` → `./client.cjs` in the CommonJS output and its declarations. */
const toCjsPaths = (text: string) => text.replace(/(["']\.\/[\w-]+)\.js(["'])/g, '$1.cjs$2');

function build(): void {
  const staging = `${SDK_DIST}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(
    process.execPath,
    [tsc, '-p', join(SDK, 'tsconfig.json'), '--noEmit', 'false', '--outDir', staging],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`tsc failed:\n${result.stdout}${result.stderr}`);
  for (const file of sourceFiles()) {
    const name = file.slice(SRC.length + 1, -'.ts'.length);
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        rewriteRelativeImportExtensions: true,
        verbatimModuleSyntax: false,
        esModuleInterop: true,
      },
    });
    writeFileSync(join(staging, `${name}.cjs`), toCjsPaths(outputText));
    const declarations = readFileSync(join(staging, `${name}.d.ts`), 'utf8');
    writeFileSync(join(staging, `${name}.d.cts`), toCjsPaths(declarations));
  }
  writeFileSync(join(staging, '.source-hash'), `${sourceHash()}\n`);
  rmSync(SDK_DIST, { recursive: true, force: true });
  renameSync(staging, SDK_DIST);
}

/** Builds the SDK unless the last build is of the current sources (or `force`). */
export function buildSdk(options: { force?: boolean } = {}): boolean {
  if (!options.force && isCurrent()) return false;
  return withLock(() => {
    if (!options.force && isCurrent()) return false;
    build();
    return true;
  });
}

if (import.meta.main) {
  try {
    if (buildSdk({ force: process.argv.includes('--force') })) console.log('sdk built');
  } catch (error) {
    console.error(`Could not build the SDK: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
