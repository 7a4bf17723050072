import type { FastifyReply } from 'fastify';
import { AppError } from '../../core/errors.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { anonymous, type CookieSettings, originAllowed } from '../plugins/auth.ts';
import { invitationView, userView } from '../presenters.ts';
import { SessionAnswer } from '../schemas/accounts.ts';
import { errorResponse, errors, HEADERS, noContent, ref } from '../schemas/common.ts';
import {
  AcceptedView,
  AcceptInvitationBody,
  AuthOptionsView,
  ForgotPasswordBody,
  InvitationTokenBody,
  InvitationView,
  PasswordResetBody,
} from '../schemas/recovery.ts';
import { SECURITY } from '../schemas/security.ts';

/**
 * The public account routes besides sign-up and sign-in: what the sign-in page may offer,
 * "Forgot password?", resetting a password with a link, and accepting an invitation. The links'
 * tokens authenticate these requests, so they need no CSRF token; a browser's cross-site Origin
 * is still refused.
 */
export function recoveryRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { invitations, passwordResets, config } = services;
  const tags = ['Accounts'];
  const publicOrigin = new URL(config.publicUrl).origin;
  const sameSite = async (request: Parameters<typeof anonymous>[0]) => {
    anonymous(request);
    if (!originAllowed(request, publicOrigin))
      throw new AppError('csrf_failed', 'cross-site request refused');
  };
  const setCookie = (reply: FastifyReply, sessionId: string) => {
    reply.setCookie(cookie.name, sessionId, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: cookie.secure,
      maxAge: Math.floor(config.sessionAbsoluteTimeoutMs / 1000),
    });
  };

  app.get(
    '/v1/auth/options',
    {
      preHandler: async (request) => anonymous(request),
      schema: {
        tags,
        operationId: 'getAuthOptions',
        summary: 'What the sign-in page may offer',
        description:
          'Whether sign-up is open, by invitation or closed (SIGNUP), and whether "Forgot password?" can mail a reset link.',
        security: SECURITY.none,
        response: { 200: ref(AuthOptionsView, { description: 'The options' }), ...errors() },
      },
    },
    async () => ({ signup: config.signup, password_reset_by_email: passwordResets.byEmail }),
  );

  app.post(
    '/v1/auth/forgot-password',
    {
      preHandler: sameSite,
      schema: {
        tags,
        operationId: 'forgotPassword',
        summary: 'Mail a password-reset link',
        description:
          'Always the same 202 answer, whether or not an account has this email (no account enumeration); the link (one hour, single use) is mailed only when one does. Throttled per client address (429) and, silently, per email. 403 mail_not_configured when this server sends no mail.',
        security: SECURITY.none,
        body: ForgotPasswordBody,
        response: {
          202: ref(AcceptedView, { description: 'Taken; a link is mailed if the account exists' }),
          ...errors(400, 403),
          429: errorResponse(429, HEADERS.retryAfter),
        },
      },
    },
    async (request, reply) => {
      passwordResets.requestByEmail(request.body.email, request.ip);
      reply.status(202);
      return {
        message:
          'If an account with this email exists, a link to reset its password is on its way.',
      };
    },
  );

  app.post(
    '/v1/auth/password-reset',
    {
      preHandler: sameSite,
      schema: {
        tags,
        operationId: 'resetPassword',
        summary: 'Set a new password with a reset link',
        description:
          'The token of a reset link (from `keyward user reset-password` or the reset mail) works once, within an hour. It ends every session of the account; sign in with the new password afterwards. Invalid links count against the client address (429 once exceeded). A password the policy refuses (400 validation_error) leaves the link usable.',
        security: SECURITY.none,
        body: PasswordResetBody,
        response: {
          204: noContent({ description: 'The password is changed; every session has ended' }),
          ...errors(400, 403),
          429: errorResponse(429, HEADERS.retryAfter),
          503: errorResponse(503, HEADERS.retryAfter),
        },
      },
    },
    async (request, reply) => {
      await passwordResets.reset(request.body.token, request.body.new_password, request.ip);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/auth/invitations/lookup',
    {
      preHandler: sameSite,
      schema: {
        tags,
        operationId: 'lookupInvitation',
        summary: 'Read an invitation by its link',
        description:
          'What the invitation page shows: the email it is for (if any), the role, plan and expiry. 400 invalid_link when the link is unknown, expired, revoked or used; 403 signup_closed under SIGNUP=closed.',
        security: SECURITY.none,
        body: InvitationTokenBody,
        response: {
          200: ref(InvitationView, { description: 'The open invitation' }),
          ...errors(400, 403),
          429: errorResponse(429, HEADERS.retryAfter),
        },
      },
    },
    async (request) => invitationView(await invitations.preview(request.body.token, request.ip)),
  );

  app.post(
    '/v1/auth/invitations/accept',
    {
      preHandler: sameSite,
      schema: {
        tags,
        operationId: 'acceptInvitation',
        summary: 'Create an account from an invitation',
        description:
          'Creates the account with the role and plan of the invitation and signs it in (sets the session cookie). The invitation is used up. Works while SIGNUP is invite or open.',
        security: SECURITY.none,
        body: AcceptInvitationBody,
        response: {
          201: ref(SessionAnswer, { description: 'Signed in', headers: HEADERS.setCookie }),
          ...errors(400, 403, 409),
          429: errorResponse(429, HEADERS.retryAfter),
          503: errorResponse(503, HEADERS.retryAfter),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const result = await invitations.accept(
        {
          token: b.token,
          password: b.password,
          ...(b.email !== undefined && { email: b.email }),
        },
        request.ip,
        request.headers['user-agent'] ?? null,
      );
      setCookie(reply, result.sessionId);
      reply.status(201);
      return { user: userView(result.user), csrf_token: result.csrfToken };
    },
  );
}
