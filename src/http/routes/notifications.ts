import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { errors, ref } from '../schemas/common.ts';
import { NotificationSettingsPatch, NotificationSettingsView } from '../schemas/events.ts';
import { SECURITY } from '../schemas/security.ts';

export function notificationRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { notifications } = services;
  const tags = ['Accounts'];
  // The account's own settings, changed from its dashboard: a session (with CSRF on writes).
  const sessionOnly = authenticate(services, cookie, { sessionOnly: true });
  const view = async (switches: Record<string, boolean>) => ({
    mail_configured: notifications.mailConfigured,
    email: switches,
  });

  app.get(
    '/v1/account/notifications',
    {
      preHandler: sessionOnly,
      schema: {
        tags,
        operationId: 'getNotificationSettings',
        summary: 'Your email notification switches',
        security: SECURITY.sessionRead,
        description:
          'One switch per kind of mail (key.expiring, key.leaked, usage.threshold), and whether this deployment sends mail at all.',
        response: {
          200: ref(NotificationSettingsView, { description: 'The switches' }),
          ...errors(401, 403),
        },
      },
    },
    async (request) => view(await notifications.get(request.actor)),
  );

  app.patch(
    '/v1/account/notifications',
    {
      preHandler: sessionOnly,
      schema: {
        tags,
        operationId: 'updateNotificationSettings',
        summary: 'Switch email notifications on or off',
        security: SECURITY.sessionWrite,
        description:
          'Sets the switches named in the body, e.g. {"usage.threshold": false}; the others stay as they are.',
        body: NotificationSettingsPatch,
        response: {
          200: ref(NotificationSettingsView, { description: 'The switches after the change' }),
          ...errors(400, 401, 403),
        },
      },
    },
    async (request) => view(await notifications.set(request.actor, request.body)),
  );
}
