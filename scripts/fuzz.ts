// The long fuzz run of R13: requests generated from /openapi.json (test/fuzz/engine.ts) against a
// fresh app on each database, totals per route and status class, and every distinct finding.
//
//   node scripts/fuzz.ts --runs 100000                  both databases, a random seed
//   node scripts/fuzz.ts --runs 5000 --seed 42 --db postgres
//
// Exits 1 when it found a 5xx, a crash, a hang or an error answer outside the error shape. The last result is recorded in docs/SECURITY.md.
import { parseArgs } from 'node:util';
import { formatReport, fuzzDatabase } from '../test/fuzz/engine.ts';
import { DATABASES } from '../test/helpers/databases.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    db: { type: 'string', default: 'both' },
  },
});
const runs = Number(values.runs);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed)) {
  console.error('usage: node scripts/fuzz.ts [--runs N] [--seed S] [--db sqlite|postgres|both]');
  process.exit(2);
}
const kinds = DATABASES.filter((d) => values.db === 'both' || d.name === values.db);
if (kinds.length === 0) {
  console.error(
    `no database "${values.db}" available (have: ${DATABASES.map((d) => d.name).join(', ')})`,
  );
  process.exit(2);
}

console.log(
  `fuzz: ${runs} requests per database on ${kinds.map((k) => k.name).join(' and ')}, seed ${seed}, ${new Date().toISOString()}`,
);
let failed = false;
for (const kind of kinds) {
  const started = Date.now();
  const report = await fuzzDatabase(kind, {
    seed,
    runs,
    onProgress(done, partial) {
      if (done % 10_000 === 0)
        console.log(
          `  ${kind.name}: ${done} requests, ${partial.findings.length} distinct findings, ${Math.round((Date.now() - started) / 1000)} s`,
        );
    },
  });
  console.log(formatReport(report));
  console.log(`  ${kind.name}: ${Math.round((Date.now() - started) / 1000)} s`);
  if (report.findings.length > 0) failed = true;
}
process.exit(failed ? 1 : 0);
