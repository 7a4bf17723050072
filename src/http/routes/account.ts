import { AppError } from '../../core/errors.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { accountExportView } from '../presenters.ts';
import { AccountExport } from '../schemas/account-export.ts';
import { errors, ref } from '../schemas/common.ts';
import { SECURITY } from '../schemas/security.ts';

export function accountRoutes(app: App, services: Services, cookie: CookieSettings): void {
  // The whole account's data: for the signed-in person, not for a token a script holds.
  const sessionOnly = authenticate(services, cookie, { sessionOnly: true });

  app.get(
    '/v1/account/export',
    {
      preHandler: sessionOnly,
      schema: {
        tags: ['Accounts'],
        operationId: 'exportAccount',
        summary: "Export the signed-in account's data",
        description:
          'One JSON document with the account, its keys (revoked ones too) and tokens without secrets or hashes, its daily usage per key and its audit log. The operator exports any account with `keyward user export --email E`.',
        security: SECURITY.sessionRead,
        response: {
          200: ref(AccountExport, { description: "The account's data" }),
          ...errors(401, 403),
        },
      },
    },
    async (request, reply) => {
      const user = request.actor.user;
      if (user === null) throw new AppError('unauthorized', 'sign in first');
      const data = await services.accounts.exportData(user.id);
      reply.header('content-disposition', `attachment; filename="keyward-account-${user.id}.json"`);
      return accountExportView(data);
    },
  );
}
