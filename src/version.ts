import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** The release, from package.json: one number for the server, its API and its CLI (docs/VERSIONING.md). */
export const VERSION: string = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The commit in `refs` of a git directory, loose or packed. */
function resolveRef(gitDir: string, ref: string): string | null {
  const loose = read(join(gitDir, ref));
  if (loose !== null) return loose;
  const packed = read(join(gitDir, 'packed-refs'));
  const line = packed?.split('\n').find((l) => l.endsWith(` ${ref}`));
  return line === undefined ? null : (line.split(' ')[0] ?? null);
}

/**
 * The commit this code was built from: a `REVISION` file beside package.json (an image built
 * without its .git writes one), else the checkout's `.git` read directly (no git process at
 * start-up), else null. A worktree's `.git` file and a common dir are followed.
 */
export function commitOf(root: string = ROOT): string | null {
  const revision = read(join(root, 'REVISION'));
  if (revision !== null && /^[0-9a-f]{7,40}$/.test(revision)) return revision;
  let gitDir = join(root, '.git');
  const pointer = read(gitDir);
  if (pointer?.startsWith('gitdir: ')) gitDir = pointer.slice('gitdir: '.length);
  const head = read(join(gitDir, 'HEAD'));
  if (head === null) return null;
  if (!head.startsWith('ref: ')) return /^[0-9a-f]{40}$/.test(head) ? head : null;
  const ref = head.slice('ref: '.length);
  const common = read(join(gitDir, 'commondir'));
  const sha =
    resolveRef(gitDir, ref) ?? (common === null ? null : resolveRef(join(gitDir, common), ref));
  return sha !== null && /^[0-9a-f]{40}$/.test(sha) ? sha : null;
}

/** Read once, when first asked. */
let commit: string | null | undefined;
export function buildCommit(): string | null {
  if (commit === undefined) commit = commitOf();
  return commit;
}
