import { Type } from 'typebox';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { userView } from '../presenters.ts';
import { PlanList, UserList, UserUpdateBody, UserView } from '../schemas/accounts.ts';
import { errors, IdParams, noContent, ref } from '../schemas/common.ts';
import { SECURITY } from '../schemas/security.ts';

export function adminRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { accounts } = services;
  const admin = authenticate(services, cookie, { admin: true });
  const tags = ['Admin'];

  app.get(
    '/v1/admin/users',
    {
      preHandler: admin,
      schema: {
        tags,
        operationId: 'listUsers',
        summary: 'List users',
        description: "An admin's session, or a service token with users:manage.",
        security: SECURITY.adminRead,
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
            cursor: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: ref(UserList, { description: 'A page of users' }),
          ...errors(400, 401, 403),
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const users = await accounts.list(limit + 1, request.query.cursor);
      const page = users.slice(0, limit);
      return {
        object: 'list' as const,
        data: page.map(userView),
        next_cursor: users.length > limit ? (page.at(-1)?.id ?? null) : null,
      };
    },
  );

  app.patch(
    '/v1/admin/users/:id',
    {
      preHandler: admin,
      schema: {
        tags,
        operationId: 'updateUser',
        summary: "Change a user's plan, limits or credits, or disable the account",
        security: SECURITY.adminWrite,
        description:
          'Disabling ends the sessions and refuses the keys and tokens of the account at once. `limits` (rate rules, daily and monthly quotas) and `credits` (a balance with an optional refill) are the account\'s own, shared by all its keys: every verification checks the key\'s own limits and then these, atomically, and a refusal by these says `scope: "owner"`. Each replaces the previous value whole; `{}` and `{"remaining": null}` remove them. Every node sees the change on the next verification.',
        params: IdParams,
        body: UserUpdateBody,
        response: {
          200: ref(UserView, { description: 'The user as updated' }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const b = request.body;
      return userView(
        await accounts.update(request.actor, request.params.id, {
          ...(b.plan !== undefined && { plan: b.plan }),
          ...(b.disabled !== undefined && { disabled: b.disabled }),
          ...(b.limits !== undefined && { limits: b.limits }),
          ...(b.credits !== undefined && {
            credits: { remaining: b.credits.remaining, refill: b.credits.refill ?? null },
          }),
        }),
      );
    },
  );

  app.delete(
    '/v1/admin/users/:id',
    {
      preHandler: admin,
      schema: {
        tags,
        operationId: 'deleteUser',
        summary: 'Delete an account for good',
        security: SECURITY.adminWrite,
        description:
          'Revokes every key of the account first (every node stops accepting them at once), then deletes the account with its keys, tokens, sessions and request log. Daily usage counts and the audit log stay; the audit log shows what the account did as actor_type "deleted_account", until AUDIT_LOG_RETENTION removes the entries. An admin cannot delete their own account (409).',
        params: IdParams,
        response: {
          204: noContent({ description: 'The account is deleted' }),
          ...errors(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      await accounts.deleteAccount(request.actor, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/admin/plans',
    {
      preHandler: admin,
      schema: {
        tags,
        operationId: 'listPlans',
        summary: 'Plans of this deployment',
        security: SECURITY.adminRead,
        response: {
          200: ref(PlanList, { description: 'The plans' }),
          ...errors(401, 403),
        },
      },
    },
    async () => ({
      object: 'list' as const,
      data: services.config.plans.map((p) => ({ name: p.name, max_keys: p.maxKeys })),
      default_plan: services.config.defaultPlan,
    }),
  );
}
