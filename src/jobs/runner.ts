import type { Clock } from '../core/clock.ts';

export interface Job {
  name: string;
  /** Runs at most this often (ms); every tick when absent. */
  everyMs?: number;
  run(): Promise<void>;
}

export interface JobLog {
  failed(job: string, error: unknown): void;
}

/**
 * Runs named jobs one after another on each tick, every `intervalMs` (JOB_INTERVAL). A tick never
 * overlaps the previous one: the next is scheduled only when this one has finished. A job's error
 * is logged and the next job runs; nothing here may stop the process.
 */
export class JobRunner {
  private readonly jobs: Job[] = [];
  private readonly lastRun = new Map<string, number>();
  private readonly clock: Clock;
  private readonly log: JobLog;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  /** Set by stop(): a tick in progress ends after its current job. */
  private halted = false;

  constructor(options: { clock: Clock; log: JobLog }) {
    this.clock = options.clock;
    this.log = options.log;
  }

  add(job: Job): void {
    if (this.jobs.some((j) => j.name === job.name))
      throw new Error(`a job named ${job.name} is already registered`);
    this.jobs.push(job);
  }

  get names(): string[] {
    return this.jobs.map((job) => job.name);
  }

  /** Starts ticking; jobs with `everyMs` first run that long after the start. */
  start(intervalMs: number): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.halted = false;
    const now = this.clock.now();
    for (const job of this.jobs) if (job.everyMs !== undefined) this.lastRun.set(job.name, now);
    const schedule = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.running = this.tick().finally(() => {
          this.running = undefined;
          schedule();
        });
      }, intervalMs);
      this.timer.unref();
    };
    schedule();
  }

  /** Stops ticking and waits for a tick in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.halted = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Runs every job that is due, in order; resolves when all have run (errors are logged). */
  async tick(): Promise<void> {
    for (const job of this.jobs) {
      if (this.halted) return;
      const now = this.clock.now();
      const last = this.lastRun.get(job.name);
      if (job.everyMs !== undefined && last !== undefined && now - last < job.everyMs) continue;
      this.lastRun.set(job.name, now);
      await this.runJob(job);
    }
  }

  /** Runs one job now, whatever its schedule (tests drive the jobs with it). */
  async run(name: string): Promise<void> {
    const job = this.jobs.find((j) => j.name === name);
    if (job === undefined) throw new Error(`no job named ${name}`);
    await this.runJob(job);
  }

  private async runJob(job: Job): Promise<void> {
    try {
      await job.run();
    } catch (error) {
      this.log.failed(job.name, error);
    }
  }
}
