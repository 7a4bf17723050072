import type { TSchema } from 'typebox';
import { AccountExport } from './account-export.ts';
import {
  AuditEntryView,
  AuditLog,
  CreatedTokenView,
  CsrfTokenAnswer,
  CurrentUser,
  PlanList,
  SessionAnswer,
  TokenList,
  TokenView,
  UserList,
  UserView,
} from './accounts.ts';
import { ErrorBody, errorResponse } from './common.ts';
import { LeakLabels, NotificationSettingsView } from './events.ts';
import { Liveness, Readiness, Unavailable } from './health.ts';
import { CreatedKeyView, ImportResult, KeyList, KeyView, ListedKeyView } from './keys.ts';
import {
  AcceptedView,
  AuthOptionsView,
  CreatedInvitationView,
  InvitationList,
  InvitationView,
} from './recovery.ts';
import { KeyInfo, RequestLog, Usage, UsageSeries } from './usage.ts';
import { Settlement, VerificationView } from './verify.ts';
import {
  CreatedEndpointView,
  DeliveryDetail,
  DeliveryList,
  DeliveryView,
  EndpointList,
  EndpointView,
} from './webhooks.ts';

/**
 * The named schemas of the API: app.ts adds each with app.addSchema, routes reference them with
 * ref(), and the OpenAPI document lists them under components.schemas by their $id.
 */
export const COMPONENT_SCHEMAS: readonly TSchema[] = [
  ErrorBody,
  KeyView,
  CreatedKeyView,
  ListedKeyView,
  KeyList,
  ImportResult,
  KeyInfo,
  Usage,
  UsageSeries,
  RequestLog,
  VerificationView,
  Settlement,
  UserView,
  SessionAnswer,
  CurrentUser,
  CsrfTokenAnswer,
  UserList,
  PlanList,
  TokenView,
  CreatedTokenView,
  TokenList,
  AuditEntryView,
  AuditLog,
  AuthOptionsView,
  AcceptedView,
  InvitationView,
  CreatedInvitationView,
  InvitationList,
  AccountExport,
  Liveness,
  Readiness,
  Unavailable,
  NotificationSettingsView,
  LeakLabels,
  EndpointView,
  CreatedEndpointView,
  EndpointList,
  DeliveryView,
  DeliveryList,
  DeliveryDetail,
];

/** @fastify/swagger names a component after its $id (its default is def-0, def-1 …). */
export function componentName(
  schema: { $id?: unknown },
  _base: unknown,
  _fragment: unknown,
  i: number,
) {
  return typeof schema.$id === 'string' ? schema.$id : `def-${i}`;
}

type ResponseEntry = { $ref?: string; examples?: unknown[]; [key: string]: unknown };

const BODY_ERRORS = {
  413: errorResponse(413),
  415: errorResponse(415),
} as unknown as Record<string, ResponseEntry>;

/**
 * @fastify/swagger's per-route transform: a response written `ref(Schema, {description,
 * headers, examples})` becomes an OpenAPI response whose JSON content is the component, with the
 * route's example (or the component's first) as the media type example. Only the document
 * changes; Fastify validates and serializes with the route schema as written.
 */
export function documentRoute({
  schema,
  url,
  openapiObject,
}: {
  schema: Record<string, unknown>;
  url: string;
  openapiObject: { components?: { schemas?: Record<string, { examples?: unknown[] }> } };
}) {
  const declared = schema?.response as Record<string, ResponseEntry> | undefined;
  if (declared === undefined) return { schema, url };
  // Fastify's body parser refuses these before the route runs, so routes do not declare them.
  const responses: Record<string, ResponseEntry> =
    schema.body === undefined ? declared : { ...BODY_ERRORS, ...declared };
  const documented: Record<string, unknown> = {};
  for (const [status, entry] of Object.entries(responses)) {
    if (typeof entry.$ref !== 'string') {
      documented[status] = entry;
      continue;
    }
    const { $ref, examples, ...doc } = entry;
    const example = examples?.[0] ?? openapiObject.components?.schemas?.[$ref]?.examples?.[0];
    documented[status] = {
      ...doc,
      content: {
        'application/json': { schema: { $ref }, ...(example !== undefined && { example }) },
      },
    };
  }
  return { schema: { ...schema, response: documented }, url };
}
