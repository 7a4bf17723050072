import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { Clock } from '../core/clock.ts';
import { EMAIL_PATTERN, normaliseEmail } from '../core/email.ts';
import { AppError } from '../core/errors.ts';
import { LINK_TOKEN_PATTERN, newLinkToken } from '../core/link-token.ts';
import type { User } from '../core/models.ts';
import { newId, sha256Hex } from '../core/secrets.ts';
import {
  claimPasswordReset,
  closeOpenPasswordResets,
  deleteEndedPasswordResets,
  findPasswordResetByHash,
  insertPasswordReset,
} from '../storage/password-resets-repository.ts';
import type { Database } from '../storage/schema.ts';
import { findUserByEmail, findUserById, updatePassword } from '../storage/users-repository.ts';
import type { AccountService } from './accounts.ts';
import { type Actor, anonymousActor } from './actor.ts';
import type { AttemptCounter } from './attempt-counter.ts';
import { recordAudit } from './audit.ts';
import { linkMail } from './link-mail.ts';
import type { Mailer } from './mailer.ts';
import { passwordProblem } from './passwords.ts';
import type { SessionService } from './sessions.ts';

export const RESET_LINK_TTL_MS = 3_600_000;
/** Used and expired links are kept this long (for support questions), then deleted. */
const ENDED_LINK_RETENTION_MS = 7 * 86_400_000;

const INVALID =
  'this password-reset link is not valid: it may have expired (links last one hour) or been used already; ask for a new one';

export interface ResetLink {
  user: User;
  /** `PUBLIC_URL/reset-password/<token>`: the only place the token ever is. */
  url: string;
  expiresAt: number;
}

/**
 * Password reset by one-time link: `keyward user reset-password` prints one, "Forgot password?"
 * mails one (when mail is set up). A link lasts an hour, works once, closes the account's other
 * open links, and using it ends every session of the account.
 */
export class PasswordResetService {
  private readonly db: Kysely<Database>;
  private readonly config: Config;
  private readonly clock: Clock;
  private readonly accounts: AccountService;
  private readonly sessions: SessionService;
  private readonly failures: AttemptCounter;
  private readonly requestsPerIp: AttemptCounter;
  private readonly requestsPerEmail: AttemptCounter;
  private readonly mailer: Mailer | null;
  private readonly pending = new Set<Promise<void>>();
  private readonly onMailError: (error: unknown) => void;

  constructor(deps: {
    db: Kysely<Database>;
    config: Config;
    clock: Clock;
    accounts: AccountService;
    sessions: SessionService;
    /** Failed link attempts per client address, shared with invitations. */
    failures: AttemptCounter;
    /** "Forgot password?" requests per client address, and per email. */
    requestsPerIp: AttemptCounter;
    requestsPerEmail: AttemptCounter;
    mailer: Mailer | null;
    /** Where a failed mail delivery is reported (the server's log); never the link. */
    onMailError?: (error: unknown) => void;
  }) {
    this.db = deps.db;
    this.config = deps.config;
    this.clock = deps.clock;
    this.accounts = deps.accounts;
    this.sessions = deps.sessions;
    this.failures = deps.failures;
    this.requestsPerIp = deps.requestsPerIp;
    this.requestsPerEmail = deps.requestsPerEmail;
    this.mailer = deps.mailer;
    this.onMailError = deps.onMailError ?? (() => {});
  }

  /** Whether users can ask for a reset link themselves (mail is configured). */
  get byEmail(): boolean {
    return this.mailer !== null;
  }

  /** A new one-time link for the account (the CLI's `user reset-password`). */
  async createLink(actor: Actor, email: string): Promise<ResetLink> {
    const found = await findUserByEmail(this.db, normaliseEmail(email));
    if (found === undefined) throw new AppError('not_found', `no account with the email ${email}`);
    return this.issue(actor, found.user, 'cli');
  }

  /**
   * "Forgot password?": answers the same whatever the account, so nobody learns which emails are
   * registered. The lookup and the mail run after the caller has been answered (their timing would
   * tell); `idle()` waits for them. Throttled per address (429) and, silently, per email.
   */
  requestByEmail(email: string, ip: string): void {
    if (this.mailer === null) {
      throw new AppError(
        'mail_not_configured',
        'password reset by email is not set up on this server; ask its operator for a reset link',
      );
    }
    const wait = this.requestsPerIp.retryAfterMs(ip);
    if (wait > 0) {
      throw new AppError('too_many_attempts', 'too many reset requests; try again later', {
        'retry-after': String(Math.ceil(wait / 1000)),
      });
    }
    const normalised = normaliseEmail(email);
    // Whether the text is an email address says nothing about accounts: refusing it is safe.
    if (!EMAIL_PATTERN.test(normalised))
      throw new AppError('validation_error', 'email must be an email address');
    this.requestsPerIp.record(ip);
    if (this.requestsPerEmail.retryAfterMs(normalised) > 0) return;
    this.requestsPerEmail.record(normalised);
    const work = this.mailLink(normalised, ip).catch(this.onMailError);
    this.pending.add(work);
    work.finally(() => this.pending.delete(work));
  }

  /** Resolves when every reset mail requested so far has been handled. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  /**
   * Sets a new password with a link's token. The link is claimed in the same transaction that
   * changes the password and ends every session, so it works exactly once.
   */
  async reset(token: string, newPassword: string, ip: string): Promise<User> {
    const wait = this.failures.retryAfterMs(ip);
    if (wait > 0) {
      throw new AppError('too_many_attempts', 'too many invalid links; try again later', {
        'retry-after': String(Math.ceil(wait / 1000)),
      });
    }
    const now = this.clock.now();
    const row = LINK_TOKEN_PATTERN.test(token)
      ? await findPasswordResetByHash(this.db, sha256Hex(token))
      : undefined;
    const user = row === undefined ? undefined : await findUserById(this.db, row.user_id);
    if (row === undefined || user === undefined || row.used_at !== null || row.expires_at <= now) {
      this.failures.record(ip);
      throw new AppError('invalid_link', INVALID);
    }
    if (user.disabled)
      throw new AppError('account_disabled', 'this account is disabled; contact the operator');
    // A refused password leaves the link usable, so the person can try another one.
    const problem = passwordProblem(newPassword, user.email);
    if (problem !== null) throw new AppError('validation_error', problem);
    const passwordHash = await this.accounts.hasher.hash(newPassword);
    const at = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      if (!(await claimPasswordReset(trx, row.id, at))) throw new AppError('invalid_link', INVALID);
      await updatePassword(trx, user.id, passwordHash, at);
      await closeOpenPasswordResets(trx, user.id, at);
      await this.sessions.endAllFor(trx, user.id);
      await recordAudit(
        trx,
        anonymousActor(ip),
        {
          action: 'account.password_reset',
          ownerId: user.id,
          targetType: 'user',
          targetId: user.id,
          details: { link: row.id, via: row.requested_via },
        },
        at,
      );
    });
    return user;
  }

  /** Deletes links that ended a week ago (the services' prune job). */
  async prune(): Promise<void> {
    await deleteEndedPasswordResets(this.db, this.clock.now() - ENDED_LINK_RETENTION_MS);
  }

  private async mailLink(email: string, ip: string): Promise<void> {
    const mailer = this.mailer;
    const found = await findUserByEmail(this.db, email);
    if (mailer === null || found === undefined || found.user.disabled) return;
    const link = await this.issue(anonymousActor(ip), found.user, 'email');
    await mailer.send(
      linkMail({
        to: found.user.email,
        subject: 'Reset your Keyward password',
        before: [
          `Someone (hopefully you) asked to reset the password of your account on ${this.config.publicUrl}.`,
          'Open the link within one hour to choose a new password. It works once, and signs you out everywhere.',
        ],
        action: 'Choose a new password',
        url: link.url,
        after: ['If you did not ask for this, ignore this message: your password stays as it is.'],
      }),
    );
  }

  private async issue(actor: Actor, user: User, via: 'cli' | 'email'): Promise<ResetLink> {
    const token = newLinkToken();
    const now = this.clock.now();
    const id = newId('pwr');
    const expiresAt = now + RESET_LINK_TTL_MS;
    await this.db.transaction().execute(async (trx) => {
      await closeOpenPasswordResets(trx, user.id, now);
      await insertPasswordReset(trx, {
        id,
        token_hash: sha256Hex(token),
        user_id: user.id,
        requested_via: via,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
      });
      await recordAudit(
        trx,
        actor,
        {
          action: 'account.password_reset_requested',
          ownerId: user.id,
          targetType: 'user',
          targetId: user.id,
          details: { link: id, via, expires_at: new Date(expiresAt).toISOString() },
        },
        now,
      );
    });
    return { user, url: `${this.config.publicUrl}/reset-password/${token}`, expiresAt };
  }
}
