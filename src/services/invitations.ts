import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { Clock } from '../core/clock.ts';
import { parseDurationMs } from '../core/duration.ts';
import { EMAIL_PATTERN, normaliseEmail } from '../core/email.ts';
import { AppError } from '../core/errors.ts';
import { LINK_TOKEN_PATTERN, newLinkToken } from '../core/link-token.ts';
import type { Role } from '../core/models.ts';
import { newId, sha256Hex } from '../core/secrets.ts';
import {
  claimInvitation,
  findInvitationByHash,
  findInvitationById,
  type InvitationRow,
  insertInvitation,
  listInvitations,
  revokeInvitation,
} from '../storage/invitations-repository.ts';
import type { Database } from '../storage/schema.ts';
import type { AccountService, LoginResult } from './accounts.ts';
import { type Actor, anonymousActor } from './actor.ts';
import type { AttemptCounter } from './attempt-counter.ts';
import { recordAudit } from './audit.ts';
import { linkMail } from './link-mail.ts';
import type { Mailer } from './mailer.ts';
import type { SessionService } from './sessions.ts';

export const DEFAULT_INVITATION_TTL_MS = 7 * 86_400_000;
const MIN_INVITATION_TTL_MS = 3_600_000;
const MAX_INVITATION_TTL_MS = 30 * 86_400_000;

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired';

export interface Invitation {
  id: string;
  email: string | null;
  role: Role;
  plan: string;
  status: InvitationStatus;
  createdBy: string | null;
  createdAt: number;
  expiresAt: number;
  acceptedAt: number | null;
  acceptedUserId: string | null;
  revokedAt: number | null;
}

export interface CreatedInvitation {
  invitation: Invitation;
  /** `PUBLIC_URL/invite/<token>`: the only place the token ever is. */
  url: string;
  /** Whether the link was mailed to the invitation's email. */
  mailed: boolean;
}

function toInvitation(row: InvitationRow, now: number): Invitation {
  const status: InvitationStatus =
    row.accepted_at !== null
      ? 'accepted'
      : row.revoked_at !== null
        ? 'revoked'
        : row.expires_at <= now
          ? 'expired'
          : 'pending';
  return {
    id: row.id,
    email: row.email,
    role: row.role,
    plan: row.plan,
    status,
    createdBy: row.created_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    acceptedAt: row.accepted_at,
    acceptedUserId: row.accepted_user_id,
    revokedAt: row.revoked_at,
  };
}

const INVALID = 'this invitation link is not valid: it may have expired, been revoked or been used';

/**
 * Invitations: an admin (or the CLI) creates one and hands out its one-time link, or has it
 * mailed; the invitee opens it and creates an account with the role and plan it names. Valid
 * while SIGNUP is `invite` or `open`; `closed` refuses them like sign-up itself.
 */
export class InvitationService {
  private readonly db: Kysely<Database>;
  private readonly config: Config;
  private readonly clock: Clock;
  private readonly accounts: AccountService;
  private readonly sessions: SessionService;
  private readonly failures: AttemptCounter;
  private readonly mailer: Mailer | null;

  constructor(deps: {
    db: Kysely<Database>;
    config: Config;
    clock: Clock;
    accounts: AccountService;
    sessions: SessionService;
    /** Failed link attempts per client address, shared with password resets. */
    failures: AttemptCounter;
    mailer: Mailer | null;
  }) {
    this.db = deps.db;
    this.config = deps.config;
    this.clock = deps.clock;
    this.accounts = deps.accounts;
    this.sessions = deps.sessions;
    this.failures = deps.failures;
    this.mailer = deps.mailer;
  }

  async create(
    actor: Actor,
    input: { email?: string; role?: Role; plan?: string; expiresIn?: string },
  ): Promise<CreatedInvitation> {
    this.assertOpen();
    let email: string | null = null;
    if (input.email !== undefined) {
      email = normaliseEmail(input.email);
      if (!EMAIL_PATTERN.test(email))
        throw new AppError('validation_error', 'email must be an email address');
      if ((await this.accounts.findByEmail(email)) !== undefined)
        throw new AppError('email_taken', 'an account with this email already exists');
    }
    const plan = input.plan ?? this.config.defaultPlan;
    this.accounts.assertPlan(plan);
    const ttl = input.expiresIn === undefined ? DEFAULT_INVITATION_TTL_MS : ttlMs(input.expiresIn);
    const token = newLinkToken();
    const now = this.clock.now();
    const role = input.role ?? 'user';
    const row: InvitationRow = {
      id: newId('inv'),
      token_hash: sha256Hex(token),
      email,
      role,
      plan,
      created_by: actor.user?.id ?? null,
      created_at: now,
      expires_at: now + ttl,
      accepted_at: null,
      accepted_user_id: null,
      revoked_at: null,
    };
    await this.db.transaction().execute(async (trx) => {
      await insertInvitation(trx, row);
      await recordAudit(
        trx,
        actor,
        {
          action: 'invitation.created',
          ownerId: null,
          targetType: 'invitation',
          targetId: row.id,
          details: { email, role, plan, expires_at: new Date(row.expires_at).toISOString() },
        },
        now,
      );
    });
    const url = `${this.config.publicUrl}/invite/${token}`;
    let mailed = false;
    if (email !== null && this.mailer !== null) {
      // A mail server that refuses leaves the invitation in place: the answer carries the link,
      // and `mailed: false` tells the admin to hand it over another way.
      mailed = await this.mailer
        .send(
          linkMail({
            to: email,
            subject: 'You are invited to Keyward',
            before: [
              `You have been invited to create an account on ${this.config.publicUrl}.`,
              `Open the link to choose your password. It works once, until ${new Date(row.expires_at).toUTCString()}.`,
            ],
            action: 'Create your account',
            url,
            after: ['If you did not expect this invitation, ignore this message.'],
          }),
        )
        .then(
          () => true,
          () => false,
        );
    }
    return { invitation: toInvitation(row, now), url, mailed };
  }

  async list(
    limit: number,
    after?: string,
  ): Promise<{ invitations: Invitation[]; nextCursor: string | null }> {
    let before: { createdAt: number; id: string } | undefined;
    if (after !== undefined) {
      const last = await findInvitationById(this.db, after);
      if (last === undefined) throw new AppError('validation_error', 'cursor is not valid');
      before = { createdAt: last.created_at, id: last.id };
    }
    const rows = await listInvitations(this.db, {
      limit: limit + 1,
      ...(before !== undefined && { before }),
    });
    const now = this.clock.now();
    const page = rows.slice(0, limit).map((row) => toInvitation(row, now));
    return {
      invitations: page,
      nextCursor: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
    };
  }

  async revoke(actor: Actor, id: string): Promise<void> {
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      const row = await findInvitationById(trx, id);
      if (row === undefined) throw new AppError('not_found', 'invitation not found');
      if (!(await revokeInvitation(trx, id, now))) {
        throw new AppError(
          'invalid_state',
          row.accepted_at !== null
            ? 'this invitation has been accepted; disable the account instead'
            : 'this invitation is already revoked',
        );
      }
      await recordAudit(
        trx,
        actor,
        {
          action: 'invitation.revoked',
          ownerId: null,
          targetType: 'invitation',
          targetId: id,
          details: { email: row.email },
        },
        now,
      );
    });
  }

  /** What the invitation page shows before the invitee chooses a password. */
  async preview(token: string, ip: string): Promise<Invitation> {
    return toInvitation(await this.open(token, ip), this.clock.now());
  }

  /**
   * Creates the account the invitation names and signs it in. The email is the invitation's
   * when it names one (`email` must then be absent or the same address).
   */
  async accept(
    input: { token: string; email?: string; password: string },
    ip: string,
    userAgent: string | null,
  ): Promise<LoginResult> {
    const row = await this.open(input.token, ip);
    let email: string;
    if (row.email !== null) {
      if (input.email !== undefined && normaliseEmail(input.email) !== row.email)
        throw new AppError('validation_error', `this invitation is for ${row.email}`);
      email = row.email;
    } else {
      if (input.email === undefined)
        throw new AppError('validation_error', 'email is required for this invitation');
      email = input.email;
    }
    const actor = anonymousActor(ip);
    const user = await this.accounts.createUser(
      actor,
      { email, password: input.password, role: row.role, plan: row.plan },
      async (trx, created, now) => {
        if (!(await claimInvitation(trx, row.id, created.id, now)))
          throw new AppError('invalid_link', INVALID);
        await recordAudit(
          trx,
          actor,
          {
            action: 'invitation.accepted',
            ownerId: created.id,
            targetType: 'invitation',
            targetId: row.id,
            details: { email: created.email, role: row.role, plan: row.plan },
          },
          now,
        );
      },
    );
    const session = await this.sessions.create(this.db, user.id, ip, userAgent);
    return { user, ...session };
  }

  /** The open invitation behind `token`, or invalid_link (counted against the address). */
  private async open(token: string, ip: string): Promise<InvitationRow> {
    this.assertOpen();
    const wait = this.failures.retryAfterMs(ip);
    if (wait > 0) {
      throw new AppError('too_many_attempts', 'too many invalid links; try again later', {
        'retry-after': String(Math.ceil(wait / 1000)),
      });
    }
    const row = LINK_TOKEN_PATTERN.test(token)
      ? await findInvitationByHash(this.db, sha256Hex(token))
      : undefined;
    if (
      row === undefined ||
      row.accepted_at !== null ||
      row.revoked_at !== null ||
      row.expires_at <= this.clock.now()
    ) {
      this.failures.record(ip);
      throw new AppError('invalid_link', INVALID);
    }
    return row;
  }

  private assertOpen(): void {
    if (this.config.signup === 'closed') {
      throw new AppError(
        'signup_closed',
        'sign-up is closed on this server (SIGNUP=closed), invitations included',
      );
    }
  }
}

function ttlMs(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === null || ms < MIN_INVITATION_TTL_MS || ms > MAX_INVITATION_TTL_MS) {
    throw new AppError(
      'validation_error',
      'expires_in must be a duration from 1h to 30d, such as 48h or 7d',
    );
  }
  return ms;
}
