import { Type } from 'typebox';
import { EXPIRATION_PRESETS } from '../../core/expiration.ts';
import { Cursor, Nullable, NullableTimestamp, ref, Timestamp } from './common.ts';

const Window = Type.String({
  pattern: '^[1-9][0-9]{0,5}[smhd]$',
  description: 'Window such as 1s, 1m, 1h, 1d',
});
const Count = Type.Integer({ minimum: 0, maximum: 1e12 });

export const Limits = Type.Object(
  {
    rate: Type.Optional(
      Type.Array(
        Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 1e9 }), window: Window },
          { additionalProperties: false },
        ),
        { maxItems: 5 },
      ),
    ),
    daily: Type.Optional(
      Type.Object(
        { requests: Type.Optional(Count), amount: Type.Optional(Count) },
        { additionalProperties: false },
      ),
    ),
    monthly: Type.Optional(
      Type.Object(
        { requests: Type.Optional(Count), amount: Type.Optional(Count) },
        { additionalProperties: false },
      ),
    ),
    max_cost_per_request: Type.Optional(Count),
  },
  {
    additionalProperties: false,
    description: 'Rate limits, quotas and the largest cost one request may have',
  },
);

export const Credits = Type.Object(
  {
    remaining: Nullable(Count, { description: 'null = unlimited' }),
    refill: Type.Optional(
      Nullable(
        Type.Object(
          {
            amount: Type.Integer({ minimum: 1, maximum: 1e12 }),
            interval: Type.Enum(['daily', 'monthly']),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

const Environment = Type.String({
  pattern: '^[a-z]{2,12}$',
  description:
    "One of the deployment's ENVIRONMENTS (default live, test); GET /v1/auth/me lists them",
});
const Name = Type.String({
  minLength: 1,
  maxLength: 400,
  description: '1–100 characters after trimming',
});
const Permissions = Type.Array(Type.String({ minLength: 1, maxLength: 101 }), {
  maxItems: 100,
  description: 'resource:action strings; * wildcards',
});
const IpAllowlist = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  maxItems: 100,
  description: 'IPv4/IPv6 addresses and CIDR ranges; empty = any address',
});
const Resources = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100 });
const Metadata = Type.Record(Type.String(), Type.Unknown(), {
  description: 'Any JSON object up to 16 KB',
});
const Billing = Type.Enum(['per_request', 'usage']);

export const KEY_EXAMPLE = {
  object: 'api_key',
  id: 'key_q3zt7ml2b4xkd6wv5yhc2njr',
  owner_id: 'usr_h5d2pk7wz3mq4xvb6ty2lc7e',
  name: 'Production backend',
  environment: 'live',
  start: 'sk_live_3f9a',
  last4: 'c41e',
  masked: 'sk_live_3f9a…c41e',
  status: 'active',
  permissions: ['*'],
  ip_allowlist: [],
  allowed_resources: [],
  expires_at: null,
  enabled: true,
  revoked_at: null,
  created_at: '2026-06-01T12:00:00.000Z',
  updated_at: '2026-06-01T12:00:00.000Z',
  last_used_at: '2026-06-02T08:15:30.000Z',
  usage_count: 1234,
  limits: { rate: [{ limit: 60, window: '1m' }], monthly: { requests: 100000 } },
  credits: { remaining: null },
  billing: 'per_request',
  metadata: { customer: 'acme' },
  rotated_from: null,
  rotated_to: null,
};

const KeyFields = {
  object: Type.Literal('api_key'),
  id: Type.String(),
  owner_id: Type.String(),
  name: Type.String(),
  environment: Environment,
  start: Type.String({ description: 'The first characters of the key, safe to show' }),
  last4: Type.String(),
  masked: Type.String({ description: 'How to display the key: start…last4' }),
  status: Type.Enum(['active', 'revoked', 'expired', 'disabled']),
  permissions: Type.Array(Type.String()),
  ip_allowlist: Type.Array(Type.String()),
  allowed_resources: Type.Array(Type.String()),
  expires_at: NullableTimestamp,
  enabled: Type.Boolean(),
  revoked_at: NullableTimestamp,
  created_at: Timestamp,
  updated_at: Timestamp,
  last_used_at: NullableTimestamp,
  usage_count: Type.Integer(),
  limits: Limits,
  credits: Credits,
  billing: Billing,
  metadata: Metadata,
  rotated_from: Nullable(Type.String()),
  rotated_to: Nullable(Type.String()),
};

export const KeyView = Type.Object(KeyFields, {
  $id: 'ApiKey',
  description: 'An API key, without its secret',
  examples: [KEY_EXAMPLE],
});

/** ApiKey plus `key`, flat rather than an allOf, so the serializer has one object to write. */
export const CreatedKeyView = Type.Object(
  {
    ...KeyFields,
    key: Type.String({ description: 'The secret: shown in this answer only' }),
  },
  {
    $id: 'ApiKeyWithSecret',
    description: 'A new API key and its secret, which is never shown again',
    examples: [{ ...KEY_EXAMPLE, key: 'sk_live_3f9a8d0b6e2c4a1f9b7d5e3c1a0f8e6d4b2ac41e' }],
  },
);

export const ListedKeyView = Type.Object(
  {
    ...KeyFields,
    rate_limit_reset_at: NullableTimestamp,
  },
  {
    $id: 'ApiKeyListItem',
    description:
      'An API key as the list shows it: with `rate_limit_reset_at`, when all of its rate limits are full again (the time of the answer when none is in use), null when it has no rate rule',
    examples: [{ ...KEY_EXAMPLE, rate_limit_reset_at: '2026-06-02T08:15:42.000Z' }],
  },
);

export const KeyList = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(ref(ListedKeyView)),
    has_more: Type.Boolean(),
    next_cursor: Nullable(Type.String(), { description: 'Pass as `cursor` for the next page' }),
    total_count: Type.Integer({
      minimum: 0,
      description: 'How many keys match the filters, on all pages together',
    }),
  },
  {
    $id: 'ApiKeyList',
    description: 'A page of API keys, newest first',
    examples: [
      {
        object: 'list',
        data: [{ ...KEY_EXAMPLE, rate_limit_reset_at: '2026-06-02T08:15:42.000Z' }],
        has_more: false,
        next_cursor: null,
        total_count: 1,
      },
    ],
  },
);

export const CreateKeyBody = Type.Object(
  {
    name: Name,
    environment: Type.Optional(Environment),
    expiration: Type.Optional(
      Type.Enum(EXPIRATION_PRESETS, {
        description: 'Preset lifetime; ignored when expires_at is given',
      }),
    ),
    expires_at: Type.Optional(Nullable(Timestamp)),
    permissions: Type.Optional(Permissions),
    permission_preset: Type.Optional(Type.Enum(['full', 'read_only'])),
    ip_allowlist: Type.Optional(IpAllowlist),
    allowed_resources: Type.Optional(Resources),
    limits: Type.Optional(Limits),
    credits: Type.Optional(Credits),
    billing: Type.Optional(Billing),
    metadata: Type.Optional(Metadata),
    owner_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'Admins and keys:manage tokens only',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        name: 'Production backend',
        environment: 'live',
        expiration: '90d',
        permissions: ['*'],
        limits: { rate: [{ limit: 60, window: '1m' }], monthly: { requests: 100000 } },
        metadata: { customer: 'acme' },
      },
    ],
  },
);

export const UpdateKeyBody = Type.Object(
  {
    name: Type.Optional(Name),
    permissions: Type.Optional(Permissions),
    ip_allowlist: Type.Optional(IpAllowlist),
    allowed_resources: Type.Optional(Resources),
    expires_at: Type.Optional(Nullable(Timestamp)),
    enabled: Type.Optional(Type.Boolean()),
    limits: Type.Optional(Limits),
    credits: Type.Optional(Credits),
    billing: Type.Optional(Billing),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    description: 'Only these fields may change; anything else is refused with 400',
    examples: [
      { name: 'Production backend (EU)', limits: { rate: [{ limit: 120, window: '1m' }] } },
    ],
  },
);

export const RotateBody = Type.Object(
  {
    grace_period: Type.Optional(
      Type.String({
        maxLength: 10,
        description: 'How long the old key keeps working: 0, 1h, 24h, 7d … up to 30d (default 0)',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ grace_period: '24h' }] },
);

export const ListKeysQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(['active', 'revoked', 'expired', 'disabled'])),
    environment: Type.Optional(Environment),
    search: Type.Optional(Type.String({ maxLength: 100 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Cursor),
    owner_id: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

/** At most this many keys per POST /v1/keys/import. */
export const MAX_IMPORT_ITEMS = 1000;

export const ImportKeyItem = Type.Object(
  {
    key: Type.Optional(
      Type.String({
        minLength: 16,
        maxLength: 256,
        pattern: '^[\\x21-\\x7e]+$',
        description:
          "The plaintext key: of this deployment's shape or one of ACCEPTED_KEY_SHAPES. Hashed at once, never stored or logged",
      }),
    ),
    hash: Type.Optional(
      Type.String({
        pattern: '^sha256:[0-9a-fA-F]{64}$',
        description:
          'Instead of key: `sha256:` + the hex SHA-256 of the full key (what Keyward stores)',
      }),
    ),
    start: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 32,
        description: 'With hash only: the first characters of the key, shown in lists',
      }),
    ),
    last4: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4,
        description: 'With hash only: its last 4 characters',
      }),
    ),
    owner_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    owner_email: Type.Optional(
      Type.String({
        minLength: 3,
        maxLength: 320,
        description:
          'Instead of owner_id: the account with this email, created when there is none (it cannot sign in until given a password)',
      }),
    ),
    name: Type.Optional(Name),
    environment: Type.Optional(Environment),
    expires_at: Type.Optional(
      Nullable(Timestamp, { description: 'May be past: the key imports as expired' }),
    ),
    enabled: Type.Optional(Type.Boolean()),
    created_at: Type.Optional(Timestamp),
    last_used_at: Type.Optional(Nullable(Timestamp)),
    permissions: Type.Optional(Permissions),
    ip_allowlist: Type.Optional(IpAllowlist),
    allowed_resources: Type.Optional(Resources),
    limits: Type.Optional(Limits),
    credits: Type.Optional(Credits),
    billing: Type.Optional(Billing),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    description:
      'One key to import: `key`, or `hash` with `start` and `last4`; `owner_id` or `owner_email`; any create field',
  },
);

export const ImportKeysBody = Type.Object(
  {
    keys: Type.Array(ImportKeyItem, { minItems: 1, maxItems: MAX_IMPORT_ITEMS }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        keys: [
          {
            key: 'sk-4mWq9ZkT2bXc7Lp0Rv3Hn8Jd5Fs1Ga6Ye2Ui9Oo4Pq7Wr3Et',
            owner_email: 'dev@example.com',
            name: 'Migrated from one-api',
            credits: { remaining: 500000 },
          },
          {
            hash: 'sha256:5b1c3f0e2a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b',
            start: 'sk_live_5b1c',
            last4: '9f2e',
            owner_id: 'usr_h5d2pk7wz3mq4xvb6ty2lc7e',
            name: 'Production backend',
            expires_at: '2027-01-01T00:00:00.000Z',
          },
        ],
      },
    ],
  },
);

export const ImportResult = Type.Object(
  {
    object: Type.Literal('import_result'),
    imported: Type.Integer({ description: 'Keys added by this call' }),
    skipped: Type.Integer({ description: 'Keys already present (same hash), left unchanged' }),
    owners_created: Type.Integer({ description: 'Accounts created for owner_email values' }),
    keys: Type.Array(
      Type.Object({
        index: Type.Integer({ description: 'Position of the item in `keys`' }),
        id: Type.String(),
        status: Type.Enum(['imported', 'skipped']),
      }),
    ),
  },
  {
    $id: 'ImportResult',
    description: 'What an import did, item by item',
    examples: [
      {
        object: 'import_result',
        imported: 1,
        skipped: 1,
        owners_created: 1,
        keys: [
          { index: 0, id: 'key_q3zt7ml2b4xkd6wv5yhc2njr', status: 'imported' },
          { index: 1, id: 'key_m4xq2vd7bk3tz6wl5hcy2pnr', status: 'skipped' },
        ],
      },
    ],
  },
);
