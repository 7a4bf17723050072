import { Type } from 'typebox';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { invitationView } from '../presenters.ts';
import { errors, IdParams, noContent, ref } from '../schemas/common.ts';
import {
  CreatedInvitationView,
  CreateInvitationBody,
  InvitationList,
} from '../schemas/recovery.ts';
import { SECURITY } from '../schemas/security.ts';

export function invitationRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { invitations } = services;
  const admin = authenticate(services, cookie, { admin: true });
  const tags = ['Admin'];

  app.post(
    '/v1/admin/invitations',
    {
      preHandler: admin,
      schema: {
        tags,
        operationId: 'createInvitation',
        summary: 'Invite someone to create an account',
        description:
          'Answers the one-time link (PUBLIC_URL/invite/<token>) once; only its SHA-256 is stored. With an `email` and mail configured, the link is also mailed. 403 signup_closed under SIGNUP=closed; 409 email_taken when an account has the email.',
        security: SECURITY.adminWrite,
        body: CreateInvitationBody,
        response: {
          201: ref(CreatedInvitationView, { description: 'The invitation and its link' }),
          ...errors(400, 401, 403, 409),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const created = await invitations.create(request.actor, {
        ...(b.email !== undefined && { email: b.email }),
        ...(b.role !== undefined && { role: b.role }),
        ...(b.plan !== undefined && { plan: b.plan }),
        ...(b.expires_in !== undefined && { expiresIn: b.expires_in }),
      });
      reply.status(201);
      return { ...invitationView(created.invitation), url: created.url, mailed: created.mailed };
    },
  );

  app.get(
    '/v1/admin/invitations',
    {
      preHandler: admin,
      schema: {
        tags,
        operationId: 'listInvitations',
        summary: 'List invitations',
        description: 'Newest first, each with its status (pending, accepted, revoked, expired).',
        security: SECURITY.adminRead,
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
            cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: ref(InvitationList, { description: 'A page of invitations' }),
          ...errors(400, 401, 403),
        },
      },
    },
    async (request) => {
      const page = await invitations.list(request.query.limit ?? 50, request.query.cursor);
      return {
        object: 'list' as const,
        data: page.invitations.map(invitationView),
        next_cursor: page.nextCursor,
      };
    },
  );

  app.delete(
    '/v1/admin/invitations/:id',
    {
      preHandler: admin,
      schema: {
        tags,
        operationId: 'revokeInvitation',
        summary: 'Revoke an invitation',
        description:
          'Its link stops working at once; it stays listed as revoked. 409 when it was already accepted or revoked.',
        security: SECURITY.adminWrite,
        params: IdParams,
        response: {
          204: noContent({ description: 'Revoked' }),
          ...errors(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      await invitations.revoke(request.actor, request.params.id);
      return reply.status(204).send(null);
    },
  );
}
