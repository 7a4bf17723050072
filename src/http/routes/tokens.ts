import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { tokenView } from '../presenters.ts';
import { CreatedTokenView, CreateTokenBody, TokenList } from '../schemas/accounts.ts';
import { errors, IdParams, noContent, ref } from '../schemas/common.ts';
import { SECURITY } from '../schemas/security.ts';

export function tokenRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { tokens } = services;
  const tags = ['Tokens'];
  // Tokens are managed from a signed-in session only: no token can mint, list or delete tokens.
  const sessionOnly = authenticate(services, cookie, { sessionOnly: true });

  app.post(
    '/v1/tokens',
    {
      preHandler: sessionOnly,
      schema: {
        tags,
        operationId: 'createToken',
        summary: 'Create a management or service token',
        security: SECURITY.sessionWrite,
        description:
          'Users may grant keys:read, keys:write, usage:read, webhooks:manage (a kwm_ token); admins may also grant keys:verify, keys:manage, users:manage (a kws_ service token). The secret is in `token`, once.',
        body: CreateTokenBody,
        response: {
          201: ref(CreatedTokenView, { description: 'The new token, with its secret in `token`' }),
          ...errors(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const created = await tokens.create(request.actor, {
        name: b.name,
        scopes: b.scopes,
        ...(b.expires_in !== undefined && { expiresIn: b.expires_in }),
      });
      reply.status(201);
      return { ...tokenView(created.token), token: created.secret };
    },
  );

  app.get(
    '/v1/tokens',
    {
      preHandler: sessionOnly,
      schema: {
        tags,
        operationId: 'listTokens',
        summary: 'List your tokens',
        security: SECURITY.sessionRead,
        response: {
          200: ref(TokenList, { description: 'Your tokens' }),
          ...errors(401, 403),
        },
      },
    },
    async (request) => ({
      object: 'list' as const,
      data: (await tokens.list(request.actor)).map(tokenView),
    }),
  );

  app.delete(
    '/v1/tokens/:id',
    {
      preHandler: sessionOnly,
      schema: {
        tags,
        operationId: 'deleteToken',
        summary: 'Revoke a token',
        security: SECURITY.sessionWrite,
        description: 'The token stops working at once.',
        params: IdParams,
        response: {
          204: noContent({ description: 'Revoked' }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      await tokens.delete(request.actor, request.params.id);
      return reply.status(204).send(null);
    },
  );
}
