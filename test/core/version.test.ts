import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.ts';
import { loadConfig } from '../../src/config.ts';
import { buildCommit, commitOf, VERSION } from '../../src/version.ts';
import { DATABASES } from '../helpers/databases.ts';
import { createHarness } from '../helpers/harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SHA = 'a'.repeat(40);

describe('version and commit', () => {
  const dirs: string[] = [];
  const scratch = () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-version-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('the version is package.json’s and the commit is the checkout’s HEAD', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    expect(buildCommit()).toBe(head);
  });

  it('reads loose and packed refs, a detached HEAD, a worktree’s .git file and a REVISION file', () => {
    const loose = scratch();
    mkdirSync(join(loose, '.git', 'refs', 'heads'), { recursive: true });
    writeFileSync(join(loose, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(loose, '.git', 'refs', 'heads', 'main'), `${SHA}\n`);
    expect(commitOf(loose)).toBe(SHA);

    const packed = scratch();
    mkdirSync(join(packed, '.git'));
    writeFileSync(join(packed, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(
      join(packed, '.git', 'packed-refs'),
      `# pack-refs\n${'b'.repeat(40)} refs/heads/main\n`,
    );
    expect(commitOf(packed)).toBe('b'.repeat(40));

    const detached = scratch();
    mkdirSync(join(detached, '.git'));
    writeFileSync(join(detached, '.git', 'HEAD'), `${'c'.repeat(40)}\n`);
    expect(commitOf(detached)).toBe('c'.repeat(40));

    // A worktree: .git is a file naming its git dir, whose refs live in the common dir.
    const common = scratch();
    mkdirSync(join(common, 'refs', 'heads'), { recursive: true });
    writeFileSync(join(common, 'refs', 'heads', 'topic'), `${'d'.repeat(40)}\n`);
    mkdirSync(join(common, 'worktrees', 'w'), { recursive: true });
    writeFileSync(join(common, 'worktrees', 'w', 'HEAD'), 'ref: refs/heads/topic\n');
    writeFileSync(join(common, 'worktrees', 'w', 'commondir'), '../..\n');
    const worktree = scratch();
    writeFileSync(join(worktree, '.git'), `gitdir: ${join(common, 'worktrees', 'w')}\n`);
    expect(commitOf(worktree)).toBe('d'.repeat(40));

    const image = scratch();
    writeFileSync(join(image, 'REVISION'), 'e'.repeat(40));
    expect(commitOf(image)).toBe('e'.repeat(40));

    expect(commitOf(scratch())).toBeNull();
  });

  it('keyward --version prints the release and the commit', async () => {
    const out: string[] = [];
    const program = buildProgram({
      loadConfig: () => loadConfig({ LOG_LEVEL: 'silent' }),
      output: { out: (l) => out.push(l), err: () => {} },
      untilSignal: () => Promise.resolve('SIGTERM'),
    });
    await expect(program.parseAsync(['node', 'keyward', '--version'])).rejects.toMatchObject({
      code: 'commander.version',
    });
    expect(out.join('\n')).toBe(`keyward ${VERSION} (${buildCommit()?.slice(0, 12)})`);
  });

  it('/healthz answers the version and commit', async () => {
    const sqlite = DATABASES.find((d) => d.name === 'sqlite');
    if (sqlite === undefined) throw new Error('SQLite is always available');
    const h = await createHarness(sqlite);
    try {
      const response = await h.request({ method: 'GET', url: '/healthz' });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ status: 'ok', version: VERSION, commit: buildCommit() });
    } finally {
      await h.close();
    }
  });
});
