import { hash, verify } from '@node-rs/argon2';

/** `Algorithm.Argon2id`: the package exports it as an ambient const enum, which type stripping cannot read. */
const ARGON2ID = 2;

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;

/** argon2id at OWASP's recommended floor (m = 19 MiB, t = 2, p = 1) or above. */
export class PasswordHasher {
  private readonly memoryCost: number;
  private dummy: Promise<string> | undefined;

  constructor(memoryKib: number) {
    this.memoryCost = memoryKib;
  }

  hash(password: string): Promise<string> {
    return hash(password, {
      algorithm: ARGON2ID,
      memoryCost: this.memoryCost,
      timeCost: 2,
      parallelism: 1,
    });
  }

  async verify(passwordHash: string, password: string): Promise<boolean> {
    try {
      return await verify(passwordHash, password);
    } catch {
      return false;
    }
  }

  /**
   * Spends the same work as a real check when the account does not exist, so the answer's
   * timing does not tell which emails are registered.
   */
  async verifyAgainstNothing(password: string): Promise<false> {
    this.dummy ??= this.hash('keyward-timing-equaliser');
    await this.verify(await this.dummy, password);
    return false;
  }
}

/** Why a password is refused, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH)
    return `password must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH)
    return `password must be at most ${MAX_PASSWORD_LENGTH} characters`;
  if (password.trim() === '') return 'password must not be only spaces';
  return null;
}
