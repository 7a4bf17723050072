import { Type } from 'typebox';
import type { AuditEntry } from '../../core/models.ts';
import {
  entriesByDeletedAccounts,
  entriesByOthers,
  namesForEntries,
  readAudit,
} from '../../services/audit.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { namedAuditView, ownerAuditView } from '../presenters.ts';
import { AuditLog } from '../schemas/accounts.ts';
import { errors, ref, SeqCursor } from '../schemas/common.ts';
import { SECURITY } from '../schemas/security.ts';

export function auditRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const read = authenticate(services, cookie, { scope: 'keys:read' });
  app.get(
    '/v1/audit-log',
    {
      preHandler: read,
      schema: {
        tags: ['Audit'],
        operationId: 'listAuditEntries',
        summary: 'Audit log',
        security: SECURITY.read('keys:read'),
        description:
          'Who did what, to which key, token or account, from which IP, when. Your own entries; admins see every entry. What an administrator (or the command line) did to your account shows as actor_type "administrator", without their id or address. For admins, what a since deleted account did shows as actor_type "deleted_account" (with its former id).',
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
            cursor: Type.Optional(SeqCursor),
            target_id: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: ref(AuditLog, { description: 'A page of entries' }),
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
      const names = await namesForEntries(
        services.store.db,
        page.entries,
        seesAll || actor.user === null ? null : actor.user.id,
      );
      const named = (entry: AuditEntry) => namedAuditView(entry, names);
      if (seesAll || actor.user === null) {
        const deleted = await entriesByDeletedAccounts(services.store.db, page.entries);
        return {
          object: 'list' as const,
          data: page.entries.map((entry) =>
            deleted.has(entry.seq)
              ? { ...named(entry), actor_type: 'deleted_account' }
              : named(entry),
          ),
          next_cursor: page.nextCursor,
        };
      }
      const others = await entriesByOthers(services.store.db, actor.user.id, page.entries);
      return {
        object: 'list' as const,
        data: page.entries.map((entry) =>
          others.has(entry.seq)
            ? {
                ...named(entry),
                actor_type: 'administrator',
                actor_id: null,
                actor_name: null,
                ip: null,
              }
            : named(entry),
        ),
        next_cursor: page.nextCursor,
      };
    },
  );
}
