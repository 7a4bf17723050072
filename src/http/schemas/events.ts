import { Type } from 'typebox';
import { MAILED_EVENT_TYPES } from '../../events/events.ts';
import { MAX_LEAK_ITEMS } from '../../leaks/leak-reports.ts';

const switches = Object.fromEntries(
  MAILED_EVENT_TYPES.map((kind) => [kind, Type.Boolean({ description: `Email about ${kind}` })]),
);

export const NotificationSettingsView = Type.Object(
  {
    mail_configured: Type.Boolean({
      description:
        'Whether this deployment can send mail (SMTP_URL and MAIL_FROM set); when false the switches are kept but nothing is sent',
    }),
    email: Type.Object(switches, {
      description: 'One switch per kind of mail; on unless switched off',
    }),
  },
  {
    $id: 'NotificationSettings',
    examples: [
      {
        mail_configured: true,
        email: { 'key.expiring': true, 'key.leaked': true, 'usage.threshold': false },
      },
    ],
  },
);

export const NotificationSettingsPatch = Type.Object(
  Object.fromEntries(MAILED_EVENT_TYPES.map((kind) => [kind, Type.Optional(Type.Boolean())])),
  {
    additionalProperties: false,
    minProperties: 1,
    examples: [{ 'usage.threshold': false }],
  },
);

const TOKEN_EXAMPLE = 'sk_live_0123456789abcdef0123456789abcdef01234567';

export const LeakReportBody = Type.Array(
  Type.Object(
    {
      token: Type.String({ minLength: 1, maxLength: 1024, description: 'The secret found' }),
      type: Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'The secret type the reporter matched, e.g. keyward_api_key',
      }),
      url: Type.Optional(
        Type.String({ maxLength: 4096, description: 'Where it was found (a commit, an issue…)' }),
      ),
      source: Type.Optional(
        Type.String({ maxLength: 200, description: 'What kind of place: content, commit, npm…' }),
      ),
    },
    { additionalProperties: true },
  ),
  {
    minItems: 1,
    maxItems: MAX_LEAK_ITEMS,
    examples: [
      [
        {
          token: TOKEN_EXAMPLE,
          type: 'keyward_api_key',
          url: 'https://github.com/octocat/hello-world/blob/12345600b9cbe38a219f39a9941c9319b600c002/config.js',
          source: 'content',
        },
      ],
    ],
  },
);

export const LeakLabels = Type.Array(
  Type.Object({
    token_raw: Type.String({ description: 'The token as reported' }),
    token_type: Type.String({ description: 'The type as reported' }),
    label: Type.Union([Type.Literal('true_positive'), Type.Literal('false_positive')], {
      description:
        'true_positive: a key this deployment issued (revoked now if it was live); false_positive: not one of ours',
    }),
  }),
  {
    $id: 'LeakLabels',
    description: "GitHub's secret-scanning feedback format: one label per reported token",
    examples: [
      [{ token_raw: TOKEN_EXAMPLE, token_type: 'keyward_api_key', label: 'true_positive' }],
    ],
  },
);
