import { type Static, type TSchema, type TUnsafe, Type } from 'typebox';
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

/**
 * `schema` or null, written `type: [T, "null"]` (OpenAPI 3.1). fast-json-stringify serializes
 * that with a typeof check, where an anyOf union costs an ajv validation in every answer.
 */
export function Nullable<T extends TSchema>(
  schema: T,
  options: Record<string, unknown> = {},
): TUnsafe<Static<T> | null> {
  const { type } = schema as { type?: unknown };
  if (typeof type !== 'string') throw new Error('Nullable() needs a schema with one type');
  return Type.Unsafe<Static<T> | null>({ ...schema, ...options, type: [type, 'null'] });
}

export const Timestamp = Type.String({ format: 'date-time' });
export const NullableTimestamp = Nullable(Timestamp);

export const IdParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const Cursor = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'Opaque cursor from a previous page',
});

/** A page cursor that is a sequence number: bounded so it always fits the bigint column. */
export const SeqCursor = Type.Integer({
  minimum: 1,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'next_cursor from a previous page',
});
