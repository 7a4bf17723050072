import { createHmac, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.ts';
import type { User } from '../core/models.ts';
import { sha256Hex } from '../core/secrets.ts';
import type { Database } from '../storage/schema.ts';
import {
  deleteExpiredSessions,
  deleteSession,
  deleteUserSessions,
  findSession,
  insertSession,
  touchSession,
} from '../storage/sessions-repository.ts';
import { findUserById } from '../storage/users-repository.ts';

/**
 * How often at most `last_seen_at` is written for one session: the idle timeout's precision.
 * Under a 2-minute idle timeout it is half the timeout instead, or a session in use would expire
 * between two writes.
 */
const TOUCH_EVERY_MS = 60_000;

export interface NewSession {
  /** The cookie value; never stored. */
  sessionId: string;
  csrfToken: string;
}

export interface ActiveSession {
  user: User;
  idHash: string;
  csrfToken: string;
}

/**
 * The CSRF token is derived from the session id, so it needs no storage, changes with every
 * session, and cannot be computed by anyone who does not hold the cookie.
 */
export function csrfTokenFor(sessionId: string): string {
  return createHmac('sha256', sessionId).update('keyward-csrf').digest('base64url');
}

export class SessionService {
  private readonly db: Kysely<Database>;
  private readonly clock: Clock;
  private readonly idleMs: number;
  private readonly absoluteMs: number;
  private readonly touchEveryMs: number;

  constructor(options: { db: Kysely<Database>; clock: Clock; idleMs: number; absoluteMs: number }) {
    this.db = options.db;
    this.clock = options.clock;
    this.idleMs = options.idleMs;
    this.absoluteMs = options.absoluteMs;
    this.touchEveryMs = Math.min(TOUCH_EVERY_MS, Math.floor(options.idleMs / 2));
  }

  /** Always a fresh id (no fixation): login never reuses a session id the client offered. */
  async create(
    db: Kysely<Database>,
    userId: string,
    ip: string | null,
    userAgent: string | null,
  ): Promise<NewSession> {
    const sessionId = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    await insertSession(db, {
      id_hash: sha256Hex(sessionId),
      user_id: userId,
      created_at: now,
      last_seen_at: now,
      expires_at: now + this.absoluteMs,
      ip,
      user_agent: userAgent === null ? null : userAgent.slice(0, 300),
    });
    return { sessionId, csrfToken: csrfTokenFor(sessionId) };
  }

  /** The session's user, or null when the id is unknown, idle too long, past its lifetime, or its user is disabled. */
  async authenticate(sessionId: string): Promise<ActiveSession | null> {
    if (sessionId.length !== 43) return null;
    const idHash = sha256Hex(sessionId);
    const row = await findSession(this.db, idHash);
    if (row === undefined) return null;
    const now = this.clock.now();
    if (row.expires_at <= now || row.last_seen_at + this.idleMs <= now) {
      await deleteSession(this.db, idHash);
      return null;
    }
    const user = await findUserById(this.db, row.user_id);
    if (user === undefined || user.disabled) return null;
    if (now - row.last_seen_at >= this.touchEveryMs) await touchSession(this.db, idHash, now);
    return { user, idHash, csrfToken: csrfTokenFor(sessionId) };
  }

  async end(idHash: string): Promise<void> {
    await deleteSession(this.db, idHash);
  }

  async endAllFor(db: Kysely<Database>, userId: string, keepIdHash?: string): Promise<void> {
    await deleteUserSessions(db, userId, keepIdHash);
  }

  async prune(): Promise<void> {
    const now = this.clock.now();
    await deleteExpiredSessions(this.db, now, now - this.idleMs);
  }
}
