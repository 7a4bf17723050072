import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../core/errors.ts';
import type { ApiKey } from '../../core/models.ts';
import { constantTimeEqual } from '../../core/secrets.ts';
import type { Scope } from '../../core/token.ts';
import { OWNER_REFUSAL_MESSAGE, REFUSAL, type RefusalCode } from '../../core/verify-codes.ts';
import { type Actor, anonymousActor, hasScope, sessionActor } from '../../services/actor.ts';
import type { Services } from '../../services/index.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import type { TokenAuthResult } from '../../services/tokens.ts';
import type { Verification } from '../../services/verify.ts';
import { rateLimitHeaders, retryAfterSeconds } from '../rate-limit-headers.ts';
import { addSecurityHeaders } from './security-headers.ts';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor;
    session: ActiveSession | null;
  }
}

export interface CookieSettings {
  name: string;
  secure: boolean;
}

export function cookieSettings(secure: boolean): CookieSettings {
  // The __Host- prefix pins the cookie to this exact origin, which browsers allow only with Secure.
  return { name: secure ? '__Host-keyward_session' : 'keyward_session', secure };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The API key a request presents: `Authorization: Bearer …`, else `X-API-Key`. */
export function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined && header.length > 7 && header.slice(0, 7).toLowerCase() === 'bearer ')
    return header.slice(7).trim();
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}

/**
 * One cookie's value from a Cookie header (the first of that name, as browsers send the most
 * specific first), or undefined. Session ids are base64url, so a value that is not valid
 * percent-encoding is taken as it is.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
      value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}

/**
 * A browser request's Origin, when present, must be this deployment's public origin
 * (`new URL(PUBLIC_URL).origin`, worked out once by the caller) or the origin the request itself
 * was addressed to; anything else is a cross-site request.
 */
export function originAllowed(request: FastifyRequest, publicOrigin: string): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (origin === publicOrigin) return true;
  return origin === `${request.protocol}://${request.host}`;
}

export interface AuthOptions {
  /** The scope a token (or session) must hold. */
  scope?: Scope;
  /** Only a dashboard session may call the route (token management). */
  sessionOnly?: boolean;
  /** Admin sessions, or tokens holding `users:manage`. */
  admin?: boolean;
}

/**
 * Builds the check that authenticates management routes: session + CSRF, or a token. A cached
 * token is checked without a promise (POST /v1/verify calls this on the hot path); a session
 * always reads the database.
 */
export function authenticator(
  services: Services,
  cookie: CookieSettings,
  options: AuthOptions,
): (request: FastifyRequest) => void | Promise<void> {
  const keyPrefix = `${services.config.keyPrefix}_`;
  const publicOrigin = new URL(services.config.publicUrl).origin;
  const authorize = (request: FastifyRequest): void => {
    if (
      options.admin &&
      !(request.actor.user?.role === 'admin' && request.actor.type === 'user') &&
      !hasScope(request.actor, 'users:manage')
    ) {
      throw new AppError('forbidden', 'this needs an admin');
    }
    if (options.scope !== undefined && !hasScope(request.actor, options.scope)) {
      throw new AppError('forbidden', `this needs the ${options.scope} scope`);
    }
  };
  const acceptToken = (request: FastifyRequest, result: TokenAuthResult): void => {
    if (!result.ok) {
      if (result.reason === 'owner_disabled')
        throw new AppError('account_disabled', 'the account that owns this token is disabled');
      throw new AppError(
        'unauthorized',
        result.reason === 'expired' ? 'this token has expired' : 'the token is not valid',
      );
    }
    request.actor = {
      type: 'token',
      id: result.token.id,
      user: result.owner,
      scopes: result.token.scopes,
      ip: request.ip,
    };
    authorize(request);
  };
  const acceptSession = async (request: FastifyRequest): Promise<void> => {
    // Parsed here rather than by a hook on every request: only session-authenticated routes
    // need the Cookie header, and the key-holder and verify routes run without hooks.
    const sessionId = cookieValue(request.headers.cookie, cookie.name);
    const session =
      sessionId === undefined ? null : await services.sessions.authenticate(sessionId);
    if (session === null) {
      throw new AppError(
        sessionId === undefined ? 'unauthorized' : 'session_expired',
        sessionId === undefined
          ? 'sign in or send a token'
          : 'your session has ended; sign in again',
      );
    }
    if (!SAFE_METHODS.has(request.method)) {
      const csrf = request.headers['x-csrf-token'];
      if (
        typeof csrf !== 'string' ||
        !constantTimeEqual(csrf, session.csrfToken) ||
        !originAllowed(request, publicOrigin)
      ) {
        throw new AppError(
          'csrf_failed',
          'missing or wrong X-CSRF-Token header, or a cross-site request',
        );
      }
    }
    request.session = session;
    request.actor = sessionActor(session.user, request.ip);
    authorize(request);
  };
  return (request) => {
    const presented = bearer(request);
    if (presented === undefined) return acceptSession(request);
    if (presented.startsWith(keyPrefix)) {
      throw new AppError(
        'forbidden',
        'an API key cannot manage keys or tokens; use a session or a management token',
      );
    }
    if (options.sessionOnly)
      throw new AppError('forbidden', 'this can only be done from a signed-in dashboard session');
    const result = services.tokens.authenticate(presented);
    if (result instanceof Promise) return result.then((r) => acceptToken(request, r));
    acceptToken(request, result);
  };
}

/** The same check as a preHandler hook, for the routes off the hot path. */
export function authenticate(services: Services, cookie: CookieSettings, options: AuthOptions) {
  const check = authenticator(services, cookie, options);
  return async (request: FastifyRequest): Promise<void> => {
    await check(request);
  };
}

/** Sets `request.actor` to an anonymous caller with the client's address (public routes). */
export function anonymous(request: FastifyRequest): void {
  request.actor = anonymousActor(request.ip);
}

/**
 * The error a refused verification answers with on key-authenticated routes (and the gateway),
 * its Retry-After and RFC 6750 challenge set on `reply`.
 */
export function refusalError(reply: FastifyReply, result: Verification): AppError {
  const code = result.code as RefusalCode;
  const refusal = REFUSAL[code];
  const error = new AppError(
    refusal.error,
    (result.scope === 'owner' && OWNER_REFUSAL_MESSAGE[code]) || refusal.message,
  );
  error.scope = result.scope ?? 'key';
  if (result.retryAfterMs !== null)
    reply.header('retry-after', String(retryAfterSeconds(result.retryAfterMs)));
  // Every 401 (unknown, revoked, expired, disabled) carries the RFC 6750 challenge.
  if (error.status === 401) reply.header('www-authenticate', 'Bearer error="invalid_token"');
  return error;
}

/**
 * Wraps a key-holder route's handler: authenticates the key (`Authorization: Bearer sk_…` or
 * `X-API-Key`) through the whole policy chain with the permission the route needs, then calls
 * `handler`. A refusal answers with its status (401 with the RFC 6750 challenge, 402, 403 or 429
 * with Retry-After); every answer carries the rate-limit headers of the key's rules and the
 * security headers. This runs inside the route handler rather than as a preHandler hook, and a
 * cached key is verified without a promise: this is the hot path.
 */
export function withKey<T>(
  services: Services,
  route: { method: string; path: string; permission: string },
  handler: (key: ApiKey, verification: Verification) => T,
) {
  const { method, path, permission } = route;
  // Defined once, not per request: a cached key is answered without allocating a closure.
  const finish = (reply: FastifyReply, result: Verification): T => {
    const headers = rateLimitHeaders(result.rate);
    if (headers !== null) reply.headers(headers);
    if (result.valid && result.key !== null) return handler(result.key, result);
    throw refusalError(reply, result);
  };
  return (request: FastifyRequest, reply: FastifyReply): T | Promise<Awaited<T>> => {
    addSecurityHeaders(reply);
    const outcome = services.verify.verify({
      key: bearer(request) ?? '',
      ip: request.ip,
      permission,
      method,
      path,
    });
    return outcome instanceof Promise
      ? (outcome.then((result) => finish(reply, result)) as Promise<Awaited<T>>)
      : finish(reply, outcome);
  };
}
