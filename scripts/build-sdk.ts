// Builds @keyward/sdk (sdk/src → sdk/dist): ESM .js and .d.ts by tsc, CommonJS .cjs and .d.cts by
// TypeScript's own transpiler, when the sources changed since the last build. `npm test` runs it
// first (pretest), so the SDK's tests always run against its current build; `--force` always builds.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { inputsHash, withBuildLock } from './build-cache.ts';

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
  return inputsHash(ROOT, [
    ...sourceFiles(),
    join(SDK, 'package.json'),
    join(SDK, 'tsconfig.json'),
  ]);
}

function isCurrent(): boolean {
  return existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === sourceHash();
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
  return withBuildLock(LOCK, 'SDK', 120_000, () => {
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
