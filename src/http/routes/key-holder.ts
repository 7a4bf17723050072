import { keyStatus } from '../../core/key-status.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { withKey } from '../plugins/auth.ts';
import { iso } from '../presenters.ts';
import { errorResponse, HEADERS, ref } from '../schemas/common.ts';
import { SECURITY } from '../schemas/security.ts';
import { KeyInfo, Usage } from '../schemas/usage.ts';

/**
 * What a key-holder route may answer besides its 200: every answer carries the key's RateLimit
 * headers, a 401 the RFC 6750 challenge and a 429 Retry-After (plugins/auth.ts, withKey).
 */
const REFUSALS = {
  401: errorResponse(401, { ...HEADERS.wwwAuthenticate, ...HEADERS.rateLimit }),
  402: errorResponse(402, HEADERS.rateLimit),
  403: errorResponse(403, HEADERS.rateLimit),
  429: errorResponse(429, { ...HEADERS.retryAfter, ...HEADERS.rateLimit }),
  500: errorResponse(500),
};

export function keyHolderRoutes(app: App, services: Services): void {
  const tags = ['Key holder'];
  const security = SECURITY.apiKey;

  app.get(
    '/v1/key',
    {
      schema: {
        tags,
        security,
        operationId: 'getCurrentKey',
        summary: 'This key',
        description:
          'Status, name, permissions, expiry, limits and credits of the key in the Authorization header.',
        response: {
          200: ref(KeyInfo, { description: 'The key', headers: HEADERS.rateLimit }),
          ...REFUSALS,
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
        operationId: 'getCurrentKeyUsage',
        summary: "This key's usage",
        description:
          "Requests and amount today and this month (calendar periods in the deployment's time zone).",
        response: {
          200: ref(Usage, { description: "The key's usage", headers: HEADERS.rateLimit }),
          ...REFUSALS,
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
