import { Type } from 'typebox';
import { ERROR_STATUS, type ErrorCode } from '../../core/errors.ts';

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.Enum(Object.keys(ERROR_STATUS) as ErrorCode[], {
        description: 'Stable, machine-readable error code',
      }),
      message: Type.String({ description: 'What went wrong, in words a person understands' }),
      request_id: Type.String(),
    }),
  },
  { $id: 'Error', description: 'Every error answer has this shape' },
);

/** The error answers a route may give, each documented with the shared error body. */
export function errors(...statuses: number[]): Record<number, typeof ErrorBody> {
  const out: Record<number, typeof ErrorBody> = {};
  for (const status of [...statuses, 500]) out[status] = ErrorBody;
  return out;
}

export const Timestamp = Type.String({ format: 'date-time' });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const IdParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const Cursor = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'Opaque cursor from a previous page',
});
