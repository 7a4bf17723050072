import { Type } from 'typebox';
import { VERIFY_CODES } from '../../core/verify-codes.ts';
import { Nullable, SeqCursor } from './common.ts';
import { Credits, Limits } from './keys.ts';

export const KeyInfo = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    environment: Type.String(),
    status: Type.String(),
    permissions: Type.Array(Type.String()),
    expires_at: Nullable(Type.String()),
    limits: Limits,
    credits: Credits,
  },
  {
    $id: 'KeyInfo',
    description: 'The calling key, as its holder may see it',
    examples: [
      {
        id: 'key_q3zt7ml2b4xkd6wv5yhc2njr',
        name: 'Production backend',
        environment: 'live',
        status: 'active',
        permissions: ['*'],
        expires_at: null,
        limits: { rate: [{ limit: 60, window: '1m' }], monthly: { requests: 100000 } },
        credits: { remaining: null },
      },
    ],
  },
);

const Totals = Type.Object({ requests: Type.Integer(), amount: Type.Integer() });

export const Usage = Type.Object(
  { today_usage: Totals, month_usage: Totals },
  {
    $id: 'Usage',
    description: "The calling key's requests and amount today and this month",
    examples: [
      {
        today_usage: { requests: 120, amount: 120 },
        month_usage: { requests: 4310, amount: 4310 },
      },
    ],
  },
);

export const UsageQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    granularity: Type.Optional(Type.Enum(['hour', 'day'], { default: 'day' })),
  },
  { additionalProperties: false },
);

export const UsageSeries = Type.Object(
  {
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
  },
  {
    $id: 'UsageSeries',
    description: "A key's requests per bucket, by outcome",
    examples: [
      {
        key_id: 'key_q3zt7ml2b4xkd6wv5yhc2njr',
        granularity: 'day',
        from: '2026-05-02T12:00:00.000Z',
        to: '2026-06-01T12:00:00.000Z',
        data: [
          {
            bucket: '2026-06-01',
            requests: 130,
            amount: 120,
            outcomes: { VALID: 120, RATE_LIMITED: 10 },
          },
        ],
      },
    ],
  },
);

export const LogsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
    cursor: Type.Optional(SeqCursor),
  },
  { additionalProperties: false },
);

export const RequestLog = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(
      Type.Object({
        at: Type.String(),
        outcome: Type.Enum(VERIFY_CODES.filter((c) => c !== 'NOT_FOUND')),
        ip: Nullable(Type.String()),
        method: Nullable(Type.String()),
        path: Nullable(Type.String()),
        cost: Type.Integer(),
      }),
    ),
    next_cursor: Nullable(Type.Integer(), { description: 'Pass as `cursor` for the next page' }),
  },
  {
    $id: 'RequestLog',
    description: "A page of a key's recent requests, newest first",
    examples: [
      {
        object: 'list',
        data: [
          {
            at: '2026-06-01T11:59:58.000Z',
            outcome: 'VALID',
            ip: '203.0.113.7',
            method: 'GET',
            path: '/v1/key',
            cost: 1,
          },
        ],
        next_cursor: null,
      },
    ],
  },
);
