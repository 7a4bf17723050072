import { Type } from 'typebox';
import { parseDurationMs } from '../../core/duration.ts';
import { AppError } from '../../core/errors.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { errors, IdParams, noContent, ref } from '../schemas/common.ts';
import { SECURITY } from '../schemas/security.ts';
import {
  CreatedEndpointView,
  CreateEndpointBody,
  DeliveryDetail,
  DeliveryList,
  DeliveryParams,
  DeliveryView,
  EndpointList,
  EndpointView,
  ListDeliveriesQuery,
  RotateSecretBody,
  UpdateEndpointBody,
} from '../schemas/webhooks.ts';

/** The overlap of a secret roll when the request names none. */
const DEFAULT_OVERLAP = '24h';

/** Webhook endpoints (SPEC §6, docs/EVENTS.md): session with CSRF, or a token with webhooks:manage. */
export function webhookRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { webhooks } = services;
  const auth = authenticate(services, cookie, { scope: 'webhooks:manage' });
  const tags = ['Webhooks'];
  const security = {
    read: SECURITY.read('webhooks:manage'),
    write: SECURITY.write('webhooks:manage'),
  };

  app.post(
    '/v1/webhooks',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'createWebhook',
        summary: 'Create a webhook endpoint',
        security: security.write,
        description:
          'The URL is checked (http(s), no credentials, no loopback, private, link-local, CGNAT or metadata address, also after DNS resolution). The signing secret is in `secret` of this answer and is never shown again. `scope: "deployment"` (every event of the deployment) is for admins only. At most WEBHOOK_MAX_ENDPOINTS endpoints per account.',
        body: CreateEndpointBody,
        response: {
          201: ref(CreatedEndpointView, {
            description: 'The new endpoint, with its signing secret in `secret`',
          }),
          ...errors(400, 401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const created = await webhooks.create(request.actor, {
        url: b.url,
        events: b.events,
        ...(b.description !== undefined && { description: b.description }),
        ...(b.scope !== undefined && { scope: b.scope }),
      });
      reply.status(201);
      return { ...created.endpoint, secret: created.secret };
    },
  );

  app.get(
    '/v1/webhooks',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'listWebhooks',
        summary: 'List webhook endpoints',
        security: security.read,
        description:
          "The caller's account endpoints, newest first; for admins also the deployment-wide ones.",
        response: {
          200: ref(EndpointList, { description: 'The endpoints' }),
          ...errors(401, 403),
        },
      },
    },
    async (request) => ({ object: 'list' as const, data: await webhooks.list(request.actor) }),
  );

  app.get(
    '/v1/webhooks/:id',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'getWebhook',
        summary: 'Get a webhook endpoint',
        security: security.read,
        params: IdParams,
        response: {
          200: ref(EndpointView, { description: 'The endpoint' }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (request) => webhooks.get(request.actor, request.params.id),
  );

  app.patch(
    '/v1/webhooks/:id',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'updateWebhook',
        summary: 'Update a webhook endpoint',
        security: security.write,
        description:
          'URL (checked again), events, description, enabled. Enabling an endpoint again clears its failing state and disabled reason; events raised while it was disabled are not sent to it.',
        params: IdParams,
        body: UpdateEndpointBody,
        response: {
          200: ref(EndpointView, { description: 'The endpoint as updated' }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const b = request.body;
      return webhooks.update(request.actor, request.params.id, {
        ...(b.url !== undefined && { url: b.url }),
        ...(b.events !== undefined && { events: b.events }),
        ...(b.description !== undefined && { description: b.description }),
        ...(b.enabled !== undefined && { enabled: b.enabled }),
      });
    },
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'deleteWebhook',
        summary: 'Delete a webhook endpoint',
        security: security.write,
        description: 'The endpoint, its deliveries and their log are deleted.',
        params: IdParams,
        response: {
          204: noContent({ description: 'Deleted' }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      await webhooks.remove(request.actor, request.params.id);
      reply.status(204);
      return null;
    },
  );

  app.post(
    '/v1/webhooks/:id/rotate-secret',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'rotateWebhookSecret',
        summary: "Roll a webhook endpoint's signing secret",
        security: security.write,
        description:
          'A new secret, in `secret` of this answer only. During the overlap (default 24h, at most 7d) every delivery carries two signatures, one per secret, so the receiver can switch at its pace.',
        params: IdParams,
        body: Type.Optional(RotateSecretBody),
        response: {
          200: ref(CreatedEndpointView, {
            description: 'The endpoint, with its new signing secret in `secret`',
          }),
          ...errors(400, 401, 403, 404, 503),
        },
      },
    },
    async (request) => {
      const overlap = request.body?.overlap ?? DEFAULT_OVERLAP;
      const overlapMs = parseDurationMs(overlap);
      if (overlapMs === null)
        throw new AppError('validation_error', 'overlap must be a duration such as 1h or 24h');
      const rotated = await webhooks.rotateSecret(request.actor, request.params.id, overlapMs);
      return { ...rotated.endpoint, secret: rotated.secret };
    },
  );

  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'listWebhookDeliveries',
        summary: "List an endpoint's deliveries",
        security: security.read,
        description:
          'Newest first, with status, attempts, the last status, error, response excerpt and duration, and the next attempt. At most 100 a page.',
        params: IdParams,
        querystring: ListDeliveriesQuery,
        response: {
          200: ref(DeliveryList, { description: 'A page of deliveries' }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await webhooks.listDeliveries(request.actor, request.params.id, {
        ...(q.status !== undefined && { status: q.status }),
        ...(q.cursor !== undefined && { cursor: q.cursor }),
        limit: q.limit ?? 20,
      });
      return {
        object: 'list' as const,
        data: page.deliveries,
        has_more: page.nextCursor !== null,
        next_cursor: page.nextCursor,
      };
    },
  );

  app.get(
    '/v1/webhooks/:id/deliveries/:delivery_id',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'getWebhookDelivery',
        summary: 'Get a delivery with its attempts',
        security: security.read,
        description:
          'Every attempt: the request headers sent (with the signature, never the secret), the status, the first 1 KB of the answer, the duration, the error and the next attempt.',
        params: DeliveryParams,
        response: {
          200: ref(DeliveryDetail, { description: 'The delivery and its attempt log' }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (request) => {
      const found = await webhooks.getDelivery(
        request.actor,
        request.params.id,
        request.params.delivery_id,
      );
      return { ...found.delivery, attempt_log: found.attempts };
    },
  );

  app.post(
    '/v1/webhooks/:id/deliveries/:delivery_id/retry',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'retryWebhookDelivery',
        summary: 'Retry a delivery now',
        security: security.write,
        description:
          'A pending or dead delivery gets an attempt at once, with the same `webhook-id`. A dead one that fails again stays dead; a pending one keeps its retry schedule.',
        params: DeliveryParams,
        response: {
          202: ref(DeliveryView, { description: 'The delivery, due now' }),
          ...errors(401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const delivery = await webhooks.retry(
        request.actor,
        request.params.id,
        request.params.delivery_id,
      );
      reply.status(202);
      return delivery;
    },
  );

  app.post(
    '/v1/webhooks/:id/test',
    {
      preHandler: auth,
      schema: {
        tags,
        operationId: 'testWebhook',
        summary: 'Send a test event',
        security: security.write,
        description:
          'A `webhook.test` event to this endpoint only, signed and delivered (with retries) like any other; follow it in the deliveries.',
        params: IdParams,
        response: {
          202: ref(DeliveryView, { description: 'The test delivery, due now' }),
          ...errors(401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const delivery = await webhooks.sendTest(request.actor, request.params.id);
      reply.status(202);
      return delivery;
    },
  );
}
