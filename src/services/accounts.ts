import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { CalendarDays } from '../core/calendar.ts';
import type { Clock } from '../core/clock.ts';
import { EMAIL_PATTERN, normaliseEmail } from '../core/email.ts';
import { AppError } from '../core/errors.ts';
import type { Credits, OwnerLimits, Role, User } from '../core/models.ts';
import { newId } from '../core/secrets.ts';
import type { Database } from '../storage/schema.ts';
import {
  countUsers,
  findPasswordHash,
  findUserByEmail,
  findUserById,
  insertUser,
  listUsers,
  updatePassword,
  updateUser,
  updateUserBalances,
} from '../storage/users-repository.ts';
import { type Actor, anonymousActor, sessionActor } from './actor.ts';
import { recordAudit } from './audit.ts';
import type { CredentialInvalidator } from './credential-invalidator.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { type PasswordHasher, passwordProblem } from './passwords.ts';
import type { NewSession, SessionService } from './sessions.ts';

export interface LoginResult extends NewSession {
  user: User;
}

export class AccountService {
  private readonly db: Kysely<Database>;
  private readonly config: Config;
  private readonly clock: Clock;
  /** Public: the hardening tests hold its gate full to see what callers beyond capacity get. */
  readonly hasher: PasswordHasher;
  private readonly sessions: SessionService;
  private readonly throttle: LoginThrottle;
  private readonly invalidator: CredentialInvalidator;
  private readonly calendar: CalendarDays | undefined;

  constructor(deps: {
    db: Kysely<Database>;
    config: Config;
    clock: Clock;
    hasher: PasswordHasher;
    sessions: SessionService;
    throttle: LoginThrottle;
    invalidator: CredentialInvalidator;
    /** The deployment's calendar, for the refill period of owner credits. */
    calendar?: CalendarDays;
  }) {
    this.db = deps.db;
    this.config = deps.config;
    this.clock = deps.clock;
    this.hasher = deps.hasher;
    this.sessions = deps.sessions;
    this.throttle = deps.throttle;
    this.invalidator = deps.invalidator;
    this.calendar = deps.calendar;
  }

  /** Creates an account; used by signup (role user) and by the CLI (any role). */
  async createUser(
    actor: Actor,
    input: { email: string; password: string; role: Role; plan?: string },
  ): Promise<User> {
    const email = normaliseEmail(input.email);
    if (!EMAIL_PATTERN.test(email))
      throw new AppError('validation_error', 'email must be an email address');
    const problem = passwordProblem(input.password, email);
    if (problem !== null) throw new AppError('validation_error', problem);
    const plan = input.plan ?? this.config.defaultPlan;
    this.assertPlan(plan);
    const passwordHash = await this.hasher.hash(input.password);
    const now = this.clock.now();
    try {
      return await this.db.transaction().execute(async (trx) => {
        const user = await insertUser(trx, {
          id: newId('usr'),
          email,
          passwordHash,
          role: input.role,
          plan,
          now,
        });
        await recordAudit(
          trx,
          actor,
          {
            action: 'account.created',
            ownerId: user.id,
            targetType: 'user',
            targetId: user.id,
            details: { email, role: input.role, plan },
          },
          now,
        );
        return user;
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('email_taken', 'an account with this email already exists');
      throw error;
    }
  }

  async signup(
    input: { email: string; password: string },
    ip: string | null,
    userAgent: string | null,
  ): Promise<LoginResult> {
    const user = await this.createUser(anonymousActor(ip), { ...input, role: 'user' });
    const session = await this.sessions.create(this.db, user.id, ip, userAgent);
    return { user, ...session };
  }

  async login(
    input: { email: string; password: string },
    ip: string,
    userAgent: string | null,
  ): Promise<LoginResult> {
    const email = normaliseEmail(input.email);
    const wait = this.throttle.retryAfterMs(email, ip);
    if (wait > 0) {
      throw new AppError('too_many_attempts', 'too many failed logins; try again later', {
        'retry-after': String(Math.ceil(wait / 1000)),
      });
    }
    const found = await findUserByEmail(this.db, email);
    const ok =
      found === undefined
        ? await this.hasher.verifyAgainstNothing(input.password)
        : await this.hasher.verify(found.passwordHash, input.password);
    const now = this.clock.now();
    if (!ok || found === undefined) {
      this.throttle.recordFailure(email, ip);
      await recordAudit(
        this.db,
        anonymousActor(ip),
        {
          action: 'auth.login_failed',
          ownerId: found?.user.id ?? null,
          targetType: 'user',
          ...(found !== undefined && { targetId: found.user.id }),
          details: { email },
        },
        now,
      );
      throw new AppError('invalid_credentials', 'email or password is incorrect');
    }
    if (found.user.disabled)
      throw new AppError('account_disabled', 'this account is disabled; contact the operator');
    this.throttle.recordSuccess(email, ip);
    return this.db.transaction().execute(async (trx) => {
      const session = await this.sessions.create(trx, found.user.id, ip, userAgent);
      await recordAudit(
        trx,
        sessionActor(found.user, ip),
        {
          action: 'auth.login',
          ownerId: found.user.id,
          targetType: 'user',
          targetId: found.user.id,
        },
        now,
      );
      return { user: found.user, ...session };
    });
  }

  async logout(actor: Actor, sessionIdHash: string): Promise<void> {
    await this.sessions.end(sessionIdHash);
    if (actor.user !== null) {
      await recordAudit(
        this.db,
        actor,
        {
          action: 'auth.logout',
          ownerId: actor.user.id,
          targetType: 'user',
          targetId: actor.user.id,
        },
        this.clock.now(),
      );
    }
  }

  /**
   * Changes the password, ends every session of the account (this one too) and opens a new one
   * for the caller: the id that was in use before the change is worth nothing after it. A wrong
   * current password counts against the login throttle of the account and address, and is
   * audited, so a stolen session cannot be used to guess the password at leisure.
   */
  async changePassword(
    actor: Actor,
    current: string,
    next: string,
    userAgent: string | null,
  ): Promise<NewSession> {
    const user = actor.user;
    if (user === null) throw new AppError('unauthorized', 'sign in first');
    const ip = actor.ip ?? '';
    const wait = this.throttle.retryAfterMs(user.email, ip);
    if (wait > 0) {
      throw new AppError('too_many_attempts', 'too many failed password checks; try again later', {
        'retry-after': String(Math.ceil(wait / 1000)),
      });
    }
    const problem = passwordProblem(next, user.email);
    if (problem !== null) throw new AppError('validation_error', problem);
    if (next === current)
      throw new AppError('validation_error', 'the new password must differ from the current one');
    const stored = await findPasswordHash(this.db, user.id);
    if (stored === undefined || !(await this.hasher.verify(stored, current))) {
      this.throttle.recordFailure(user.email, ip);
      await recordAudit(
        this.db,
        actor,
        {
          action: 'account.password_change_failed',
          ownerId: user.id,
          targetType: 'user',
          targetId: user.id,
        },
        this.clock.now(),
      );
      throw new AppError('invalid_credentials', 'the current password is incorrect');
    }
    this.throttle.recordSuccess(user.email, ip);
    const passwordHash = await this.hasher.hash(next);
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      await updatePassword(trx, user.id, passwordHash, now);
      await this.sessions.endAllFor(trx, user.id);
      const session = await this.sessions.create(trx, user.id, actor.ip, userAgent);
      await recordAudit(
        trx,
        actor,
        {
          action: 'account.password_changed',
          ownerId: user.id,
          targetType: 'user',
          targetId: user.id,
        },
        now,
      );
      return session;
    });
  }

  async getUser(id: string): Promise<User> {
    const user = await findUserById(this.db, id);
    if (user === undefined) throw new AppError('not_found', 'user not found');
    return user;
  }

  async findByEmail(email: string): Promise<User | undefined> {
    return (await findUserByEmail(this.db, normaliseEmail(email)))?.user;
  }

  async hasAnyUser(): Promise<boolean> {
    return (await countUsers(this.db)) > 0;
  }

  async list(limit: number, after?: string): Promise<User[]> {
    return listUsers(this.db, { limit, ...(after !== undefined && { after }) });
  }

  /**
   * Admin changes: plan, disabled, and the account's own limits and credits (owner balances,
   * shared by all its keys; each replaces the previous value whole). Disabling ends the account's
   * sessions and refuses its keys and tokens. A change of disabled, limits or credits drops the
   * account's keys from every node's cache, so the next verification anywhere sees it.
   */
  async update(
    actor: Actor,
    id: string,
    changes: { plan?: string; disabled?: boolean; limits?: OwnerLimits; credits?: Credits },
  ): Promise<User> {
    if (changes.plan !== undefined) this.assertPlan(changes.plan);
    if (
      changes.credits !== undefined &&
      changes.credits.remaining === null &&
      changes.credits.refill !== null
    )
      throw new AppError(
        'validation_error',
        'credits.refill needs a limited balance: set credits.remaining to a number',
      );
    const now = this.clock.now();
    const user = await this.db.transaction().execute(async (trx) => {
      let updated = await updateUser(
        trx,
        id,
        {
          ...(changes.plan !== undefined && { plan: changes.plan }),
          ...(changes.disabled !== undefined && { disabled: changes.disabled }),
        },
        now,
      );
      if (updated === undefined) throw new AppError('not_found', 'user not found');
      if (changes.limits !== undefined || changes.credits !== undefined) {
        updated = await updateUserBalances(
          trx,
          id,
          {
            ...(changes.limits !== undefined && { limits: changes.limits }),
            ...(changes.credits !== undefined && { credits: changes.credits }),
          },
          now,
          changes.credits === undefined ? null : this.refillPeriod(changes.credits, now),
        );
        if (updated === undefined) throw new AppError('not_found', 'user not found');
      }
      if (changes.disabled === true) await this.sessions.endAllFor(trx, id);
      await recordAudit(
        trx,
        actor,
        {
          action: 'account.updated',
          ownerId: id,
          targetType: 'user',
          targetId: id,
          details: { ...changes },
        },
        now,
      );
      return updated;
    });
    if (
      changes.disabled !== undefined ||
      changes.limits !== undefined ||
      changes.credits !== undefined
    )
      await this.invalidator.invalidateOwner(id);
    return user;
  }

  /** The refill period a balance set now counts as, so the first refill comes with the next period. */
  private refillPeriod(credits: Credits, now: number): string | null {
    if (credits.refill === null) return null;
    if (this.calendar === undefined) throw new Error('owner credits need the calendar');
    return credits.refill.interval === 'daily'
      ? this.calendar.dayOf(now)
      : this.calendar.monthOf(now);
  }

  planLimit(plan: string): number | null {
    return this.config.plans.find((p) => p.name === plan)?.maxKeys ?? null;
  }

  private assertPlan(plan: string): void {
    if (!this.config.plans.some((p) => p.name === plan)) {
      throw new AppError(
        'validation_error',
        `plan must be one of ${this.config.plans.map((p) => p.name).join(', ')}`,
      );
    }
  }
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string } | null;
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}
