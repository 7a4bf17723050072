import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { ERROR_STATUS } from '../../src/core/errors.ts';
import type { Scope } from '../../src/core/token.ts';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import type { DatabaseKind } from '../helpers/databases.ts';
import { createHarness, type Harness, uniqueEmail } from '../helpers/harness.ts';
import {
  anyNumber,
  anyString,
  encodeLoose,
  headerValue,
  hugeString,
  RAW_JSON_TOKENS,
  toJsonText,
  urlComponent,
} from './inputs.ts';
import { KNOWN_UNTIL_SEC_KEYS_MERGE } from './known.ts';
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

// ---------------------------------------------------------------------------------------------
// Operations, from the app's own OpenAPI document

interface Param {
  name: string;
  in: 'path' | 'query';
  schema: JsonSchema;
}

export interface Operation {
  method: string;
  /** The OpenAPI path template, e.g. /v1/keys/{id}. */
  path: string;
  params: Param[];
  body: JsonSchema | undefined;
  /** Errors must be JSON `{error: {code, message}}`; false for the dashboard's HTML and /docs. */
  json: boolean;
  /** Actors likely to get past authentication on this route. */
  fitting: ActorName[];
}

interface OpenApiDocument {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { name: string; in: string; schema: JsonSchema }[];
        requestBody?: { content?: Record<string, { schema: JsonSchema }> };
      }
    >
  >;
  components?: { schemas?: Record<string, JsonSchema> };
}

const ACTORS = [
  'none',
  'session:a',
  'session:a-no-csrf',
  'session:a-foreign-origin',
  'session:b',
  'session:admin',
  'token:a-user-scopes',
  'token:a-keys:read',
  'token:a-keys:write',
  'token:a-usage:read',
  'service:keys:verify',
  'service:keys:manage',
  'service:users:manage',
  'service:all',
  'apikey:bearer',
  'apikey:x-api-key',
] as const;
type ActorName = (typeof ACTORS)[number];

const TOKEN_SCOPES: Record<string, Scope[]> = {
  'token:a-user-scopes': ['keys:read', 'keys:write', 'usage:read'],
  'token:a-keys:read': ['keys:read'],
  'token:a-keys:write': ['keys:write'],
  'token:a-usage:read': ['usage:read'],
  'service:keys:verify': ['keys:verify'],
  'service:keys:manage': ['keys:manage'],
  'service:users:manage': ['users:manage'],
  'service:all': [
    'keys:verify',
    'keys:manage',
    'users:manage',
    'keys:read',
    'keys:write',
    'usage:read',
  ],
};

function fittingActors(method: string, path: string): ActorName[] {
  if (path === '/v1/verify' || (path === '/v1/usage' && method === 'post'))
    return ['service:keys:verify', 'service:all', 'service:keys:manage'];
  if (path === '/v1/key' || path === '/v1/usage') return ['apikey:bearer', 'apikey:x-api-key'];
  if (path.startsWith('/v1/auth/')) return ['session:a', 'session:admin', 'none'];
  if (path.startsWith('/v1/tokens')) return ['session:a', 'session:admin', 'session:b'];
  if (path.startsWith('/v1/admin/'))
    return ['session:admin', 'service:users:manage', 'service:all'];
  return [
    'session:a',
    'session:admin',
    'session:b',
    'token:a-user-scopes',
    'token:a-keys:read',
    'token:a-keys:write',
    'token:a-usage:read',
    'service:keys:manage',
  ];
}

export function operationsOf(doc: OpenApiDocument): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? [])
        .filter((p) => p.in === 'path' || p.in === 'query')
        .map((p) => ({ name: p.name, in: p.in as 'path' | 'query', schema: p.schema }));
      ops.push({
        method: method.toUpperCase(),
        path,
        params,
        body: op.requestBody?.content?.['application/json']?.schema,
        json: true,
        fitting: fittingActors(method, path),
      });
    }
  }
  // Routes the document hides, and routes that do not exist, are part of the surface too.
  const any = [...ACTORS];
  const wildcard: Param = { name: 'rest', in: 'path', schema: { type: 'string' } };
  ops.push(
    { method: 'GET', path: '/openapi.json', params: [], body: undefined, json: true, fitting: any },
    { method: 'GET', path: '/docs', params: [], body: undefined, json: false, fitting: any },
    { method: 'GET', path: '/docs/', params: [], body: undefined, json: false, fitting: any },
    { method: 'GET', path: '/', params: [], body: undefined, json: false, fitting: any },
    {
      method: 'GET',
      path: '/{rest}',
      params: [wildcard],
      body: undefined,
      json: false,
      fitting: any,
    },
    {
      method: 'GET',
      path: '/assets/{rest}',
      params: [wildcard],
      body: undefined,
      json: false,
      fitting: any,
    },
    {
      method: 'PUT',
      path: '/v1/keys/{rest}',
      params: [wildcard],
      body: { type: 'object' },
      json: true,
      fitting: any,
    },
    {
      method: 'DELETE',
      path: '/v1/{rest}',
      params: [wildcard],
      body: undefined,
      json: true,
      fitting: any,
    },
    {
      method: 'POST',
      path: '/v1/{rest}',
      params: [wildcard],
      body: { type: 'object' },
      json: true,
      fitting: any,
    },
    { method: 'OPTIONS', path: '/v1/keys', params: [], body: undefined, json: true, fitting: any },
    { method: 'HEAD', path: '/v1/keys', params: [], body: undefined, json: false, fitting: any },
  );
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Pools: ids, keys and cursors the app handed out, referenced by index until the request is sent

const POOLS = [
  'ownKey',
  'foreignKey',
  'apiKey',
  'token',
  'user',
  'verification',
  'cursor',
] as const;
type Pool = (typeof POOLS)[number];
const POOL_CAP = 200;

/** A placeholder the generator emits; replaced by a pool entry when the request is sent. */
// Made of characters that survive percent-encoding and JSON unchanged.
const poolRef = (pool: Pool) => fc.nat().map((i) => `~~${pool}.${i}~~`);
const POOL_REF = /~~(\w+)\.(\d+)~~/g;

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
    case 'cursor':
      return poolRef('cursor');
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

// ---------------------------------------------------------------------------------------------
// Requests

type BodySpec =
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

function queryValue(param: Param): fc.Arbitrary<string> {
  const valid = validValue(param.schema, { resolve: () => ({}), hints }, param.name).map((v) =>
    typeof v === 'string' ? v : JSON.stringify(v),
  );
  return fc.oneof(
    { arbitrary: valid, weight: 5 },
    { arbitrary: anyString, weight: 3 },
    { arbitrary: anyNumber.map(String), weight: 1 },
    {
      arbitrary: fc.constantFrom(
        '1e300',
        '1e400',
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
}

function queryFor(op: Operation): fc.Arbitrary<[string, string][]> {
  const declared = op.params.filter((p) => p.in === 'query');
  const parts = declared.map((p) =>
    fc.option(
      // Sometimes the same parameter twice, which a querystring parser turns into an array.
      fc
        .array(queryValue(p), { minLength: 1, maxLength: 2 })
        .map((values) => values.map((v): [string, string] => [p.name, v])),
      { freq: 1 },
    ),
  );
  const extra = fc.array(
    fc.tuple(
      fc.oneof(anyString, fc.constantFrom('__proto__', 'constructor', 'limit[]', 'a[b]')),
      anyString,
    ),
    { maxLength: 2 },
  );
  return fc
    .tuple(fc.tuple(...parts), fc.option(extra, { freq: 6 }))
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

// ---------------------------------------------------------------------------------------------
// Running

export interface RawFinding {
  kind: '5xx' | 'error-shape' | 'error-log' | 'hang' | 'inject-threw' | 'unhandled' | 'not-ready';
  db: string;
  route: string;
  status: number | null;
  /** The server-side error (from the log line of a 5xx), or what was wrong with the answer. */
  error: string;
  request: SentRequest | null;
}

export interface Finding extends RawFinding {
  count: number;
  /** The KNOWN_UNTIL_SEC_KEYS_MERGE entry it matched, if any. */
  known: string | null;
}

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

export interface FuzzReport {
  db: string;
  seed: number;
  requests: number;
  /** route -> status class ('2xx' …) -> count */
  byRoute: Record<string, Record<string, number>>;
  byStatus: Record<string, number>;
  findings: Finding[];
}

const SECRET_SHAPED = /(sk_(?:live|test)_|kw[ms]_)[0-9a-f]{36}([0-9a-f]{4})/g;
/** Session ids and CSRF tokens: 43 characters of base64url. */
const SESSION_SHAPED = /(?<![\w-])([\w-]{4})[\w-]{39}(?![\w-])/g;
/** Shortens a value for a report, masking every secret the fixture issued (before cutting it). */
const clip = (s: string, n: number) => {
  const masked = s.replace(SECRET_SHAPED, '$1…$2');
  return masked.length > n ? `${masked.slice(0, n)}…(${s.length} chars)` : masked;
};

export function describeRequest(r: SentRequest): string {
  const headers = Object.entries(r.headers)
    .map(([k, v]) => {
      const value = k === 'cookie' || k === 'x-csrf-token' ? v.replace(SESSION_SHAPED, '$1…') : v;
      return `${k}: ${JSON.stringify(clip(value, 80))}`;
    })
    .join('; ');
  return `${r.method} ${clip(r.url, 200)} [${headers}]${r.body === null ? '' : ` body ${JSON.stringify(clip(r.body, 200))}`}`;
}

interface Credentials {
  sessions: Record<
    'a' | 'b' | 'admin',
    { userId: string; cookie: string; csrf: string; sessionId: string }
  >;
  tokens: Record<string, { secret: string; ownerId: string }>;
  users: { id: string; email: string; plan: string; passwordHash: string }[];
}

class Fixture {
  readonly pools: Record<Pool, string[]> = {
    ownKey: [],
    foreignKey: [],
    apiKey: [],
    token: [],
    user: [],
    verification: [],
    cursor: [],
  };
  creds!: Credentials;
  readonly h: Harness;

  constructor(h: Harness) {
    this.h = h;
  }

  async setUp(): Promise<void> {
    const { services } = this.h;
    const db = services.store.db;
    const users: Credentials['users'] = [];
    const sessions = {} as Credentials['sessions'];
    for (const [who, role, plan] of [
      ['a', 'user', 'enterprise'],
      ['b', 'user', 'free'],
      ['admin', 'admin', 'enterprise'],
    ] as const) {
      const email = uniqueEmail(`fuzz-${who}`);
      const user = await services.accounts.createUser(CLI_ACTOR, {
        email,
        password: FIXTURE_PASSWORD,
        role,
        plan,
      });
      const row = await db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      users.push({ id: user.id, email, plan, passwordHash: row.password_hash });
      sessions[who] = { userId: user.id, ...(await this.newSession(user.id)) };
      this.pools.user.push(user.id);
    }
    const tokens: Credentials['tokens'] = {};
    for (const [name, scopes] of Object.entries(TOKEN_SCOPES)) {
      const owner = name.startsWith('service:') ? sessions.admin.userId : sessions.a.userId;
      tokens[name] = { secret: await this.mintToken(owner, scopes), ownerId: owner };
    }
    this.creds = { sessions, tokens, users };
    for (const body of [
      { name: 'plain' },
      { name: 'credits', credits: { remaining: 5, refill: { amount: 5, interval: 'daily' } } },
      { name: 'usage billing', billing: 'usage', credits: { remaining: 1000 } },
      { name: 'allowlist', ip_allowlist: ['10.0.0.0/8', '::1'], permissions: ['documents:read'] },
      { name: 'limited', limits: { rate: [{ limit: 3, window: '1m' }], daily: { requests: 10 } } },
      { name: 'test env', environment: 'test', metadata: { team: 'fuzz' } },
    ]) {
      await this.createKey('a', body);
    }
    await this.createKey('b', { name: 'foreign' });
    await this.createKey('b', { name: 'foreign 2' });
  }

  private async newSession(userId: string) {
    const s = await this.h.services.sessions.create(
      this.h.services.store.db,
      userId,
      '127.0.0.1',
      'fuzz',
    );
    return { cookie: `keyward_session=${s.sessionId}`, csrf: s.csrfToken, sessionId: s.sessionId };
  }

  private async mintToken(ownerId: string, scopes: Scope[]): Promise<string> {
    const { token, secret } = await this.h.services.tokens.create(CLI_ACTOR, {
      name: 'fuzz',
      scopes,
      ownerId,
    });
    this.pools.token.push(token.id);
    return secret;
  }

  async createKey(who: 'a' | 'b', body: Record<string, unknown>): Promise<void> {
    const s = this.creds.sessions[who];
    const response = await this.h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
      payload: body,
    });
    if (response.statusCode !== 201)
      throw new Error(`fixture key: ${response.statusCode} ${response.body}`);
    const json = response.json() as { id: string; key: string };
    this.add(who === 'a' ? 'ownKey' : 'foreignKey', json.id);
    this.add('apiKey', json.key);
  }

  add(pool: Pool, value: string): void {
    const list = this.pools[pool];
    if (list.includes(value)) return;
    if (list.length >= POOL_CAP) list.splice(list.length >>> 1, 1);
    list.push(value);
  }

  forget(id: string): void {
    for (const list of Object.values(this.pools)) {
      const at = list.indexOf(id);
      if (at >= 0) list.splice(at, 1);
    }
  }

  /** Picks pool entry `i`; recent entries (the end of the list) twice as often as old ones. */
  pick(pool: string, i: number): string {
    if (pool === 'email') return this.creds.users[0]?.email ?? 'nobody@example.com';
    const list = this.pools[pool as Pool] ?? [];
    if (list.length === 0) return `${pool}_none`;
    return i % 2 === 0
      ? (list[list.length - 1 - ((i >>> 1) % Math.min(list.length, 4))] as string)
      : (list[i % list.length] as string);
  }

  resolve(text: string): string {
    return text.includes('~~')
      ? text.replace(POOL_REF, (_, pool: string, i: string) => this.pick(pool, Number(i)))
      : text;
  }

  /** Learns the ids, keys and cursors an answer hands out, so later requests can use them. */
  harvest(value: unknown, actorOwnsA: boolean, depth = 0): void {
    if (depth > 4 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const v of value.slice(0, 20)) this.harvest(v, actorOwnsA, depth + 1);
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string') {
        if (/^key_[a-z2-7]{24}$/.test(v)) this.add(actorOwnsA ? 'ownKey' : 'foreignKey', v);
        else if (/^tok_[a-z2-7]{24}$/.test(v)) this.add('token', v);
        else if (/^usr_[a-z2-7]{24}$/.test(v)) this.add('user', v);
        else if (/^ver_[a-z2-7]{24}$/.test(v)) this.add('verification', v);
        else if (k === 'key' && /^sk_(live|test)_[0-9a-f]{40}$/.test(v)) this.add('apiKey', v);
      }
      if (k === 'next_cursor' && v !== null) this.add('cursor', String(v));
      if (typeof v === 'object') this.harvest(v, actorOwnsA, depth + 1);
    }
  }

  /**
   * Undoes what the fuzzer did to its own credentials (logout, password change, account disabled,
   * token deleted), so that later requests still get past authentication.
   */
  async heal(): Promise<void> {
    const { services } = this.h;
    const db = services.store.db;
    for (const u of this.creds.users) {
      const row = await db
        .selectFrom('users')
        .select(['disabled', 'plan', 'password_hash'])
        .where('id', '=', u.id)
        .executeTakeFirstOrThrow();
      if (row.disabled || row.plan !== u.plan)
        await services.accounts.update(CLI_ACTOR, u.id, { disabled: false, plan: u.plan });
      if (row.password_hash !== u.passwordHash)
        await db
          .updateTable('users')
          .set({ password_hash: u.passwordHash })
          .where('id', '=', u.id)
          .execute();
    }
    for (const s of Object.values(this.creds.sessions)) {
      if ((await services.sessions.authenticate(s.sessionId)) === null)
        Object.assign(s, await this.newSession(s.userId));
    }
    for (const [name, t] of Object.entries(this.creds.tokens)) {
      const result = await services.tokens.authenticate(t.secret);
      if (!result.ok) t.secret = await this.mintToken(t.ownerId, TOKEN_SCOPES[name] as Scope[]);
    }
  }

  headersFor(actor: ActorName, method: string, apiKeyIndex: number): Record<string, string> {
    const write = method !== 'GET' && method !== 'HEAD';
    const session = (who: 'a' | 'b' | 'admin', csrf = true, origin?: string) => {
      const s = this.creds.sessions[who];
      return {
        cookie: s.cookie,
        ...(write && csrf && { 'x-csrf-token': s.csrf }),
        ...(origin !== undefined && { origin }),
      };
    };
    switch (actor) {
      case 'none':
        return {};
      case 'session:a':
        return session('a');
      case 'session:a-no-csrf':
        return session('a', false);
      case 'session:a-foreign-origin':
        return session('a', true, 'https://evil.example');
      case 'session:b':
        return session('b');
      case 'session:admin':
        return session('admin');
      case 'apikey:bearer':
        return { authorization: `Bearer ${this.pick('apiKey', apiKeyIndex)}` };
      case 'apikey:x-api-key':
        return { 'x-api-key': this.pick('apiKey', apiKeyIndex) };
      default:
        return { authorization: `Bearer ${this.creds.tokens[actor]?.secret ?? ''}` };
    }
  }
}

/** Routes whose success may end one of the fixture's credentials. */
const HEALS = /^(POST \/v1\/auth\/(logout|password)|PATCH \/v1\/admin\/users|DELETE \/v1\/tokens)/;

function buildRequest(
  fx: Fixture,
  op: Operation,
  spec: RequestSpec,
): SentRequest & { payload: string | Buffer | undefined; remoteAddress: string; actor: ActorName } {
  let i = 0;
  let url = op.path.replace(/\{[^}]+\}/g, () => fx.resolve(spec.path[i++] ?? ''));
  if (spec.query.length > 0)
    url += `?${spec.query.map(([k, v]) => `${encodeLoose(k)}=${encodeLoose(fx.resolve(v))}`).join('&')}`;
  const actors = spec.fitting ? op.fitting : ACTORS;
  const actor = actors[spec.actor % actors.length] as ActorName;
  const headers: Record<string, string> = fx.headersFor(actor, op.method, spec.actor);
  let payload: string | Buffer | undefined;
  let body: string | null = null;
  if (spec.body !== null) {
    if (spec.body.kind === 'bytes') {
      payload = Buffer.from(spec.body.bytes);
      body = payload.toString('latin1');
    } else {
      body = fx.resolve(spec.body.kind === 'json' ? toJsonText(spec.body.value) : spec.body.text);
      payload = body;
    }
    if (spec.body.contentType !== null) headers['content-type'] = spec.body.contentType;
  }
  for (const [name, value] of spec.headers) headers[name] = fx.resolve(value);
  return { method: op.method, url, headers, body, payload, remoteAddress: spec.ip, actor };
}

const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

function checkAnswer(op: Operation, response: LightMyRequestResponse): string | null {
  if (response.statusCode < 400 || !op.json || op.method === 'HEAD') return null;
  let body: { error?: { code?: unknown; message?: unknown } };
  try {
    body = response.json();
  } catch {
    return `error answer is not JSON: ${clip(response.body, 100)}`;
  }
  const code = body.error?.code;
  const message = body.error?.message;
  if (typeof code !== 'string' || !(code in ERROR_STATUS))
    return `error.code missing or not in the catalogue: ${clip(JSON.stringify(body).replace(/"message":".*$/, ''), 100)}`;
  if (typeof message !== 'string' || message.length === 0)
    return `error.message missing (code ${code})`;
  if (ERROR_STATUS[code as keyof typeof ERROR_STATUS] !== response.statusCode)
    return `status ${response.statusCode} does not match code ${code}`;
  return null;
}

/** The error message of the log line(s) at level error or above, secrets masked, numbers kept. */
function errorLines(logs: string[]): { reqId: string | undefined; message: string }[] {
  const out: { reqId: string | undefined; message: string }[] = [];
  for (const line of logs) {
    if (!/"level":(5|6)\d/.test(line)) continue;
    try {
      const entry = JSON.parse(line) as {
        reqId?: string;
        msg?: string;
        err?: { message?: string; code?: string; type?: string };
      };
      const err = entry.err;
      out.push({
        reqId: entry.reqId,
        message: clip(
          `${err?.type ?? ''} ${err?.code ?? ''} ${err?.message ?? entry.msg ?? ''}`.trim(),
          300,
        ),
      });
    } catch {
      out.push({ reqId: undefined, message: clip(line, 300) });
    }
  }
  return out;
}

const REQUEST_TIMEOUT_MS = 15_000;

export interface FuzzOptions {
  seed: number;
  runs: number;
  /** Extra configuration for the app (environment variable names). */
  env?: Record<string, string>;
  onProgress?(done: number, report: FuzzReport): void;
}

/** Fuzzes one fresh app over a fresh database of `kind` and reports what it saw. */
export async function fuzzDatabase(kind: DatabaseKind, options: FuzzOptions): Promise<FuzzReport> {
  const h = await createHarness(kind, options.env ?? {});
  const report: FuzzReport = {
    db: kind.name,
    seed: options.seed,
    requests: 0,
    byRoute: {},
    byStatus: {},
    findings: [],
  };
  const distinct = new Map<string, Finding>();
  const record = (raw: RawFinding) => {
    const known = KNOWN_UNTIL_SEC_KEYS_MERGE.find((k) => k.matches(raw))?.name ?? null;
    // Digits and quoted values vary between occurrences of one bug.
    // A malformed answer is usually one code path's fault whatever the route; a 5xx is per route.
    const where = raw.kind === 'error-shape' ? '' : raw.route;
    const signature = `${raw.kind} ${where} ${raw.status} ${raw.error
      .replace(/"[^"]*"|'[^']*'/g, '…')
      .replace(/\d+/g, '#')
      .slice(0, 100)}`;
    const seen = distinct.get(signature);
    if (seen !== undefined) seen.count += 1;
    else distinct.set(signature, { ...raw, count: 1, known });
  };
  const onUnhandled = (reason: unknown) =>
    record({
      kind: 'unhandled',
      db: kind.name,
      route: '-',
      status: null,
      error: clip(String((reason as Error)?.stack ?? reason), 400),
      request: null,
    });
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  try {
    const docResponse = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = docResponse.json() as OpenApiDocument;
    const ops = operationsOf(doc);
    const fx = new Fixture(h);
    await fx.setUp();
    h.logs.length = 0;
    const property = fc.asyncProperty(requestArbitrary(ops, doc), async (spec) => {
      const op = ops[spec.op] as Operation;
      const route = `${op.method} ${op.path}`;
      const sent = buildRequest(fx, op, spec);
      const { payload, remoteAddress, actor, ...request } = sent;
      let response: LightMyRequestResponse | undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        response = await Promise.race([
          h.app.inject({
            method: sent.method as 'GET',
            url: sent.url,
            headers: sent.headers,
            remoteAddress,
            ...(payload !== undefined && { payload }),
          }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)),
              REQUEST_TIMEOUT_MS,
            );
          }),
        ]);
      } catch (error) {
        const message = String((error as Error).message);
        record({
          kind: message.startsWith('no answer') ? 'hang' : 'inject-threw',
          db: kind.name,
          route,
          status: null,
          error: clip(message, 300),
          request,
        });
      } finally {
        clearTimeout(timer);
      }
      report.requests += 1;
      const logged = errorLines(h.logs);
      h.logs.length = 0;
      if (response !== undefined) {
        const status = response.statusCode;
        const cls = statusClass(status);
        const perRoute = report.byRoute[route] ?? {};
        report.byRoute[route] = perRoute;
        perRoute[cls] = (perRoute[cls] ?? 0) + 1;
        report.byStatus[status] = (report.byStatus[status] ?? 0) + 1;
        let requestId: string | undefined;
        if (status >= 500) {
          try {
            requestId = (response.json() as { error?: { request_id?: string } }).error?.request_id;
          } catch {}
          const line = logged.find((l) => l.reqId === requestId) ?? logged[0];
          record({
            kind: '5xx',
            db: kind.name,
            route,
            status,
            error: line?.message ?? clip(response.body, 200),
            request,
          });
        }
        const problem = checkAnswer(op, response);
        if (problem !== null)
          record({ kind: 'error-shape', db: kind.name, route, status, error: problem, request });
        for (const line of logged)
          if (status < 500 || line.reqId !== requestId)
            record({
              kind: 'error-log',
              db: kind.name,
              route,
              status,
              error: line.message,
              request,
            });
        if (status < 300 && route === 'DELETE /v1/keys/{id}')
          fx.forget(request.url.split('/')[3] ?? '');
        if (status < 300) {
          try {
            fx.harvest(response.json(), actor !== 'session:b');
          } catch {}
        }
        if ((status < 300 && HEALS.test(route)) || report.requests % 200 === 0) await fx.heal();
        if (report.requests % 250 === 0)
          await fx.createKey('a', { name: `fresh ${report.requests}` });
      }
      if (options.onProgress !== undefined && report.requests % 1000 === 0) {
        report.findings = [...distinct.values()];
        options.onProgress(report.requests, report);
      }
      return true;
    });
    const details = await fc.check(property, {
      seed: options.seed,
      numRuns: options.runs,
      endOnFailure: true,
    });
    // The property itself only throws when the fuzzer is broken (its checks record, not throw);
    // the counterexample is not printed as it can be thousands of levels deep.
    if (details.failed)
      throw new Error(
        `the fuzzer failed (seed ${options.seed}): ${String((details.errorInstance as Error)?.stack ?? details.errorInstance)}`,
      );
    for (const url of ['/healthz', '/readyz']) {
      const response = await h.app.inject({ method: 'GET', url });
      if (response.statusCode !== 200)
        record({
          kind: 'not-ready',
          db: kind.name,
          route: `GET ${url}`,
          status: response.statusCode,
          error: 'the app is not healthy after the run',
          request: null,
        });
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    await h.close();
  }
  report.findings = [...distinct.values()];
  return report;
}

/** Findings that must fail a run: everything not on the known list. */
export const newFindings = (report: FuzzReport) => report.findings.filter((f) => f.known === null);

export function formatReport(report: FuzzReport): string {
  const lines = [`${report.db}: ${report.requests} requests, seed ${report.seed}`];
  const total: Record<string, number> = {};
  for (const counts of Object.values(report.byRoute))
    for (const [cls, n] of Object.entries(counts)) total[cls] = (total[cls] ?? 0) + n;
  lines.push(
    `  status classes: ${Object.entries(total)
      .sort()
      .map(([cls, n]) => `${cls} ${n} (${((100 * n) / Math.max(report.requests, 1)).toFixed(1)} %)`)
      .join(', ')}`,
  );
  lines.push(
    `  statuses: ${Object.entries(report.byStatus)
      .map(([s, n]) => `${s}:${n}`)
      .join(' ')}`,
  );
  for (const [route, counts] of Object.entries(report.byRoute).sort())
    lines.push(
      `  ${route.padEnd(34)} ${['2xx', '3xx', '4xx', '5xx'].map((c) => `${c} ${String(counts[c] ?? 0).padStart(6)}`).join('  ')}`,
    );
  for (const f of report.findings)
    lines.push(
      `  ${f.known === null ? 'NEW' : `known (${f.known})`} ${f.kind} ×${f.count} ${f.route} → ${f.status ?? '-'}: ${f.error}\n      e.g. ${f.request === null ? '-' : describeRequest(f.request)}`,
    );
  return lines.join('\n');
}
