import { Type } from 'typebox';

export const Liveness = Type.Object(
  { status: Type.Literal('ok') },
  { $id: 'Liveness', examples: [{ status: 'ok' }] },
);

export const Readiness = Type.Object(
  {
    status: Type.Enum(['ready', 'degraded']),
    checks: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: 'Present when degraded: each dependency and its state',
      }),
    ),
  },
  {
    $id: 'Readiness',
    examples: [
      { status: 'ready' },
      { status: 'degraded', checks: { database: 'ok', redis: 'unavailable' } },
    ],
  },
);

export const Unavailable = Type.Object(
  { status: Type.Literal('unavailable'), reason: Type.String() },
  { $id: 'Unavailable', examples: [{ status: 'unavailable', reason: 'database unavailable' }] },
);
