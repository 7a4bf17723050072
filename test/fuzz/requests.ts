import fc from 'fast-check';
import {
  anyNumber,
  anyString,
  headerValue,
  hugeString,
  RAW_JSON_TOKENS,
  urlComponent,
} from './inputs.ts';
import type { OpenApiDocument, Operation, Param } from './operations.ts';
import {
  type FieldHints,
  type JsonSchema,
  mutate,
  mutation,
  validValue,
  withRawToken,
} from './schema.ts';

/** Long enough for any password policy; the fuzzer offers it so that logins and changes succeed. */
export const FIXTURE_PASSWORD = 'fuzz-correct-horse-battery-staple-1';

// Ids, keys and cursors the app handed out are referenced by pool and index until the request is
// sent (see Fixture.resolve), so that generation stays a pure function of the seed.

export type Pool =
  | 'ownKey'
  | 'foreignKey'
  | 'apiKey'
  | 'token'
  | 'user'
  | 'verification'
  | 'keysCursor'
  | 'logsCursor'
  | 'auditCursor'
  | 'usersCursor';

/** A cursor only means something to the list that issued it. */
export function cursorPool(path: string): Pool {
  if (path === '/v1/keys') return 'keysCursor';
  if (path.endsWith('/logs')) return 'logsCursor';
  if (path === '/v1/audit-log') return 'auditCursor';
  return 'usersCursor';
}

/**
 * A placeholder the generator emits; replaced by a pool entry when the request is sent. Made of
 * characters that survive percent-encoding and JSON unchanged.
 */
const poolRef = (pool: Pool) => fc.nat().map((i) => `~~${pool}.${i}~~`);
export const POOL_REF = /~~(\w+)\.(\d+)~~/g;

const FIXED_IDS = [
  `key_${'a'.repeat(24)}`,
  `key_${'2'.repeat(24)}`,
  'key_',
  `usr_${'z'.repeat(24)}`,
  `tok_${'7'.repeat(24)}`,
];

/** An id for a path: mostly from the pool the route is about, else anything. */
const idValue = (primary: Pool): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: poolRef(primary), weight: 6 },
    { arbitrary: poolRef('ownKey'), weight: 1 },
    { arbitrary: poolRef('foreignKey'), weight: 2 },
    { arbitrary: poolRef('token'), weight: 1 },
    { arbitrary: poolRef('user'), weight: 1 },
    { arbitrary: fc.constantFrom(...FIXED_IDS), weight: 1 },
    { arbitrary: fc.stringMatching(/^(key|tok|usr)_[a-z2-7]{24}$/), weight: 1 },
    { arbitrary: anyString, weight: 2 },
    { arbitrary: fc.string({ minLength: 60, maxLength: 300 }), weight: 1 },
  );

const duration = fc.constantFrom('0', '1h', '24h', '7d', '30d', '31d', '12h', '1m', '90d', '1y');
const ipOrCidr = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, n]) => `${ip}/${n}`),
  fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([ip, n]) => `${ip}/${n}`),
  fc.ipV4().map((ip) => `::ffff:${ip}`),
);
/** Forms inet_aton and ipaddr.js accept that a strict parser refuses. */
const looseIp = fc.constantFrom(
  '1',
  '0',
  '127.1',
  '0x7f.1',
  '0x7f000001',
  '017700000001',
  '01.02.03.04',
  '4294967295',
  '4294967296',
  '::ffff:0x7f.1',
  '1.2.3.4.5',
  '::ffff:1.2.3',
  'fe80::1%eth0',
  '1.2.3.4/33',
);
const permission = fc.oneof(
  fc.constantFrom('*', 'read:*', '*:read', 'documents:read', 'documents:write', 'admin'),
  fc
    .tuple(fc.stringMatching(/^[a-z*]{1,12}$/), fc.stringMatching(/^[a-z*]{1,12}$/))
    .map(([r, a]) => `${r}:${a}`),
);

const hints: FieldHints = (name) => {
  switch (name) {
    case 'key':
      return poolRef('apiKey');
    case 'key_id':
    case 'target_id':
      return fc.oneof(poolRef('ownKey'), poolRef('foreignKey'));
    case 'owner_id':
      return poolRef('user');
    case 'verification_id':
      return poolRef('verification');
    case 'email':
      return fc.oneof(fc.constant('~~email.0~~'), fc.emailAddress());
    case 'password':
    case 'current_password':
    case 'new_password':
      return fc.oneof(
        fc.constant(FIXTURE_PASSWORD),
        fc.constant(`${FIXTURE_PASSWORD}-2`),
        fc.string({ minLength: 12, maxLength: 40 }),
      );
    case 'ip':
    case 'ip_allowlist[]':
      return fc.oneof({ arbitrary: ipOrCidr, weight: 4 }, { arbitrary: looseIp, weight: 1 });
    case 'permission':
    case 'permissions[]':
      return permission;
    case 'grace_period':
    case 'expires_in':
      return duration;
    case 'amount':
    case 'cost':
    case 'remaining':
      return fc.integer({ min: 0, max: 20 });
    case 'plan':
      return fc.constantFrom('free', 'pro', 'enterprise', 'gold');
    case 'name':
      return fc.oneof(fc.constant('fuzz key'), fc.string({ minLength: 1, maxLength: 100 }));
    default:
      return undefined;
  }
};

export type BodySpec =
  | { kind: 'json'; value: unknown; contentType: string }
  | { kind: 'text'; text: string; contentType: string | null }
  | { kind: 'bytes'; bytes: number[]; contentType: string };

export interface RequestSpec {
  op: number;
  fitting: boolean;
  actor: number;
  path: string[];
  query: [string, string][];
  body: BodySpec | null;
  headers: [string, string][];
  ip: string;
}

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/vnd.api+json',
  'application/json\u0000',
  '',
  '*/*',
  'application/json, text/plain',
  'application/jsonx',
  'application/json;;;',
  'application/merge-patch+json',
];
const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 20 },
  { arbitrary: fc.constantFrom(...CONTENT_TYPES), weight: 1 },
  { arbitrary: headerValue, weight: 1 },
);

const rawBodies: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '{',
    '{"name":',
    '}',
    'null',
    '[]',
    '"x"',
    '1',
    'true',
    '\ufeff{}',
    '{"__proto__":{"role":"admin"}}',
    '{"constructor":{"prototype":{"role":"admin"}}}',
    '{"name":"a","name":{"x":1}}',
    '{"name":"a",}',
    "{'name':'a'}",
    '{"name":"\\ud800"}',
    '{"name":"\\u0000"}',
    '{"key":"\\u0000"}',
    'name=a&key=b',
  ),
  fc.integer({ min: 10, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.integer({ min: 10, max: 20_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
  fc.integer({ min: 10, max: 20_000 }).map((n) => '['.repeat(n)),
  hugeString.map((s) => JSON.stringify({ name: s, metadata: { s } })),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

function bodyFor(
  op: Operation,
  ctx: { resolve(ref: string): JsonSchema },
): fc.Arbitrary<BodySpec | null> {
  const schemaCtx = { resolve: ctx.resolve, hints };
  const valid = op.body === undefined ? fc.constant({}) : validValue(op.body, schemaCtx);
  const json = (value: fc.Arbitrary<unknown>) =>
    fc
      .tuple(value, contentType)
      .map(([v, ct]): BodySpec => ({ kind: 'json', value: v, contentType: ct }));
  const any: fc.Arbitrary<BodySpec> = fc.oneof(
    { arbitrary: json(valid), weight: 8 },
    { arbitrary: json(fc.tuple(valid, mutation).map(([v, m]) => mutate(v, m))), weight: 6 },
    {
      arbitrary: json(
        fc.tuple(valid, mutation, mutation).map(([v, m1, m2]) => mutate(mutate(v, m1), m2)),
      ),
      weight: 2,
    },
    {
      arbitrary: fc.tuple(valid, fc.nat(), fc.constantFrom(...RAW_JSON_TOKENS), contentType).map(
        ([v, at, token, ct]): BodySpec => ({
          kind: 'text',
          text: withRawToken(v, at, token),
          contentType: ct,
        }),
      ),
      weight: 2,
    },
    {
      arbitrary: fc
        .tuple(rawBodies, fc.option(contentType, { freq: 8 }))
        .map(([text, ct]): BodySpec => ({ kind: 'text', text, contentType: ct })),
      weight: 2,
    },
    {
      arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map(
        (b): BodySpec => ({
          kind: 'bytes',
          bytes: [0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, ...b, 0x22, 0x7d],
          contentType: 'application/json',
        }),
      ),
      weight: 1,
    },
  );
  if (op.body !== undefined) return any.map((b): BodySpec | null => b);
  // Routes without a body sometimes get one anyway.
  return fc.oneof({ arbitrary: fc.constant(null), weight: 9 }, { arbitrary: any, weight: 1 });
}

function queryValue(
  param: Param,
  path: string,
): { valid: fc.Arbitrary<string>; any: fc.Arbitrary<string> } {
  const fromSchema = validValue(param.schema, { resolve: () => ({}), hints }, param.name).map(
    (v) => (typeof v === 'string' ? v : JSON.stringify(v)),
  );
  const valid =
    param.name === 'cursor'
      ? fc.oneof(
          { arbitrary: poolRef(cursorPool(path)), weight: 3 },
          { arbitrary: fromSchema, weight: 1 },
        )
      : fromSchema;
  const any = fc.oneof(
    { arbitrary: valid, weight: 5 },
    { arbitrary: anyString, weight: 3 },
    { arbitrary: anyNumber.map(String), weight: 1 },
    {
      arbitrary: fc.constantFrom(
        '1e300',
        '1e400',
        '1e20',
        '9223372036854775808',
        '-1',
        '0',
        'NaN',
        '9'.repeat(400),
        '1.5',
        '',
        '[]',
        'a,b',
      ),
      weight: 1,
    },
    { arbitrary: hugeString.map((s) => s.slice(0, 20_000)), weight: 1 },
  );
  return { valid, any };
}

function queryFor(op: Operation): fc.Arbitrary<[string, string][]> {
  const declared = op.params.filter((p) => p.in === 'query');
  // A route takes up to six parameters and one bad value stops the request at validation, so
  // half of the query strings hold valid values only. fc.option's `freq` is the inverse of the
  // chance of null: each parameter is present half of the time.
  const clean = fc.tuple(
    ...declared.map((p) =>
      fc.option(
        queryValue(p, op.path).valid.map((v): [string, string][] => [[p.name, v]]),
        { freq: 2 },
      ),
    ),
  );
  const dirty = fc.tuple(
    ...declared.map((p) =>
      fc.option(
        fc
          .oneof(
            {
              arbitrary: fc.array(queryValue(p, op.path).any, { minLength: 1, maxLength: 1 }),
              weight: 5,
            },
            // The same parameter twice, which a querystring parser turns into an array.
            {
              arbitrary: fc.array(queryValue(p, op.path).any, { minLength: 2, maxLength: 2 }),
              weight: 1,
            },
          )
          .map((values) => values.map((v): [string, string] => [p.name, v])),
        { freq: 2 },
      ),
    ),
  );
  const extra = fc.array(
    fc.tuple(
      fc.oneof(anyString, fc.constantFrom('__proto__', 'constructor', 'limit[]', 'a[b]')),
      anyString,
    ),
    { minLength: 1, maxLength: 2 },
  );
  return fc
    .tuple(
      fc.oneof(clean, dirty),
      fc.oneof({ arbitrary: fc.constant(null), weight: 6 }, { arbitrary: extra, weight: 1 }),
    )
    .map(([chosen, more]) => [...chosen.flatMap((c) => c ?? []), ...(more ?? [])]);
}

const HEADER_NAMES = [
  'authorization',
  'cookie',
  'x-csrf-token',
  'x-forwarded-for',
  'x-api-key',
  'origin',
  'user-agent',
  'accept',
  'x-real-ip',
  'forwarded',
  'x-request-id',
  'accept-encoding',
  'content-type',
  'host',
  'content-length',
];

const malformedAuthorization = fc.oneof(
  headerValue,
  headerValue.map((v) => `Bearer ${v}`),
  headerValue.map((v) => `Basic ${v}`),
  fc.constantFrom('Bearer', 'Bearer ', 'bearer    ', 'BEARER x', 'Token abc', 'Bearer Bearer x'),
  fc
    .tuple(
      fc.constantFrom('apiKey', 'token'),
      fc.constantFrom('\u0000', ' ', 'x', '\ud800', '%00', '\n'),
    )
    .map(
      ([pool, suffix]) =>
        `Bearer ${pool === 'apiKey' ? '~~apiKey.0~~' : `kwm_${'0'.repeat(40)}`}${suffix}`,
    ),
);
const malformedCookie = fc.oneof(
  headerValue,
  headerValue.map((v) => `keyward_session=${v}`),
  fc.stringMatching(/^[A-Za-z0-9_-]{43}$/).map((v) => `keyward_session=${v}`),
  fc.constantFrom(
    'keyward_session',
    'keyward_session=',
    'keyward_session="',
    '=;=;=',
    'keyward_session=%',
    'keyward_session=%zz; keyward_session=x',
  ),
);

const headerPair: fc.Arbitrary<[string, string]> = fc.oneof(
  { arbitrary: fc.tuple(fc.constant('authorization'), malformedAuthorization), weight: 3 },
  { arbitrary: fc.tuple(fc.constant('cookie'), malformedCookie), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom(...HEADER_NAMES), headerValue), weight: 4 },
  {
    arbitrary: fc.tuple(
      fc.constant('x-forwarded-for'),
      fc
        .array(fc.oneof(fc.ipV4(), fc.ipV6(), anyString), { maxLength: 5 })
        .map((a) => a.join(', ')),
    ),
    weight: 1,
  },
  { arbitrary: fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/), headerValue), weight: 1 },
);

function primaryPool(path: string): Pool {
  if (path.startsWith('/v1/admin/users')) return 'user';
  if (path.startsWith('/v1/tokens')) return 'token';
  return 'ownKey';
}

export function requestArbitrary(
  ops: Operation[],
  doc: OpenApiDocument,
): fc.Arbitrary<RequestSpec> {
  const resolve = (ref: string) => doc.components?.schemas?.[ref.split('/').at(-1) ?? ''] ?? {};
  const perOp = ops.map((op, index) =>
    fc.record({
      op: fc.constant(index),
      fitting: fc.oneof(
        { arbitrary: fc.constant(true), weight: 4 },
        { arbitrary: fc.constant(false), weight: 1 },
      ),
      actor: fc.nat(),
      path: fc.tuple(
        ...op.params
          .filter((p) => p.in === 'path')
          .map((p) =>
            urlComponent(
              p.name === 'id'
                ? idValue(primaryPool(op.path))
                : fc.oneof(
                    anyString,
                    fc.constantFrom(
                      'index.html',
                      'assets/x.js',
                      '../package.json',
                      'keys/key_x',
                      'favicon.ico',
                      '..%2Fpackage.json',
                    ),
                  ),
            ),
          ),
      ),
      query: queryFor(op),
      body: bodyFor(op, { resolve }),
      headers: fc.oneof(
        { arbitrary: fc.constant([] as [string, string][]), weight: 7 },
        { arbitrary: fc.array(headerPair, { minLength: 1, maxLength: 4 }), weight: 3 },
      ),
      ip: fc.constantFrom(
        '127.0.0.1',
        '10.0.0.1',
        '203.0.113.5',
        '::1',
        '2001:db8::1',
        '::ffff:192.0.2.1',
      ),
    }),
  );
  return fc.oneof(...perOp);
}
