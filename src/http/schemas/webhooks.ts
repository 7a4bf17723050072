import { Type } from 'typebox';
import { SUBSCRIBABLE } from '../../webhooks/service.ts';
import { MAX_URL_LENGTH } from '../../webhooks/ssrf.ts';
import { Cursor, Nullable, NullableTimestamp, ref, Timestamp } from './common.ts';

const ENDPOINT_EXAMPLE = {
  object: 'webhook_endpoint',
  id: 'whk_3kq7m2x9v4b8n6c5d1f0g2h7',
  scope: 'account',
  owner_id: 'usr_8f2k4m6p9q1r3s5t7v0w2x4z',
  url: 'https://hooks.example.com/keyward',
  description: 'Billing service',
  events: ['key.created', 'key.revoked', 'key.leaked'],
  enabled: true,
  disabled_reason: null,
  failing_since: null,
  previous_secret_expires_at: null,
  created_at: '2026-06-01T12:00:00.000Z',
  updated_at: '2026-06-01T12:00:00.000Z',
};

const SECRET_EXAMPLE = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const EventName = Type.Enum([...SUBSCRIBABLE], {
  description: 'An event type (docs/EVENTS.md), or `*` for every event',
});
const EventList = Type.Array(EventName, { minItems: 1, maxItems: 20, uniqueItems: true });
const Url = Type.String({
  minLength: 1,
  maxLength: MAX_URL_LENGTH,
  description:
    'http(s) URL, without credentials; loopback, private, link-local, CGNAT and metadata addresses are refused (also when the name resolves to one) unless WEBHOOK_ALLOW_PRIVATE=true',
});
const Description = Type.String({ maxLength: 500 });

const EndpointFields = {
  object: Type.Literal('webhook_endpoint'),
  id: Type.String(),
  scope: Type.Enum(['account', 'deployment'], {
    description: "account: the owner's keys' events; deployment: every event (admins only)",
  }),
  owner_id: Nullable(Type.String(), { description: 'null for a deployment-wide endpoint' }),
  url: Type.String(),
  description: Type.String(),
  events: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Nullable(Type.String(), {
    description: 'Why it is disabled: by hand, or automatically after failing for days',
  }),
  failing_since: Nullable(Timestamp, {
    description: 'Start of the current run of failed attempts; null when the last one succeeded',
  }),
  previous_secret_expires_at: Nullable(Timestamp, {
    description: 'While a rolled secret overlaps: until when the previous secret still signs',
  }),
  created_at: Timestamp,
  updated_at: Timestamp,
};

export const EndpointView = Type.Object(EndpointFields, {
  $id: 'WebhookEndpoint',
  description: 'A webhook endpoint, without its secret',
  examples: [ENDPOINT_EXAMPLE],
});

export const CreatedEndpointView = Type.Object(
  {
    ...EndpointFields,
    secret: Type.String({
      description: 'The signing secret (Standard Webhooks `whsec_…`): shown in this answer only',
    }),
  },
  {
    $id: 'WebhookEndpointWithSecret',
    description: 'A webhook endpoint and its signing secret, which is never shown again',
    examples: [{ ...ENDPOINT_EXAMPLE, secret: SECRET_EXAMPLE }],
  },
);

export const EndpointList = Type.Object(
  { object: Type.Literal('list'), data: Type.Array(ref(EndpointView)) },
  {
    $id: 'WebhookEndpointList',
    description:
      "The caller's endpoints, newest first; admins also see the deployment-wide endpoints",
    examples: [{ object: 'list', data: [ENDPOINT_EXAMPLE] }],
  },
);

export const CreateEndpointBody = Type.Object(
  {
    url: Url,
    events: EventList,
    description: Type.Optional(Description),
    scope: Type.Optional(
      Type.Enum(['account', 'deployment'], {
        description: 'deployment: every event of the deployment; admins only (default account)',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        url: 'https://hooks.example.com/keyward',
        events: ['key.created', 'key.revoked', 'key.leaked'],
        description: 'Billing service',
      },
    ],
  },
);

export const UpdateEndpointBody = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(EventList),
    description: Type.Optional(Description),
    enabled: Type.Optional(
      Type.Boolean({
        description: 'true enables it again and clears its failing state and disabled reason',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ enabled: true }] },
);

export const RotateSecretBody = Type.Object(
  {
    overlap: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,6}[smhd]$',
        description:
          'How long the previous secret keeps signing beside the new one: 0s to 7d (default 24h)',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ overlap: '24h' }] },
);

const DELIVERY_EXAMPLE = {
  object: 'webhook_delivery',
  id: 'whd_5n7p2q4r6s8t0v1w3x5y7z9a',
  endpoint_id: ENDPOINT_EXAMPLE.id,
  event_id: 'evt_2b4c6d8f0g1h3j5k7m9n1p3q',
  event_type: 'key.revoked',
  status: 'pending',
  attempts: 2,
  next_attempt_at: '2026-06-01T12:05:05.000Z',
  last_status: 503,
  last_error: 'the endpoint answered 503',
  last_response_excerpt: 'upstream unavailable',
  last_duration_ms: 41,
  created_at: '2026-06-01T12:00:00.000Z',
  updated_at: '2026-06-01T12:00:05.000Z',
  delivered_at: null,
};

const DeliveryFields = {
  object: Type.Literal('webhook_delivery'),
  id: Type.String(),
  endpoint_id: Type.String(),
  event_id: Type.String({
    description: 'The `webhook-id` header of every attempt, the same on each retry',
  }),
  event_type: Type.String(),
  status: Type.Enum(['pending', 'succeeded', 'dead'], {
    description: 'dead: every attempt of the retry schedule failed',
  }),
  attempts: Type.Integer({ description: 'Attempts made so far' }),
  next_attempt_at: Nullable(Timestamp, { description: 'When pending: the next attempt' }),
  last_status: Nullable(Type.Integer(), { description: 'HTTP status of the last attempt' }),
  last_error: Nullable(Type.String()),
  last_response_excerpt: Nullable(Type.String(), {
    description: 'The first 1 KB of the last answer',
  }),
  last_duration_ms: Nullable(Type.Integer()),
  created_at: Timestamp,
  updated_at: Timestamp,
  delivered_at: NullableTimestamp,
};

export const DeliveryView = Type.Object(DeliveryFields, {
  $id: 'WebhookDelivery',
  description: 'One event on its way to one endpoint',
  examples: [DELIVERY_EXAMPLE],
});

export const DeliveryList = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(ref(DeliveryView)),
    has_more: Type.Boolean(),
    next_cursor: Nullable(Type.String(), { description: 'Pass as `cursor` for the next page' }),
  },
  {
    $id: 'WebhookDeliveryList',
    description: "A page of an endpoint's deliveries, newest first",
    examples: [{ object: 'list', data: [DELIVERY_EXAMPLE], has_more: false, next_cursor: null }],
  },
);

const ATTEMPT_EXAMPLE = {
  attempted_at: '2026-06-01T12:00:05.000Z',
  url: ENDPOINT_EXAMPLE.url,
  request_headers: {
    'content-type': 'application/json',
    'user-agent': 'Keyward-Webhooks/0.1.0',
    'webhook-id': DELIVERY_EXAMPLE.event_id,
    'webhook-timestamp': '1780315205',
    'webhook-signature': 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
  },
  status: 503,
  response_excerpt: 'upstream unavailable',
  duration_ms: 41,
  error: 'the endpoint answered 503',
  next_attempt_at: '2026-06-01T12:05:05.000Z',
};

export const DeliveryDetail = Type.Object(
  {
    ...DeliveryFields,
    attempt_log: Type.Array(
      Type.Object({
        attempted_at: Timestamp,
        url: Type.String(),
        request_headers: Type.Record(Type.String(), Type.String(), {
          description: 'The headers sent (the signature, never the secret)',
        }),
        status: Nullable(Type.Integer()),
        response_excerpt: Nullable(Type.String()),
        duration_ms: Type.Integer(),
        error: Nullable(Type.String()),
        next_attempt_at: NullableTimestamp,
      }),
      { description: 'Every attempt, oldest first' },
    ),
  },
  {
    $id: 'WebhookDeliveryDetail',
    description: 'A delivery with the log of its attempts',
    examples: [{ ...DELIVERY_EXAMPLE, attempt_log: [ATTEMPT_EXAMPLE] }],
  },
);

export const ListDeliveriesQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(['pending', 'succeeded', 'dead'])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const DeliveryParams = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64 }),
    delivery_id: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
