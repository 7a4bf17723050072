import { Type } from 'typebox';
import { AppError } from '../../core/errors.ts';
import { keyStatus } from '../../core/key-status.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticateKey } from '../plugins/auth.ts';
import { iso } from '../presenters.ts';
import { errors } from '../schemas/common.ts';
import { Credits, Limits } from '../schemas/keys.ts';

const Totals = Type.Object({ requests: Type.Integer(), amount: Type.Integer() });

export function keyHolderRoutes(app: App, services: Services): void {
  const tags = ['Key holder'];
  const readKey = authenticateKey(services, 'key:read');
  const readUsage = authenticateKey(services, 'usage:read');
  const security = [{ bearerKey: [] }];

  app.get(
    '/v1/key',
    {
      preHandler: readKey,
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
            expires_at: Type.Union([Type.String(), Type.Null()]),
            limits: Limits,
            credits: Credits,
          }),
          ...errors(401, 402, 403, 429),
        },
      },
    },
    (request, reply) => {
      const verification = request.verification;
      const key = verification?.key;
      if (!key) throw new AppError('unauthorized', 'send an API key');
      reply.send({
        id: key.id,
        name: key.name,
        environment: key.environment,
        status: keyStatus(key, services.clock.now()),
        permissions: key.permissions,
        expires_at: iso(key.expiresAt),
        limits: key.limits,
        // The balance the credit spend just returned is fresher than the cached record's.
        credits: {
          remaining: verification?.creditsRemaining ?? key.credits.remaining,
          refill: key.credits.refill,
        },
      });
    },
  );

  app.get(
    '/v1/usage',
    {
      preHandler: readUsage,
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
    async (request) => {
      const key = request.verification?.key;
      if (!key) throw new AppError('unauthorized', 'send an API key');
      const totals = await services.usage.totals(key.id);
      return { today_usage: totals.today, month_usage: totals.month };
    },
  );
}
