import { Type } from 'typebox';
import { ALL_SCOPES } from '../../core/token.ts';
import { Nullable, NullableTimestamp, ref, Timestamp } from './common.ts';
import { Credits, Limits } from './keys.ts';

export const USER_EXAMPLE = {
  id: 'usr_h5d2pk7wz3mq4xvb6ty2lc7e',
  email: 'ada@example.com',
  role: 'user',
  plan: 'free',
  disabled: false,
  created_at: '2026-06-01T12:00:00.000Z',
  limits: { daily: { requests: 1000 } },
  credits: { remaining: 4200, refill: { amount: 5000, interval: 'monthly' } },
};

/** A key's rate rules and quotas (not max_cost_per_request), set for all of an account's keys. */
export const OwnerLimits = Type.Object(
  {
    rate: Limits.properties.rate,
    daily: Limits.properties.daily,
    monthly: Limits.properties.monthly,
  },
  {
    additionalProperties: false,
    description:
      "The account's own rate limits and quotas, shared by all its keys and checked after each key's own; `{}` = none",
  },
);

const OwnerCredits = Type.Object(Credits.properties, {
  additionalProperties: false,
  description:
    "The account's own credits, shared by all its keys and spent after each key's own; `remaining: null` = unlimited",
});
const CSRF_EXAMPLE = 'Xb3k9Qe1Zr7Tn2Lw5Vy8Pc4Hd6Jm0Sf';

export const UserView = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    role: Type.Enum(['user', 'admin']),
    plan: Type.String(),
    disabled: Type.Boolean(),
    created_at: Timestamp,
    limits: OwnerLimits,
    credits: OwnerCredits,
  },
  { $id: 'User', description: 'An account', examples: [USER_EXAMPLE] },
);

export const SessionAnswer = Type.Object(
  {
    user: ref(UserView),
    csrf_token: Type.String({
      description: 'Send as X-CSRF-Token on every cookie-authenticated write',
    }),
  },
  {
    $id: 'Session',
    description: 'The signed-in user; the session itself is in the Set-Cookie header',
    examples: [{ user: USER_EXAMPLE, csrf_token: CSRF_EXAMPLE }],
  },
);

export const Credentials = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  {
    additionalProperties: false,
    examples: [{ email: 'ada@example.com', password: 'correct horse battery staple' }],
  },
);

export const PasswordChange = Type.Object(
  {
    current_password: Type.String({ minLength: 1, maxLength: 1024 }),
    new_password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        current_password: 'correct horse battery staple',
        new_password: 'a longer and newer passphrase',
      },
    ],
  },
);

export const CsrfTokenAnswer = Type.Object(
  { csrf_token: Type.String({ description: "The new session's CSRF token" }) },
  { $id: 'CsrfToken', examples: [{ csrf_token: CSRF_EXAMPLE }] },
);

export const PlanUsage = Type.Object({
  plan: Type.String(),
  keys_used: Type.Integer(),
  keys_limit: Nullable(Type.Integer(), { description: 'null = no limit' }),
});

export const CurrentUser = Type.Object(
  {
    user: ref(UserView),
    csrf_token: Nullable(Type.String(), { description: 'null when a token is calling' }),
    ip: Type.String({ description: 'Your address as Keyward sees it' }),
    plan_usage: PlanUsage,
    environments: Type.Array(Type.String(), {
      description:
        "The deployment's ENVIRONMENTS, the default first: what a key's environment may be",
    }),
  },
  {
    $id: 'CurrentUser',
    description: 'Who is calling',
    examples: [
      {
        user: USER_EXAMPLE,
        csrf_token: CSRF_EXAMPLE,
        ip: '203.0.113.7',
        plan_usage: { plan: 'free', keys_used: 2, keys_limit: 5 },
        environments: ['live', 'test'],
      },
    ],
  },
);

export const UserList = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(ref(UserView)),
    next_cursor: Nullable(Type.String(), { description: 'Pass as `cursor` for the next page' }),
  },
  {
    $id: 'UserList',
    examples: [{ object: 'list', data: [USER_EXAMPLE], next_cursor: null }],
  },
);

export const PlanList = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(
      Type.Object({
        name: Type.String(),
        max_keys: Nullable(Type.Integer(), { description: 'null = no limit' }),
      }),
    ),
    default_plan: Type.String(),
  },
  {
    $id: 'PlanList',
    description: 'The plans configured in PLANS',
    examples: [
      {
        object: 'list',
        data: [
          { name: 'free', max_keys: 5 },
          { name: 'pro', max_keys: null },
        ],
        default_plan: 'free',
      },
    ],
  },
);

export const UserUpdateBody = Type.Object(
  {
    plan: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    disabled: Type.Optional(Type.Boolean()),
    limits: Type.Optional(OwnerLimits),
    credits: Type.Optional(OwnerCredits),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    examples: [
      {
        limits: { rate: [{ limit: 100, window: '1m' }], daily: { requests: 1000 } },
        credits: { remaining: 5000, refill: { amount: 5000, interval: 'monthly' } },
      },
    ],
  },
);

export const Scope = Type.Enum(ALL_SCOPES);

export const TOKEN_EXAMPLE = {
  object: 'token',
  id: 'tok_m4x7c2vq9kz3b6wd5th8rn2p',
  name: 'CI deploys',
  kind: 'management',
  masked: 'kwm_9c1e…77b0',
  scopes: ['keys:read', 'keys:write'],
  created_at: '2026-06-01T12:00:00.000Z',
  expires_at: '2026-07-01T12:00:00.000Z',
  last_used_at: null,
};

const TokenFields = {
  object: Type.Literal('token'),
  id: Type.String(),
  name: Type.String(),
  kind: Type.Enum(['management', 'service'], {
    description: 'service when any scope is keys:verify, keys:manage, users:manage or leaks:report',
  }),
  masked: Type.String(),
  scopes: Type.Array(Scope),
  created_at: Timestamp,
  expires_at: NullableTimestamp,
  last_used_at: NullableTimestamp,
};

export const TokenView = Type.Object(TokenFields, {
  $id: 'Token',
  description: 'A management (kwm_) or service (kws_) token, without its secret',
  examples: [TOKEN_EXAMPLE],
});

/** Token plus `token`, flat rather than an allOf, so the serializer has one object to write. */
export const CreatedTokenView = Type.Object(
  {
    ...TokenFields,
    token: Type.String({ description: 'The secret: shown in this answer only' }),
  },
  {
    $id: 'TokenWithSecret',
    description: 'A new token and its secret, which is never shown again',
    examples: [{ ...TOKEN_EXAMPLE, token: 'kwm_9c1e4b7a2d8f6e0c3b5a9d1f7e2c4b6a8d0f77b0' }],
  },
);

export const TokenList = Type.Object(
  { object: Type.Literal('list'), data: Type.Array(ref(TokenView)) },
  { $id: 'TokenList', examples: [{ object: 'list', data: [TOKEN_EXAMPLE] }] },
);

export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scopes: Type.Array(Scope, { minItems: 1, maxItems: 7 }),
    expires_in: Type.Optional(
      Type.String({
        maxLength: 10,
        description:
          'Lifetime: a key expiration preset (30d, 90d, 6m = six months, 1y, never) or seconds, hours, days or weeks such as 12h; minutes are refused as ambiguous; absent = no expiry',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ name: 'CI deploys', scopes: ['keys:read', 'keys:write'], expires_in: '30d' }],
  },
);

export const AUDIT_EXAMPLE = {
  id: 42,
  created_at: '2026-06-01T12:00:00.000Z',
  actor_type: 'user',
  actor_id: 'usr_h5d2pk7wz3mq4xvb6ty2lc7e',
  owner_id: 'usr_h5d2pk7wz3mq4xvb6ty2lc7e',
  action: 'key.created',
  target_type: 'api_key',
  target_id: 'key_q3zt7ml2b4xkd6wv5yhc2njr',
  ip: '203.0.113.7',
  details: { name: 'Production backend', environment: 'live' },
  actor_name: 'ada@example.com',
  target_name: 'Production backend',
  target_exists: true,
};

export const AuditEntryView = Type.Object(
  {
    id: Type.Integer(),
    created_at: Timestamp,
    actor_type: Type.String(),
    actor_id: Nullable(Type.String()),
    owner_id: Nullable(Type.String()),
    action: Type.String(),
    target_type: Nullable(Type.String()),
    target_id: Nullable(Type.String()),
    ip: Nullable(Type.String()),
    details: Type.Record(Type.String(), Type.Unknown()),
    actor_name: Nullable(Type.String(), {
      description:
        "The actor as a person knows it: a user's email or a token's name; null when hidden or unknown",
    }),
    target_name: Nullable(Type.String(), {
      description:
        "The target's name (a key's or token's name, an account's email), also after it was deleted, when the log recorded it",
    }),
    target_exists: Type.Boolean({
      description: 'Whether the target still exists (false for a deleted key or token)',
    }),
  },
  { $id: 'AuditEntry', examples: [AUDIT_EXAMPLE] },
);

export const AuditLog = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(ref(AuditEntryView)),
    next_cursor: Nullable(Type.Integer(), { description: 'Pass as `cursor` for the next page' }),
  },
  {
    $id: 'AuditLog',
    description: 'A page of audit entries, newest first',
    examples: [{ object: 'list', data: [AUDIT_EXAMPLE], next_cursor: null }],
  },
);
