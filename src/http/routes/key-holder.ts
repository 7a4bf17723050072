import { Type } from 'typebox';
import { keyStatus } from '../../core/key-status.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { withKey } from '../plugins/auth.ts';
import { iso } from '../presenters.ts';
import { errors, Nullable } from '../schemas/common.ts';
import { Credits, Limits } from '../schemas/keys.ts';

const Totals = Type.Object({ requests: Type.Integer(), amount: Type.Integer() });

export function keyHolderRoutes(app: App, services: Services): void {
  const tags = ['Key holder'];
  const security = [{ bearerKey: [] }];

  app.get(
    '/v1/key',
    {
      schema: {
        tags,
        security,
        summary: 'This key',
        description:
          'Status, name, permissions, expiry, limits and credits of the key in the Authorization header.',
        response: {
          200: Type.Object({
            id: Type.String(),
            name: Type.String(),
            environment: Type.String(),
            status: Type.String(),
            permissions: Type.Array(Type.String()),
            expires_at: Nullable(Type.String()),
            limits: Limits,
            credits: Credits,
          }),
          ...errors(401, 402, 403, 429),
        },
      },
    },
    withKey(services, { method: 'GET', path: '/v1/key', permission: 'key:read' }, (key, v) => {
      return {
        id: key.id,
        name: key.name,
        environment: key.environment,
        status: keyStatus(key, services.clock.now()),
        permissions: key.permissions,
        expires_at: iso(key.expiresAt),
        limits: key.limits,
        // The balance the credit spend just returned is fresher than the cached record's.
        credits: {
          remaining: v.creditsRemaining ?? key.credits.remaining,
          refill: key.credits.refill,
        },
      };
    }),
  );

  app.get(
    '/v1/usage',
    {
      schema: {
        tags,
        security,
        summary: "This key's usage",
        description:
          "Requests and amount today and this month (calendar periods in the deployment's time zone).",
        response: {
          200: Type.Object({ today_usage: Totals, month_usage: Totals }),
          ...errors(401, 402, 403, 429),
        },
      },
    },
    withKey(
      services,
      { method: 'GET', path: '/v1/usage', permission: 'usage:read' },
      async (key) => {
        const totals = await services.usage.totals(key.id);
        return { today_usage: totals.today, month_usage: totals.month };
      },
    ),
  );
}
