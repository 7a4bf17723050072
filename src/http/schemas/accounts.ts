import { Type } from 'typebox';
import { ALL_SCOPES } from '../../core/token.ts';
import { Nullable, NullableTimestamp, Timestamp } from './common.ts';

export const UserView = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    role: Type.Enum(['user', 'admin']),
    plan: Type.String(),
    disabled: Type.Boolean(),
    created_at: Timestamp,
  },
  { $id: 'User' },
);

export const SessionAnswer = Type.Object({
  user: UserView,
  csrf_token: Type.String({
    description: 'Send as X-CSRF-Token on every cookie-authenticated write',
  }),
});

export const Credentials = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const PasswordChange = Type.Object(
  {
    current_password: Type.String({ minLength: 1, maxLength: 1024 }),
    new_password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const Scope = Type.Enum(ALL_SCOPES);

export const TokenView = Type.Object(
  {
    object: Type.Literal('token'),
    id: Type.String(),
    name: Type.String(),
    kind: Type.Enum(['management', 'service']),
    masked: Type.String(),
    scopes: Type.Array(Scope),
    created_at: Timestamp,
    expires_at: NullableTimestamp,
    last_used_at: NullableTimestamp,
  },
  { $id: 'Token' },
);

export const CreatedTokenView = Type.Intersect([
  TokenView,
  Type.Object({ token: Type.String({ description: 'The secret: shown in this answer only' }) }),
]);

export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scopes: Type.Array(Scope, { minItems: 1, maxItems: 6 }),
    expires_in: Type.Optional(
      Type.String({
        maxLength: 10,
        description: 'Lifetime such as 30d or 12h; absent = no expiry',
      }),
    ),
  },
  { additionalProperties: false },
);

export const AuditEntryView = Type.Object({
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
});

export const PlanUsage = Type.Object({
  plan: Type.String(),
  keys_used: Type.Integer(),
  keys_limit: Nullable(Type.Integer()),
});
