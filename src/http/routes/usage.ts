import { AppError } from '../../core/errors.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { iso, parseTime } from '../presenters.ts';
import { errors, IdParams, ref } from '../schemas/common.ts';
import { SECURITY } from '../schemas/security.ts';
import { LogsQuery, RequestLog, UsageQuery, UsageSeries } from '../schemas/usage.ts';
import { SettleBody, Settlement } from '../schemas/verify.ts';

const DAY_MS = 86_400_000;
const MAX_RANGE = { hour: 31 * DAY_MS, day: 400 * DAY_MS } as const;
const DEFAULT_RANGE = { hour: 2 * DAY_MS, day: 30 * DAY_MS } as const;

export function usageRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { keys, billing, clock } = services;
  const readUsage = authenticate(services, cookie, { scope: 'usage:read' });
  const canVerify = authenticate(services, cookie, { scope: 'keys:verify' });
  const tags = ['Usage'];

  app.get(
    '/v1/keys/:id/usage',
    {
      preHandler: readUsage,
      schema: {
        tags,
        operationId: 'getKeyUsage',
        summary: "A key's usage over time",
        security: SECURITY.read('usage:read'),
        description:
          'Requests per bucket by outcome, and the summed cost of valid requests. Days are calendar days in the deployment time zone; hours are UTC hours. Counts reach the history within one flush interval (1 s by default).',
        params: IdParams,
        querystring: UsageQuery,
        response: {
          200: ref(UsageSeries, { description: 'The series' }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const granularity = request.query.granularity ?? 'day';
      const to = request.query.to === undefined ? clock.now() : parseTime(request.query.to);
      const from =
        request.query.from === undefined
          ? (to ?? 0) - DEFAULT_RANGE[granularity]
          : parseTime(request.query.from);
      if (from === undefined || to === undefined)
        throw new AppError('validation_error', 'from and to must be RFC 3339 date-times');
      if (from > to) throw new AppError('validation_error', 'from must not be after to');
      if (to - from > MAX_RANGE[granularity]) {
        throw new AppError(
          'validation_error',
          `a ${granularity} series may span at most ${MAX_RANGE[granularity] / DAY_MS} days`,
        );
      }
      const data = await keys.usageHistory(request.actor, request.params.id, {
        from,
        to,
        granularity,
      });
      return { key_id: request.params.id, granularity, from: iso(from), to: iso(to), data };
    },
  );

  app.get(
    '/v1/keys/:id/logs',
    {
      preHandler: readUsage,
      schema: {
        tags,
        operationId: 'listKeyRequests',
        summary: "A key's recent requests",
        security: SECURITY.read('usage:read'),
        description:
          'Newest first: time, outcome, client IP, method and path (for key-holder and gateway requests), cost. Kept for REQUEST_LOG_RETENTION (30 days by default).',
        params: IdParams,
        querystring: LogsQuery,
        response: {
          200: ref(RequestLog, { description: 'A page of requests' }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const page = await keys.requestLog(request.actor, request.params.id, {
        limit: request.query.limit ?? 50,
        ...(request.query.cursor !== undefined && { beforeSeq: request.query.cursor }),
      });
      return {
        object: 'list' as const,
        data: page.entries.map((e) => ({
          at: iso(e.at),
          outcome: e.outcome,
          ip: e.ip,
          method: e.method,
          path: e.path,
          cost: e.cost,
        })),
        next_cursor: page.nextCursor,
      };
    },
  );

  app.post(
    '/v1/usage',
    {
      preHandler: canVerify,
      schema: {
        tags: ['Verification'],
        operationId: 'settleUsage',
        summary: 'Settle usage-based billing',
        security: SECURITY.verifier,
        description:
          'For keys with billing "usage": verification reserved its `cost`; report the final amount with that verification_id and the difference is refunded or charged atomically (the balance never goes below zero). A reservation settles once. With key_id instead, the amount is charged directly.',
        body: SettleBody,
        response: {
          200: ref(Settlement, { description: 'What was settled, and the balance now' }),
          ...errors(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const b = request.body;
      const settled = await billing.settle(request.actor, {
        amount: b.amount,
        ...(b.verification_id !== undefined && { verificationId: b.verification_id }),
        ...(b.key_id !== undefined && { keyId: b.key_id }),
      });
      return {
        key_id: settled.keyId,
        reserved: settled.reserved,
        amount: settled.amount,
        adjusted: settled.adjusted,
        credits: { remaining: settled.remaining },
        owner_credits:
          settled.ownerRemaining === null ? null : { remaining: settled.ownerRemaining },
      };
    },
  );
}
