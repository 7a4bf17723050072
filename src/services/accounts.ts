import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { CalendarDays } from '../core/calendar.ts';
import type { Clock } from '../core/clock.ts';
import { EMAIL_PATTERN, normaliseEmail } from '../core/email.ts';
import { AppError } from '../core/errors.ts';
import type {
  ApiKey,
  AuditEntry,
  Credits,
  OwnerLimits,
  Role,
  Token,
  User,
} from '../core/models.ts';
import { newId } from '../core/secrets.ts';
import {
  countLiveKeys,
  listKeysOfOwner,
  revokeKeysOfOwner,
} from '../storage/api-keys-repository.ts';
import type { Database } from '../storage/schema.ts';
import { listTokens } from '../storage/tokens-repository.ts';
import {
  dailyUsageOfOwner,
  deleteRequestLogOfOwner,
  type OwnerDailyUsage,
} from '../storage/usage-repository.ts';
import {
  countUsers,
  deleteUser,
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
import { entriesByOthers, readAudit, recordAudit } from './audit.ts';
import type { CredentialInvalidator } from './credential-invalidator.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { type PasswordHasher, passwordProblem } from './passwords.ts';
import type { NewSession, SessionService } from './sessions.ts';
import type { UsageRecorder } from './usage-recorder.ts';

export interface LoginResult extends NewSession {
  user: User;
}

/** Everything an account holds, for its data export: never a secret or a hash. */
export interface AccountData {
  user: User;
  keys: ApiKey[];
  tokens: Token[];
  usage: OwnerDailyUsage[];
  audit: AuditEntry[];
  /** Audit entries written by an administrator or the CLI: shown without who or from where. */
  byAdministrator: Set<number>;
  exportedAt: number;
}

/** Audit entries read per query while exporting. */
const EXPORT_AUDIT_PAGE = 1000;

export class AccountService {
  private readonly db: Kysely<Database>;
  private readonly config: Config;
  private readonly clock: Clock;
  /** Public: the hardening tests hold its gate full to see what callers beyond capacity get. */
  readonly hasher: PasswordHasher;
  private readonly sessions: SessionService;
  private readonly throttle: LoginThrottle;
  private readonly invalidator: CredentialInvalidator;
  private readonly usage: UsageRecorder;
  private readonly calendar: CalendarDays | undefined;

  constructor(deps: {
    db: Kysely<Database>;
    config: Config;
    clock: Clock;
    hasher: PasswordHasher;
    sessions: SessionService;
    throttle: LoginThrottle;
    invalidator: CredentialInvalidator;
    usage: UsageRecorder;
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
    this.usage = deps.usage;
    this.calendar = deps.calendar;
  }

  /**
   * Creates an account; used by signup (role user), invitations and the CLI (any role).
   * `afterInsert` runs in the account's transaction (an invitation is claimed there: if the
   * claim fails, the account is not created; if the insert fails, the invitation stays unused).
   */
  async createUser(
    actor: Actor,
    input: { email: string; password: string; role: Role; plan?: string },
    afterInsert?: (trx: Kysely<Database>, user: User, now: number) => Promise<void>,
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
        await afterInsert?.(trx, user, now);
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
    if (this.config.signup === 'closed')
      throw new AppError('signup_closed', 'sign-up is closed on this server; ask its operator');
    if (this.config.signup === 'invite') {
      throw new AppError(
        'invitation_required',
        'sign-up on this server is by invitation only; open the link of your invitation',
      );
    }
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

  /**
   * Grants or withdraws the admin role. An account that owns service tokens (kws_, which only an
   * admin may hold) keeps its role until they are revoked: the operator decides what stops working.
   */
  async setRole(actor: Actor, id: string, role: Role): Promise<User> {
    const now = this.clock.now();
    const user = await this.db.transaction().execute(async (trx) => {
      const current = await findUserById(trx, id);
      if (current === undefined) throw new AppError('not_found', 'user not found');
      if (current.role === role) return current;
      if (role === 'user') {
        const service = (await listTokens(trx, id)).filter((t) => t.kind === 'service');
        if (service.length > 0) {
          throw new AppError(
            'invalid_state',
            `the account owns service tokens (${service.map((t) => t.id).join(', ')}), which need an admin; revoke them first`,
          );
        }
      }
      const updated = await updateUser(trx, id, { role }, now);
      if (updated === undefined) throw new AppError('not_found', 'user not found');
      await recordAudit(
        trx,
        actor,
        {
          action: 'account.role_changed',
          ownerId: id,
          targetType: 'user',
          targetId: id,
          details: { from: current.role, to: role },
        },
        now,
      );
      return updated;
    });
    // Cached tokens carry their owner (and its role): they are read again.
    await this.invalidator.invalidateOwner(id);
    return user;
  }

  /**
   * Deletes an account for good. Its keys are revoked first, committed and announced on the
   * invalidation bus, so every node stops accepting them even before the rows are gone; then the
   * account goes with its keys, tokens and sessions, and its request log (client addresses). The
   * daily and hourly usage rollups (counts per key id) and the audit log stay: audit entries are
   * removed only by AUDIT_LOG_RETENTION, and the account's own actions show as `deleted_account`.
   * An account cannot delete itself here (an admin's session or service token): the operator
   * deletes it, or another admin.
   */
  async deleteAccount(actor: Actor, id: string): Promise<{ user: User; revokedKeys: number }> {
    if (actor.type !== 'cli' && actor.user?.id === id) {
      throw new AppError(
        'invalid_state',
        'an admin cannot delete their own account; ask another admin or use keyward user delete',
      );
    }
    const user = await this.getUser(id);
    const now = this.clock.now();
    const revoked = await this.db.transaction().execute(async (trx) => {
      const ids = await revokeKeysOfOwner(trx, id, now);
      for (const keyId of ids) {
        await recordAudit(
          trx,
          actor,
          {
            action: 'key.revoked',
            ownerId: id,
            targetType: 'api_key',
            targetId: keyId,
            details: { reason: 'account_deleted' },
          },
          now,
        );
      }
      return ids.length;
    });
    await this.invalidator.invalidateOwner(id);
    // Requests this node counted before the revocation are written now, so that their request-log
    // entries go with the account below. (Another node may still write a few afterwards, from the
    // moment between revocation and deletion; REQUEST_LOG_RETENTION removes those.)
    await this.usage.flush();
    const hashes = await this.db.transaction().execute(async (trx) => {
      const owned = await this.invalidator.ownerHashes(trx, id);
      await deleteRequestLogOfOwner(trx, id);
      if (!(await deleteUser(trx, id))) throw new AppError('not_found', 'user not found');
      await recordAudit(
        trx,
        actor,
        {
          action: 'account.deleted',
          ownerId: id,
          targetType: 'user',
          targetId: id,
          details: { email: user.email, revoked_keys: revoked },
        },
        now,
      );
      return owned;
    });
    // Cached entries would still hold the revoked keys (and tokens): the rows are gone now.
    this.invalidator.publish(hashes);
    return { user, revokedKeys: revoked };
  }

  /** An account at a glance: keys held (all, and those counting against the plan) and tokens. */
  async overview(
    id: string,
  ): Promise<{ user: User; keys: number; liveKeys: number; tokens: number }> {
    const user = await this.getUser(id);
    const [keys, liveKeys, tokens] = await Promise.all([
      listKeysOfOwner(this.db, id),
      countLiveKeys(this.db, id, this.clock.now()),
      listTokens(this.db, id),
    ]);
    return { user, keys: keys.length, liveKeys, tokens: tokens.length };
  }

  /**
   * The account's data: the account, its keys and tokens (their metadata; the caller presents
   * them without hashes), its daily usage and its audit log as the account itself sees it.
   */
  async exportData(id: string): Promise<AccountData> {
    const user = await this.getUser(id);
    const exportedAt = this.clock.now();
    const audit: AuditEntry[] = [];
    let beforeSeq: number | undefined;
    for (;;) {
      const page = await readAudit(this.db, {
        ownerId: id,
        limit: EXPORT_AUDIT_PAGE,
        ...(beforeSeq !== undefined && { beforeSeq }),
      });
      audit.push(...page.entries);
      if (page.nextCursor === null) break;
      beforeSeq = page.nextCursor;
    }
    return {
      user,
      keys: await listKeysOfOwner(this.db, id),
      tokens: await listTokens(this.db, id),
      usage: await dailyUsageOfOwner(this.db, id),
      audit,
      byAdministrator: await entriesByOthers(this.db, id, audit),
      exportedAt,
    };
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

  /** Throws validation_error unless `plan` is one of PLANS. */
  assertPlan(plan: string): void {
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
