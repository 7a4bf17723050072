import { type Static, type TSchema, type TUnsafe, Type } from 'typebox';
import { ERROR_STATUS, type ErrorCode } from '../../core/errors.ts';

const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.Enum(ERROR_CODES, { description: 'Stable, machine-readable error code' }),
      message: Type.String({ description: 'What went wrong, in words a person understands' }),
      request_id: Type.String({ description: 'Quote it when asking about this request' }),
      param: Type.Optional(
        Type.String({
          description:
            'The request field the error is about, when it is about one: `name`, `ip_allowlist`, `limits.rate[0].limit`',
        }),
      ),
      scope: Type.Optional(
        Type.Enum(['key', 'owner'], {
          description:
            "On a refused API key (key-holder routes, gateway): `owner` when the account's shared limits or credits refused (owner balances), `key` otherwise",
        }),
      ),
      items: Type.Optional(
        Type.Array(
          Type.Object({
            index: Type.Integer({ description: 'Position of the item (0-based)' }),
            code: Type.Enum(ERROR_CODES),
            message: Type.String(),
          }),
          {
            description:
              '`import_refused` only: every refused item of POST /v1/keys/import and why',
          },
        ),
      ),
    }),
  },
  {
    $id: 'Error',
    description: 'Every error answer has this shape',
    examples: [
      {
        error: {
          code: 'validation_error',
          message: 'body/name must NOT have fewer than 1 characters',
          request_id: 'req_5f0c6a2e9b1d4c7a0000000000000001',
          param: 'name',
        },
      },
    ],
  },
);

/** What a response documents besides its body: the OpenAPI response description and headers. */
export interface ResponseDoc {
  description: string;
  headers?: Record<string, HeaderDoc>;
  /** The example for this operation; without one, the component's first example is shown. */
  examples?: unknown[];
}

export interface HeaderDoc {
  type: 'string' | 'integer';
  description: string;
}

/**
 * A response whose body is a named component schema (`$id`, registered with app.addSchema in
 * app.ts): a `$ref` here, `#/components/schemas/<$id>` in the OpenAPI document. The siblings
 * are documentation only; fast-json-stringify serializes the referenced schema as if inline.
 */
export function ref<T extends TSchema>(schema: T, doc?: ResponseDoc): TUnsafe<Static<T>> {
  const id = (schema as { $id?: unknown }).$id;
  if (typeof id !== 'string') throw new Error('ref() needs a schema with an $id');
  return Type.Unsafe<Static<T>>({ $ref: id, ...doc });
}

/** The headers routes send, as OpenAPI documents them per response. */
export const HEADERS = {
  rateLimit: {
    RateLimit: {
      type: 'string',
      description:
        'Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule.',
    },
    'RateLimit-Policy': {
      type: 'string',
      description:
        'Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule.',
    },
  },
  retryAfter: {
    'Retry-After': { type: 'integer', description: 'Seconds to wait before trying again' },
  },
  wwwAuthenticate: {
    'WWW-Authenticate': {
      type: 'string',
      description: 'The RFC 6750 challenge: `Bearer error="invalid_token"`',
    },
  },
  setCookie: {
    'Set-Cookie': {
      type: 'string',
      description:
        'The session cookie: HttpOnly, SameSite=Lax, Path=/, and Secure (named `__Host-keyward_session`) when PUBLIC_URL is https',
    },
  },
  clearCookie: {
    'Set-Cookie': { type: 'string', description: 'Clears the session cookie' },
  },
} as const satisfies Record<string, Record<string, HeaderDoc>>;

const STATUS_TEXT: Record<number, string> = {
  400: 'The request is not valid',
  401: 'Not authenticated',
  402: 'No credits left',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not possible in the current state',
  413: 'The request body is larger than BODY_LIMIT',
  415: 'The request body is not JSON',
  429: 'Too many requests',
  500: 'An unexpected error on the server',
  503: 'Temporarily unavailable',
};

const EXAMPLE_MESSAGE: Partial<Record<ErrorCode, string>> = {
  validation_error: 'body/name must NOT have fewer than 1 characters',
  unauthorized: 'sign in or send a token',
  insufficient_credits: 'this API key has no credits left for this request',
  forbidden: 'this needs the keys:write scope',
  not_found: 'API key not found',
  invalid_state: 'a revoked key cannot be changed',
  payload_too_large: 'request body is too large',
  unsupported_media_type: 'send the body as application/json',
  rate_limited:
    'too many requests for this API key; slow down and retry after the Retry-After delay',
  internal_error: 'internal error',
  service_unavailable: 'too many password checks in progress; try again shortly',
};

/** One error answer: the shared Error body, its possible codes, an example and its headers. */
export function errorResponse(status: number, headers?: Record<string, HeaderDoc>) {
  const codes = ERROR_CODES.filter((code) => ERROR_STATUS[code] === status);
  const code = codes.find((c) => EXAMPLE_MESSAGE[c] !== undefined) ?? codes[0] ?? 'internal_error';
  return ref(ErrorBody, {
    description: `${STATUS_TEXT[status] ?? 'Error'}: \`error.code\` is ${codes.map((c) => `\`${c}\``).join(', ')}`,
    ...(headers !== undefined && { headers }),
    examples: [
      {
        error: {
          code,
          message: EXAMPLE_MESSAGE[code] ?? code.replaceAll('_', ' '),
          request_id: 'req_5f0c6a2e9b1d4c7a0000000000000001',
        },
      },
    ],
  });
}

/** The error answers a route may give (500 always), each documented with the shared error body. */
export function errors(...statuses: number[]): Record<number, ReturnType<typeof errorResponse>> {
  const out: Record<number, ReturnType<typeof errorResponse>> = {};
  for (const status of [...statuses, 500]) out[status] = errorResponse(status);
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

/** A 204 answer: no body. */
export function noContent(doc: Omit<ResponseDoc, 'examples'>) {
  return Type.Null({ ...doc });
}
