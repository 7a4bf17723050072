import { Type } from 'typebox';
import { ALL_SCOPES } from '../../core/token.ts';
import { NullableTimestamp, Timestamp } from './common.ts';

export const UserView = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
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
    kind: Type.Union([Type.Literal('management'), Type.Literal('service')]),
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
  actor_id: Type.Union([Type.String(), Type.Null()]),
  owner_id: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target_type: Type.Union([Type.String(), Type.Null()]),
  target_id: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
});

export const PlanUsage = Type.Object({
  plan: Type.String(),
  keys_used: Type.Integer(),
  keys_limit: Type.Union([Type.Integer(), Type.Null()]),
});
