import { Type } from 'typebox';
import { AppError } from '../../core/errors.ts';
import { VERIFY_CODES } from '../../core/verify-codes.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { iso, parseTime } from '../presenters.ts';
import { errors, IdParams, Nullable, SeqCursor } from '../schemas/common.ts';

const DAY_MS = 86_400_000;
const MAX_RANGE = { hour: 31 * DAY_MS, day: 400 * DAY_MS } as const;
const DEFAULT_RANGE = { hour: 2 * DAY_MS, day: 30 * DAY_MS } as const;

const Outcome = Type.Enum(VERIFY_CODES.filter((c) => c !== 'NOT_FOUND'));

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
        summary: "A key's usage over time",
        description:
          'Requests per bucket by outcome, and the summed cost of valid requests. Days are calendar days in the deployment time zone; hours are UTC hours. Counts reach the history within one flush interval (1 s by default).',
        params: IdParams,
        querystring: Type.Object(
          {
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
            granularity: Type.Optional(Type.Enum(['hour', 'day'], { default: 'day' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            key_id: Type.String(),
            granularity: Type.Enum(['hour', 'day']),
            from: Type.String(),
            to: Type.String(),
            data: Type.Array(
              Type.Object({
                bucket: Type.String({ description: 'YYYY-MM-DD (day) or the hour start (hour)' }),
                requests: Type.Integer(),
                amount: Type.Integer(),
                outcomes: Type.Record(Type.String(), Type.Integer()),
              }),
            ),
          }),
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
        summary: "A key's recent requests",
        description:
          'Newest first: time, outcome, client IP, method and path (for key-holder and gateway requests), cost. Kept for REQUEST_LOG_RETENTION (30 days by default).',
        params: IdParams,
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
            cursor: Type.Optional(SeqCursor),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            object: Type.Literal('list'),
            data: Type.Array(
              Type.Object({
                at: Type.String(),
                outcome: Outcome,
                ip: Nullable(Type.String()),
                method: Nullable(Type.String()),
                path: Nullable(Type.String()),
                cost: Type.Integer(),
              }),
            ),
            next_cursor: Nullable(Type.Integer()),
          }),
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
        summary: 'Settle usage-based billing',
        description:
          'For keys with billing "usage": verification reserved its `cost`; report the final amount with that verification_id and the difference is refunded or charged atomically (the balance never goes below zero). A reservation settles once. With key_id instead, the amount is charged directly.',
        body: Type.Object(
          {
            verification_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            key_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            amount: Type.Integer({ minimum: 0, maximum: 1e12 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            key_id: Type.String(),
            reserved: Type.Integer(),
            amount: Type.Integer(),
            adjusted: Type.Integer({
              description: 'Credits moved: negative = charged, positive = refunded',
            }),
            credits: Type.Object({ remaining: Nullable(Type.Integer()) }),
          }),
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
      };
    },
  );
}
