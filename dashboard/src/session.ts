import { createContext, useContext } from 'react';
import type { Me } from './api.ts';

export interface Session {
  me: Me;
  /** Reloads /v1/auth/me (plan usage changes with every key created or revoked). */
  refresh: () => Promise<void>;
  signOut: () => Promise<void>;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside a signed-in page');
  return session;
}

/** Where to go after signing in: a same-origin path only. */
export function safeNext(next: string | null): string {
  if (next === null || !next.startsWith('/') || next.startsWith('//')) return '/keys';
  if (next === '/' || next.startsWith('/login') || next.startsWith('/signup')) return '/keys';
  return next;
}
