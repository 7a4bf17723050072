import { describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import { formatReport, fuzzDatabase, summaryLine } from './engine.ts';

// A fixed seed, so that a red run replays exactly; FUZZ_SEED explores others. The long run
// (≥ 100,000 requests) is `node scripts/fuzz.ts`, its result in docs/SECURITY.md.
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const RUNS = Number(process.env.FUZZ_RUNS ?? 2500);

describe.each(DATABASES)('fuzzing every route of /openapi.json on $name (R13)', (kind) => {
  it(`${RUNS} generated requests: no 5xx, no crash, every error answer in the error shape`, async () => {
    const report = await fuzzDatabase(kind, { seed: SEED, runs: RUNS });
    const replay = `replay: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} npx vitest run test/fuzz/fuzz.test.ts`;
    console.log(summaryLine(report));
    const found = report.findings.map((f) => `${f.kind} ${f.route} → ${f.status}: ${f.error}`);
    expect(found, `${formatReport(report)}\n${replay}`).toEqual([]);

    // A fuzzer that only ever hears 401 proves nothing: most answers must come from past
    // authentication, and a good share from past validation too.
    const count = (predicate: (status: number) => boolean) =>
      Object.entries(report.byStatus)
        .filter(([status]) => predicate(Number(status)))
        .reduce((sum, [, n]) => sum + n, 0);
    expect(count((s) => s === 401) / report.requests).toBeLessThan(0.2);
    expect(count((s) => s >= 200 && s < 300) / report.requests).toBeGreaterThan(0.2);
    const reached = Object.entries(report.byRoute).filter(
      ([route, classes]) => route.includes('/v1/') && (classes['2xx'] ?? 0) > 0,
    );
    expect(reached.length).toBeGreaterThanOrEqual(22);
  }, 300_000);
});
