import type { FastifyReply } from 'fastify';
import { AppError } from '../../core/errors.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { anonymous, authenticate, type CookieSettings, originAllowed } from '../plugins/auth.ts';
import { userView } from '../presenters.ts';
import {
  Credentials,
  CsrfTokenAnswer,
  CurrentUser,
  PasswordChange,
  SessionAnswer,
} from '../schemas/accounts.ts';
import { errorResponse, errors, HEADERS, noContent, ref } from '../schemas/common.ts';
import { SECURITY } from '../schemas/security.ts';

export function authRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { accounts, keys } = services;
  const tags = ['Accounts'];
  const signedIn = authenticate(services, cookie, {});
  const sessionOnly = authenticate(services, cookie, { sessionOnly: true });

  const setCookie = (reply: FastifyReply, sessionId: string) => {
    reply.setCookie(cookie.name, sessionId, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: cookie.secure,
      maxAge: Math.floor(services.config.sessionAbsoluteTimeoutMs / 1000),
    });
  };
  const publicOrigin = new URL(services.config.publicUrl).origin;
  const crossSite = async (request: Parameters<typeof anonymous>[0]) => {
    anonymous(request);
    if (!originAllowed(request, publicOrigin))
      throw new AppError('csrf_failed', 'cross-site request refused');
  };

  app.post(
    '/v1/auth/signup',
    {
      preHandler: crossSite,
      schema: {
        tags,
        operationId: 'signup',
        summary: 'Create an account',
        security: SECURITY.none,
        description:
          'Signs the new user in: sets the session cookie. Only while SIGNUP=open: 403 invitation_required under SIGNUP=invite (accept an invitation instead), 403 signup_closed under SIGNUP=closed.',
        body: Credentials,
        response: {
          201: ref(SessionAnswer, { description: 'Signed in', headers: HEADERS.setCookie }),
          ...errors(400, 403, 409),
          503: errorResponse(503, HEADERS.retryAfter),
        },
      },
    },
    async (request, reply) => {
      const result = await accounts.signup(
        request.body,
        request.ip,
        request.headers['user-agent'] ?? null,
      );
      setCookie(reply, result.sessionId);
      reply.status(201);
      return { user: userView(result.user), csrf_token: result.csrfToken };
    },
  );

  app.post(
    '/v1/auth/login',
    {
      preHandler: crossSite,
      schema: {
        tags,
        operationId: 'login',
        summary: 'Sign in',
        security: SECURITY.none,
        description:
          'A new session id every time. Failed attempts are throttled per account and per IP.',
        body: Credentials,
        response: {
          200: ref(SessionAnswer, { description: 'Signed in', headers: HEADERS.setCookie }),
          ...errors(400, 401, 403),
          429: errorResponse(429, HEADERS.retryAfter),
          503: errorResponse(503, HEADERS.retryAfter),
        },
      },
    },
    async (request, reply) => {
      const result = await accounts.login(
        request.body,
        request.ip,
        request.headers['user-agent'] ?? null,
      );
      setCookie(reply, result.sessionId);
      return { user: userView(result.user), csrf_token: result.csrfToken };
    },
  );

  app.post(
    '/v1/auth/logout',
    {
      preHandler: sessionOnly,
      schema: {
        tags,
        operationId: 'logout',
        summary: 'Sign out',
        security: SECURITY.sessionWrite,
        description: 'Ends the session on the server.',
        response: {
          204: noContent({ description: 'Signed out', headers: HEADERS.clearCookie }),
          ...errors(401, 403),
        },
      },
    },
    async (request, reply) => {
      if (request.session !== null) await accounts.logout(request.actor, request.session.idHash);
      reply.clearCookie(cookie.name, {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: cookie.secure,
      });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/auth/me',
    {
      preHandler: signedIn,
      schema: {
        tags,
        operationId: 'getCurrentUser',
        summary: 'The signed-in user',
        security: SECURITY.anyCaller,
        response: {
          200: ref(CurrentUser, { description: 'The caller' }),
          ...errors(401, 403),
        },
      },
    },
    async (request) => {
      const user = request.actor.user;
      if (user === null) throw new AppError('unauthorized', 'sign in first');
      const usage = await keys.planUsage(request.actor);
      return {
        user: userView(user),
        csrf_token: request.session?.csrfToken ?? null,
        ip: request.ip,
        plan_usage: { plan: usage.plan, keys_used: usage.used, keys_limit: usage.limit },
        environments: services.config.environments,
      };
    },
  );

  app.post(
    '/v1/auth/password',
    {
      preHandler: sessionOnly,
      schema: {
        tags,
        operationId: 'changePassword',
        summary: 'Change the password',
        security: SECURITY.sessionWrite,
        description:
          'Every session of the account ends, this one too: the answer sets a new session cookie and carries its CSRF token. A wrong current password counts towards the login throttle (429 once exceeded) and is audited.',
        body: PasswordChange,
        response: {
          200: ref(CsrfTokenAnswer, {
            description: 'Changed; a new session',
            headers: HEADERS.setCookie,
          }),
          ...errors(400, 401, 403),
          429: errorResponse(429, HEADERS.retryAfter),
          503: errorResponse(503, HEADERS.retryAfter),
        },
      },
    },
    async (request, reply) => {
      if (request.session === null) throw new AppError('unauthorized', 'sign in first');
      const session = await accounts.changePassword(
        request.actor,
        request.body.current_password,
        request.body.new_password,
        request.headers['user-agent'] ?? null,
      );
      setCookie(reply, session.sessionId);
      return { csrf_token: session.csrfToken };
    },
  );
}
