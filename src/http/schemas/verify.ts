import { Type } from 'typebox';
import { VERIFY_CODES } from '../../core/verify-codes.ts';
import { Nullable } from './common.ts';

export const VerifyBody = Type.Object(
  {
    key: Type.String({ maxLength: 200, description: 'The API key your caller presented' }),
    permission: Type.Optional(
      Type.String({ maxLength: 101, description: 'resource:action the key must hold' }),
    ),
    resource: Type.Optional(
      Type.String({ maxLength: 200, description: "Must be in the key's allowed_resources" }),
    ),
    cost: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1e12,
        description: 'Credits and quota amount this request uses (default 1)',
      }),
    ),
    ip: Type.Optional(
      Type.String({
        maxLength: 64,
        description: "The end client's IP address; needed when the key has an IP allowlist",
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        key: 'sk_live_3f9a8d0b6e2c4a1f9b7d5e3c1a0f8e6d4b2ac41e',
        permission: 'orders:read',
        ip: '203.0.113.7',
      },
    ],
  },
);

export const VerificationView = Type.Object(
  {
    valid: Type.Boolean(),
    code: Type.Enum(VERIFY_CODES, { description: 'VALID, or why the key may not be used' }),
    verification_id: Type.String({
      description: 'Quote it in POST /v1/usage to settle usage-based billing',
    }),
    key_id: Nullable(Type.String()),
    owner_id: Nullable(Type.String()),
    name: Nullable(Type.String()),
    environment: Nullable(Type.String()),
    permissions: Type.Array(Type.String(), { description: 'Empty unless valid' }),
    metadata: Type.Record(Type.String(), Type.Unknown(), { description: 'Empty unless valid' }),
    expires_at: Nullable(Type.String()),
    ratelimit: Nullable(
      Type.Object({
        limit: Type.Integer(),
        remaining: Type.Integer(),
        reset: Type.Integer({
          description: 'Epoch ms when the tightest rule is fully replenished',
        }),
      }),
    ),
    rate_limits: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String({ description: 'The policy name in the RateLimit headers' }),
          limit: Type.Integer(),
          remaining: Type.Integer(),
          window: Type.Integer({ description: 'Seconds' }),
          reset_after: Type.Integer({ description: 'Seconds until fully replenished' }),
        }),
        {
          description:
            'Every rate rule of the key (`ratelimit` is the tightest): what the RateLimit and RateLimit-Policy headers of a refusal carry',
        },
      ),
    ),
    credits: Nullable(Type.Object({ remaining: Nullable(Type.Integer()) })),
    owner_credits: Type.Optional(
      Nullable(Type.Object({ remaining: Type.Integer() }), {
        description:
          "The account's shared balance after this request, when the owner has limited credits (owner balances)",
      }),
    ),
    scope: Type.Optional(
      Type.Unsafe<'key' | 'owner' | null>({
        type: ['string', 'null'],
        enum: ['key', 'owner', null],
        description:
          "On a refusal: `owner` when the account's shared rate limit, quota or credits refused (owner balances), `key` for the key's own; null when valid",
      }),
    ),
    retry_after: Nullable(
      Type.Integer({ description: 'Seconds, for RATE_LIMITED and QUOTA_EXCEEDED' }),
    ),
  },
  {
    $id: 'Verification',
    description: 'Whether the key may be used, and what the caller needs to know about it',
    examples: [
      {
        valid: true,
        code: 'VALID',
        verification_id: 'ver_8c1f6a0d3e9b2c741k',
        key_id: 'key_q3zt7ml2b4xkd6wv5yhc2njr',
        owner_id: 'usr_h5d2pk7wz3mq4xvb6ty2lc7e',
        name: 'Production backend',
        environment: 'live',
        permissions: ['*'],
        metadata: { customer: 'acme' },
        expires_at: null,
        ratelimit: { limit: 60, remaining: 59, reset: 1780315260000 },
        rate_limits: [{ name: 'minute', limit: 60, remaining: 59, window: 60, reset_after: 1 }],
        credits: { remaining: null },
        owner_credits: null,
        scope: null,
        retry_after: null,
      },
    ],
  },
);

export const SettleBody = Type.Object(
  {
    verification_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    key_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    amount: Type.Integer({ minimum: 0, maximum: 1e12 }),
  },
  {
    additionalProperties: false,
    examples: [{ verification_id: 'ver_8c1f6a0d3e9b2c741k', amount: 7 }],
  },
);

export const Settlement = Type.Object(
  {
    key_id: Type.String(),
    reserved: Type.Integer({ description: 'What the verification reserved (its cost)' }),
    amount: Type.Integer(),
    adjusted: Type.Integer({
      description: 'Credits moved: negative = charged, positive = refunded',
    }),
    credits: Type.Object({ remaining: Nullable(Type.Integer()) }),
    owner_credits: Type.Optional(
      Nullable(Type.Object({ remaining: Type.Integer() }), {
        description:
          "The account's shared balance afterwards, when the settlement moved it (owner balances)",
      }),
    ),
  },
  {
    $id: 'Settlement',
    examples: [
      {
        key_id: 'key_q3zt7ml2b4xkd6wv5yhc2njr',
        reserved: 10,
        amount: 7,
        adjusted: 3,
        credits: { remaining: 993 },
        owner_credits: null,
      },
    ],
  },
);
