import type { Role, User } from '../core/models.ts';
import type { Scope } from '../core/token.ts';
import { ALL_SCOPES, USER_SCOPES } from '../core/token.ts';

/** Who is acting: every service call that changes or reads account data takes one. */
export interface Actor {
  type: 'user' | 'token' | 'cli' | 'system' | 'anonymous';
  /**
   * User id for sessions, token id for tokens, what acted for the system (`jobs`, `github`),
   * null for the CLI and anonymous callers.
   */
  id: string | null;
  /** The account acting (a token's owner); null for the CLI and anonymous callers. */
  user: User | null;
  scopes: readonly Scope[];
  ip: string | null;
}

export function scopesForRole(role: Role): readonly Scope[] {
  return role === 'admin' ? ALL_SCOPES : USER_SCOPES;
}

export function sessionActor(user: User, ip: string | null): Actor {
  return { type: 'user', id: user.id, user, scopes: scopesForRole(user.role), ip };
}

/** The host's operator: the CLI acts with every scope. */
export const CLI_ACTOR: Actor = { type: 'cli', id: null, user: null, scopes: ALL_SCOPES, ip: null };

/** The deployment acting on its own: a scheduled policy (`jobs`) or a leak report (`github`). */
export function systemActor(id: string, ip: string | null = null): Actor {
  return { type: 'system', id, user: null, scopes: ALL_SCOPES, ip };
}

export function anonymousActor(ip: string | null): Actor {
  return { type: 'anonymous', id: null, user: null, scopes: [], ip };
}

const IMPLIED: Partial<Record<Scope, readonly Scope[]>> = {
  'keys:read': ['keys:write', 'keys:manage'],
  'keys:write': ['keys:manage'],
  'usage:read': ['keys:manage'],
};

/** Whether the actor holds `scope`, directly or through a broader one (write implies read). */
export function hasScope(actor: Actor, scope: Scope): boolean {
  if (actor.scopes.includes(scope)) return true;
  return (IMPLIED[scope] ?? []).some((broader) => actor.scopes.includes(broader));
}

/**
 * The CLI, `keys:manage` service tokens and admins signed in with a session act on every owner's
 * keys. An admin's management token does not: it carries its own scopes, like anyone's.
 */
export function actsOnAnyOwner(actor: Actor): boolean {
  return (
    actor.type === 'cli' ||
    actor.type === 'system' ||
    actor.scopes.includes('keys:manage') ||
    (actor.type === 'user' && actor.user?.role === 'admin')
  );
}
