/**
 * P9 as an A/B: cold starts of several checkouts interleaved (A, B, A, B, …), each on a fresh
 * SQLite database with `npm start`'s Node flags, so every checkout sees the same machine. Prints
 * the median and every start per checkout. The other checkouts need node_modules (a symlink to
 * this one's will do).
 *
 *   node bench/cold-start-ab.ts --starts 11 /tmp/keyward-old .
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { keywardColdStart } from './cold-start.ts';
import { median } from './report.ts';

const { values, positionals } = parseArgs({
  options: { starts: { type: 'string', default: '9' } },
  allowPositionals: true,
});
const roots = positionals.map((root) => resolve(root));
if (roots.length === 0) {
  console.error('usage: node bench/cold-start-ab.ts [--starts N] <checkout> [<checkout> …]');
  process.exit(2);
}
const times = roots.map((): number[] => []);
for (let i = 0; i < Number(values.starts); i++)
  for (const [j, root] of roots.entries()) times[j]?.push(await keywardColdStart(root));
for (const [j, root] of roots.entries()) {
  const ms = times[j] ?? [];
  console.log(`${root}: median ${Math.round(median(ms))} ms (${ms.map(Math.round).join(', ')})`);
}
