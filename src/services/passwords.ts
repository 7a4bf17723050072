import { readFileSync } from 'node:fs';
import { hash, verify } from '@node-rs/argon2';
import { normaliseEmail } from '../core/email.ts';
import { AppError } from '../core/errors.ts';

/** `Algorithm.Argon2id`: the package exports it as an ambient const enum, which type stripping cannot read. */
const ARGON2ID = 2;

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

/** Lower-cased; the file names its sources. */
const COMMON_PASSWORDS: ReadonlySet<string> = new Set(
  readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#')),
);

/** How long a refused caller is told to wait: hashes take tens of milliseconds, so a second is ample. */
const BUSY_RETRY_AFTER_S = 1;

/**
 * Bounds how many argon2 computations run at once and how many wait. Each one holds a libuv
 * thread and 19+ MiB for tens of milliseconds; unbounded, a flood of password checks fills the
 * thread pool (which file and DNS work share) and starves every other request. Beyond the
 * queue, callers are refused at once with 503 and Retry-After instead of waiting.
 */
export class HashGate {
  private readonly concurrency: number;
  private readonly queueLimit: number;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(options: { concurrency: number; queue: number }) {
    this.concurrency = options.concurrency;
    this.queueLimit = options.queue;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queueLimit) {
        throw new AppError(
          'service_unavailable',
          'too many password checks in progress; try again shortly',
          { 'retry-after': String(BUSY_RETRY_AFTER_S) },
        );
      }
      // The slot is handed over by the finishing task, so `running` never drops in between.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.running -= 1;
      else next();
    }
  }
}

/** argon2id at OWASP's recommended floor (m = 19 MiB, t = 2, p = 1) or above. */
export class PasswordHasher {
  /** Every hash and verification passes through it; tests hold its slots to fill it. */
  readonly gate: HashGate;
  private readonly memoryCost: number;
  private dummy: Promise<string> | undefined;

  constructor(memoryKib: number, gate: HashGate) {
    this.memoryCost = memoryKib;
    this.gate = gate;
  }

  hash(password: string): Promise<string> {
    return this.gate.run(() =>
      hash(password, {
        algorithm: ARGON2ID,
        memoryCost: this.memoryCost,
        timeCost: 2,
        parallelism: 1,
      }),
    );
  }

  async verify(passwordHash: string, password: string): Promise<boolean> {
    return this.gate.run(async () => {
      try {
        return await verify(passwordHash, password);
      } catch {
        return false;
      }
    });
  }

  /**
   * Spends the same work as a real check when the account does not exist, so the answer's
   * timing does not tell which emails are registered.
   */
  async verifyAgainstNothing(password: string): Promise<false> {
    this.dummy ??= this.hash('keyward-timing-equaliser');
    // A refused first hash must not leave a rejected promise behind for every later caller.
    const dummy = await this.dummy.catch((error: unknown) => {
      this.dummy = undefined;
      throw error;
    });
    await this.verify(dummy, password);
    return false;
  }
}

/**
 * Why a password is refused, or null when it is acceptable: at least 12 characters besides
 * surrounding spaces, not one of the common passwords (in any case), not the account's email.
 */
export function passwordProblem(password: string, email: string): string | null {
  const length = [...password.trim()].length;
  if (length < MIN_PASSWORD_LENGTH)
    return `password must be at least ${MIN_PASSWORD_LENGTH} characters, not counting spaces around it`;
  if ([...password].length > MAX_PASSWORD_LENGTH)
    return `password must be at most ${MAX_PASSWORD_LENGTH} characters`;
  const lower = password.trim().toLowerCase();
  if (COMMON_PASSWORDS.has(lower) || COMMON_PASSWORDS.has(lower.replaceAll(' ', '')))
    return 'password is one of the most common passwords; choose another';
  if (normaliseEmail(password) === normaliseEmail(email))
    return 'password must not be the email address';
  return null;
}
