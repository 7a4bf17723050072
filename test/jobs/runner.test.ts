import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { JobRunner } from '../../src/jobs/runner.ts';

function runner(clock = new ManualClock()) {
  const failures: string[] = [];
  const jobs = new JobRunner({
    clock,
    log: { failed: (job, error) => failures.push(`${job}: ${(error as Error).message}`) },
  });
  return { jobs, failures, clock };
}

describe('the job runner', () => {
  it('runs every job in order; a failing job is logged and the next one runs', async () => {
    const { jobs, failures } = runner();
    const ran: string[] = [];
    jobs.add({ name: 'first', run: async () => void ran.push('first') });
    jobs.add({
      name: 'broken',
      run: async () => {
        ran.push('broken');
        throw new Error('database unreachable');
      },
    });
    jobs.add({ name: 'last', run: async () => void ran.push('last') });
    await jobs.tick();
    expect(ran).toEqual(['first', 'broken', 'last']);
    expect(failures).toEqual(['broken: database unreachable']);
    expect(() => jobs.add({ name: 'first', run: async () => {} })).toThrow(/already registered/);
  });

  it('runs a job with its own cadence at most that often', async () => {
    const { jobs, clock } = runner();
    let pruned = 0;
    jobs.add({
      name: 'prune',
      everyMs: 600_000,
      run: async () => {
        pruned += 1;
      },
    });
    await jobs.tick();
    await jobs.tick();
    expect(pruned).toBe(1);
    clock.advance(599_999);
    await jobs.tick();
    expect(pruned).toBe(1);
    clock.advance(1);
    await jobs.tick();
    expect(pruned).toBe(2);
  });

  it('never overlaps a tick, and stop() waits for the job in progress and skips the rest', async () => {
    const { jobs } = runner();
    let inside = 0;
    let most = 0;
    let entered!: () => void;
    const started = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    const after: string[] = [];
    jobs.add({
      name: 'slow',
      run: async () => {
        inside += 1;
        most = Math.max(most, inside);
        entered();
        await blocked;
        inside -= 1;
      },
    });
    jobs.add({ name: 'after', run: async () => void after.push('ran') });
    jobs.start(1);
    await started;
    // Many intervals pass while the job is blocked: no second tick may start meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const stopped = jobs.stop();
    let done = false;
    void stopped.then(() => {
      done = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    release();
    await stopped;
    expect(most).toBe(1);
    expect(after).toEqual([]);
  });
});
