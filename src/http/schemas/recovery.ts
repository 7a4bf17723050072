import { Type } from 'typebox';
import { SIGNUP_MODES } from '../../config.ts';
import { Nullable, NullableTimestamp, ref, Timestamp } from './common.ts';

const TOKEN_EXAMPLE = '5b0e3f9a1c7d2e8b4a6f0c3d9e1b7a5f2c8d4e0b6a3f9c1e7d5b2a8f4c0e6d3b';

/** The one-time token of a link: 64 hex digits (a malformed one is refused like an unknown one). */
const LinkToken = Type.String({
  minLength: 1,
  maxLength: 128,
  description: 'The token from the link (the part after /invite/ or /reset-password/)',
});

export const AuthOptionsView = Type.Object(
  {
    signup: Type.Enum([...SIGNUP_MODES], {
      description:
        'open: anyone may sign up; invite: only with an invitation link; closed: no sign-up at all',
    }),
    password_reset_by_email: Type.Boolean({
      description: 'Whether "Forgot password?" can mail a reset link (mail is configured)',
    }),
  },
  {
    $id: 'AuthOptions',
    description: 'What the sign-in page may offer',
    examples: [{ signup: 'invite', password_reset_by_email: true }],
  },
);

export const ForgotPasswordBody = Type.Object(
  { email: Type.String({ minLength: 3, maxLength: 320 }) },
  { additionalProperties: false, examples: [{ email: 'ada@example.com' }] },
);

export const AcceptedView = Type.Object(
  { message: Type.String() },
  {
    $id: 'Accepted',
    description: 'The request was taken; what happens next is not disclosed',
    examples: [
      {
        message:
          'If an account with this email exists, a link to reset its password is on its way.',
      },
    ],
  },
);

export const PasswordResetBody = Type.Object(
  {
    token: LinkToken,
    new_password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  {
    additionalProperties: false,
    examples: [{ token: TOKEN_EXAMPLE, new_password: 'a longer and newer passphrase' }],
  },
);

export const InvitationTokenBody = Type.Object(
  { token: LinkToken },
  { additionalProperties: false, examples: [{ token: TOKEN_EXAMPLE }] },
);

export const AcceptInvitationBody = Type.Object(
  {
    token: LinkToken,
    email: Type.Optional(
      Type.String({
        minLength: 3,
        maxLength: 320,
        description: 'Required when the invitation names no email; otherwise it must be that one',
      }),
    ),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  {
    additionalProperties: false,
    examples: [
      { token: TOKEN_EXAMPLE, email: 'ada@example.com', password: 'correct horse battery staple' },
    ],
  },
);

const INVITATION_EXAMPLE = {
  object: 'invitation',
  id: 'inv_q2m7xk4bz9cv3nd6wp5ty8hr',
  email: 'ada@example.com',
  role: 'user',
  plan: 'pro',
  status: 'pending',
  created_at: '2026-06-01T12:00:00.000Z',
  expires_at: '2026-06-08T12:00:00.000Z',
  accepted_at: null,
  accepted_user_id: null,
  revoked_at: null,
};

const InvitationFields = {
  object: Type.Literal('invitation'),
  id: Type.String(),
  email: Nullable(Type.String(), {
    description: 'The only email the account may be created with; null = the invitee chooses',
  }),
  role: Type.Enum(['user', 'admin']),
  plan: Type.String(),
  status: Type.Enum(['pending', 'accepted', 'revoked', 'expired']),
  created_at: Timestamp,
  expires_at: Timestamp,
  accepted_at: NullableTimestamp,
  accepted_user_id: Nullable(Type.String(), { description: 'The account it created' }),
  revoked_at: NullableTimestamp,
};

export const InvitationView = Type.Object(InvitationFields, {
  $id: 'Invitation',
  description: 'An invitation to create an account, without its link',
  examples: [INVITATION_EXAMPLE],
});

export const CreatedInvitationView = Type.Object(
  {
    ...InvitationFields,
    url: Type.String({
      description: 'The one-time link (PUBLIC_URL/invite/<token>): shown in this answer only',
    }),
    mailed: Type.Boolean({
      description: 'Whether the link was mailed to `email` (mail configured and accepted)',
    }),
  },
  {
    $id: 'InvitationWithLink',
    description: 'A new invitation and its link, which is never shown again',
    examples: [
      {
        ...INVITATION_EXAMPLE,
        url: `https://keys.example.com/invite/${TOKEN_EXAMPLE}`,
        mailed: true,
      },
    ],
  },
);

export const InvitationList = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(ref(InvitationView)),
    next_cursor: Nullable(Type.String(), { description: 'Pass as `cursor` for the next page' }),
  },
  {
    $id: 'InvitationList',
    description: 'Invitations, newest first',
    examples: [{ object: 'list', data: [INVITATION_EXAMPLE], next_cursor: null }],
  },
);

export const CreateInvitationBody = Type.Object(
  {
    email: Type.Optional(
      Type.String({
        minLength: 3,
        maxLength: 320,
        description: 'Fix the account to this email (and mail the link when mail is configured)',
      }),
    ),
    role: Type.Optional(Type.Enum(['user', 'admin'], { description: 'Default user' })),
    plan: Type.Optional(
      Type.String({ minLength: 1, maxLength: 32, description: 'Default DEFAULT_PLAN' }),
    ),
    expires_in: Type.Optional(
      Type.String({
        maxLength: 10,
        description: 'How long the link works: 1h to 30d, such as 48h or 14d (default 7d)',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ email: 'ada@example.com', plan: 'pro', expires_in: '7d' }],
  },
);
