import { Type } from 'typebox';
import { readAudit } from '../../services/audit.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { auditView } from '../presenters.ts';
import { AuditEntryView } from '../schemas/accounts.ts';
import { errors, Nullable, SeqCursor } from '../schemas/common.ts';

export function auditRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const read = authenticate(services, cookie, { scope: 'keys:read' });
  app.get(
    '/v1/audit-log',
    {
      preHandler: read,
      schema: {
        tags: ['Audit'],
        summary: 'Audit log',
        description:
          'Who did what, to which key, token or account, from which IP, when. Your own entries; admins see every entry.',
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
            cursor: Type.Optional(SeqCursor),
            target_id: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            object: Type.Literal('list'),
            data: Type.Array(AuditEntryView),
            next_cursor: Nullable(Type.Integer()),
          }),
          ...errors(400, 401, 403),
        },
      },
    },
    async (request) => {
      const actor = request.actor;
      const seesAll = actor.type === 'user' && actor.user?.role === 'admin';
      const page = await readAudit(services.store.db, {
        limit: request.query.limit ?? 50,
        ...(!seesAll && actor.user !== null && { ownerId: actor.user.id }),
        ...(request.query.cursor !== undefined && { beforeSeq: request.query.cursor }),
        ...(request.query.target_id !== undefined && { targetId: request.query.target_id }),
      });
      return {
        object: 'list' as const,
        data: page.entries.map(auditView),
        next_cursor: page.nextCursor,
      };
    },
  );
}
