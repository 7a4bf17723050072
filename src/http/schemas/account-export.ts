import { Type } from 'typebox';
import { VERIFY_CODES } from '../../core/verify-codes.ts';
import {
  AUDIT_EXAMPLE,
  AuditEntryView,
  TOKEN_EXAMPLE,
  TokenView,
  USER_EXAMPLE,
  UserView,
} from './accounts.ts';
import { ref, Timestamp } from './common.ts';
import { KEY_EXAMPLE, KeyView } from './keys.ts';

export const AccountExport = Type.Object(
  {
    object: Type.Literal('account_export'),
    exported_at: Timestamp,
    account: ref(UserView),
    keys: Type.Array(ref(KeyView), {
      description: 'Every key of the account, revoked ones too; never the secret or its hash',
    }),
    tokens: Type.Array(ref(TokenView), {
      description: 'The management and service tokens, without their secrets or hashes',
    }),
    usage_daily: Type.Array(
      Type.Object({
        key_id: Type.String(),
        day: Type.String({ description: 'Calendar day in the deployment time zone, YYYY-MM-DD' }),
        outcome: Type.Enum(VERIFY_CODES.filter((c) => c !== 'NOT_FOUND')),
        requests: Type.Integer(),
        amount: Type.Number(),
      }),
      { description: 'Requests and amount per key, day and outcome, oldest first' },
    ),
    audit_log: Type.Array(ref(AuditEntryView), {
      description:
        'The account\'s audit log, newest first, as GET /v1/audit-log shows it to the account (what an administrator did has actor_type "administrator")',
    }),
  },
  {
    $id: 'AccountExport',
    description: 'Everything Keyward holds about an account, as JSON; no secret or hash',
    examples: [
      {
        object: 'account_export',
        exported_at: '2026-06-02T08:00:00.000Z',
        account: USER_EXAMPLE,
        keys: [KEY_EXAMPLE],
        tokens: [TOKEN_EXAMPLE],
        usage_daily: [
          {
            key_id: 'key_q3zt7ml2b4xkd6wv5yhc2njr',
            day: '2026-06-01',
            outcome: 'VALID',
            requests: 120,
            amount: 120,
          },
        ],
        audit_log: [AUDIT_EXAMPLE],
      },
    ],
  },
);
