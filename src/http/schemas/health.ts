import { Type } from 'typebox';
import { Nullable } from './common.ts';

export const Liveness = Type.Object(
  {
    status: Type.Literal('ok'),
    version: Type.String({ description: 'The release (semantic versioning)' }),
    commit: Nullable(
      Type.String({ description: 'The commit the code was built from, when known' }),
    ),
  },
  {
    $id: 'Liveness',
    examples: [
      { status: 'ok', version: '0.2.0', commit: '9dcdca1f3b6c4d7e8a9b0c1d2e3f405162738495' },
    ],
  },
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
