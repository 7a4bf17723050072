import { Type } from 'typebox';
import { AppError, ImportRefusedError } from '../../core/errors.ts';
import { PERMISSION_PRESETS } from '../../core/key-settings.ts';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';
import { checkImportItems } from '../import-items.ts';
import { authenticate, type CookieSettings } from '../plugins/auth.ts';
import { itemChecker } from '../plugins/validation.ts';
import { iso, keyView, parseTime } from '../presenters.ts';
import { errors, IdParams, noContent, ref } from '../schemas/common.ts';
import {
  CreatedKeyView,
  CreateKeyBody,
  ImportKeysBody,
  ImportResult,
  KeyList,
  KeyView,
  ListKeysQuery,
  MAX_IMPORT_ITEMS,
  RotateBody,
  UpdateKeyBody,
} from '../schemas/keys.ts';
import { SECURITY } from '../schemas/security.ts';

/**
 * An import may carry 1,000 keys with up to 16 KB of metadata each. The body is read only after
 * the caller is authenticated (the route authenticates in onRequest), so only an admin or a
 * keys:manage token can send that much.
 */
const IMPORT_BODY_LIMIT = 20 * 1024 * 1024;

/** The import body as Fastify checks it: the items are checked one by one in the handler. */
const ImportEnvelope = Type.Object(
  {
    keys: Type.Array(Type.Object({}, { additionalProperties: true }), {
      minItems: 1,
      maxItems: MAX_IMPORT_ITEMS,
    }),
  },
  { additionalProperties: false },
);
const checkEnvelope = itemChecker(ImportEnvelope);

function time(text: string | null | undefined, field: string): number | null | undefined {
  if (text === undefined || text === null) return text;
  const ms = parseTime(text);
  if (ms === undefined)
    throw new AppError('validation_error', `${field} must be an RFC 3339 date-time`);
  return ms;
}

export function keyRoutes(app: App, services: Services, cookie: CookieSettings): void {
  const { keys, clock } = services;
  const read = authenticate(services, cookie, { scope: 'keys:read' });
  const write = authenticate(services, cookie, { scope: 'keys:write' });
  const tags = ['Keys'];
  const security = { read: SECURITY.read('keys:read'), write: SECURITY.write('keys:write') };

  app.get(
    '/v1/keys',
    {
      preHandler: read,
      schema: {
        tags,
        operationId: 'listKeys',
        summary: 'List API keys',
        security: security.read,
        description:
          'Newest first; filter by status and environment; search matches a name (any part, any case), a key id, or the start of a key as shown (`sk_live_efe4`). At most 100 a page; `total_count` counts the matches on all pages. Each key carries `rate_limit_reset_at`: when all of its rate limits are full again, null without a rate rule.',
        querystring: ListKeysQuery,
        response: {
          200: ref(KeyList, { description: 'A page of keys' }),
          ...errors(400, 401, 403),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await keys.list(request.actor, {
        ...(q.status !== undefined && { status: q.status }),
        ...(q.environment !== undefined && { environment: q.environment }),
        ...(q.search !== undefined && { search: q.search }),
        ...(q.cursor !== undefined && { cursor: q.cursor }),
        ...(q.owner_id !== undefined && { ownerId: q.owner_id }),
        limit: q.limit ?? 20,
      });
      const now = clock.now();
      const resets = await keys.rateLimitResets(page.keys);
      return {
        object: 'list' as const,
        data: page.keys.map((k, i) => ({
          ...keyView(k, now),
          rate_limit_reset_at: iso(resets[i] ?? null),
        })),
        has_more: page.nextCursor !== null,
        next_cursor: page.nextCursor,
        total_count: page.total,
      };
    },
  );

  app.post(
    '/v1/keys',
    {
      preHandler: write,
      schema: {
        tags,
        operationId: 'createKey',
        summary: 'Create an API key',
        security: security.write,
        description: 'The secret is in the `key` field of this answer and is never shown again.',
        body: CreateKeyBody,
        response: {
          201: ref(CreatedKeyView, { description: 'The new key, with its secret in `key`' }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      if (b.permissions !== undefined && b.permission_preset !== undefined) {
        throw new AppError(
          'validation_error',
          'send either permissions or permission_preset, not both',
        );
      }
      const expiresAt = time(b.expires_at, 'expires_at');
      const created = await keys.create(request.actor, {
        name: b.name,
        ...(b.environment !== undefined && { environment: b.environment }),
        ...(b.expiration !== undefined && { expiration: b.expiration }),
        ...(expiresAt !== undefined && { expiresAt }),
        ...(b.permission_preset !== undefined && {
          permissions: [...PERMISSION_PRESETS[b.permission_preset]],
        }),
        ...(b.permissions !== undefined && { permissions: b.permissions }),
        ...(b.ip_allowlist !== undefined && { ipAllowlist: b.ip_allowlist }),
        ...(b.allowed_resources !== undefined && { allowedResources: b.allowed_resources }),
        ...(b.limits !== undefined && { limits: b.limits }),
        ...(b.credits !== undefined && {
          credits: { remaining: b.credits.remaining, refill: b.credits.refill ?? null },
        }),
        ...(b.billing !== undefined && { billing: b.billing }),
        ...(b.metadata !== undefined && { metadata: b.metadata }),
        ...(b.owner_id !== undefined && { ownerId: b.owner_id }),
      });
      reply.status(201);
      return { ...keyView(created.key, clock.now()), key: created.secret };
    },
  );

  app.post(
    '/v1/keys/import',
    {
      onRequest: authenticate(services, cookie, { scope: 'keys:manage' }),
      bodyLimit: IMPORT_BODY_LIMIT,
      // The schema below documents the body; Fastify checks only its envelope, so that every
      // refused item can be reported with its position (error.items) instead of the first alone.
      validatorCompiler: () => (data: unknown) => {
        const problem = checkEnvelope(data);
        if (problem === null) return { value: data };
        return { error: new AppError('validation_error', `body ${problem}`) };
      },
      schema: {
        tags,
        operationId: 'importKeys',
        summary: 'Import API keys made elsewhere',
        security: [{ session: [], csrfToken: [] }, { serviceToken: ['keys:manage'] }],
        description:
          "Moves keys from another system without reissuing them: up to 1,000 per call, each the plaintext `key` (hashed at once, never stored) or its `hash` (`sha256:<hex>`) with `start` and `last4`, an `owner_id` or an `owner_email` (matched, or created without a usable password), and any create field. All or nothing: when any item is refused the answer is 400 `import_refused` with `error.items` listing each refused item, and nothing is imported. A key whose hash is already present is skipped, so a repeated call changes nothing. Plaintext keys must be of this deployment's shape or match ACCEPTED_KEY_SHAPES. Plan key limits do not apply to imports. Admins and keys:manage service tokens only.",
        body: ImportKeysBody,
        response: {
          200: ref(ImportResult, { description: 'Every item imported or skipped' }),
          ...errors(400, 401, 403, 409, 413),
        },
      },
    },
    async (request) => {
      const checked = checkImportItems(request.body.keys);
      if (!checked.ok) throw new ImportRefusedError(checked.errors, request.body.keys.length);
      const outcome = await services.keyImport.importKeys(request.actor, checked.items);
      return {
        object: 'import_result' as const,
        imported: outcome.imported,
        skipped: outcome.skipped,
        owners_created: outcome.ownersCreated,
        keys: outcome.keys,
      };
    },
  );

  app.get(
    '/v1/keys/:id',
    {
      preHandler: read,
      schema: {
        tags,
        operationId: 'getKey',
        summary: 'Get an API key',
        security: security.read,
        params: IdParams,
        response: {
          200: ref(KeyView, { description: 'The key' }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (request) => keyView(await keys.get(request.actor, request.params.id), clock.now()),
  );

  app.patch(
    '/v1/keys/:id',
    {
      preHandler: write,
      schema: {
        tags,
        operationId: 'updateKey',
        summary: 'Update an API key',
        security: security.write,
        description:
          'Name, permissions, IP allowlist, expiry, enabled, limits, credits, billing, metadata. Never the secret, owner or hash.',
        params: IdParams,
        body: UpdateKeyBody,
        response: {
          200: ref(KeyView, { description: 'The key as updated' }),
          ...errors(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const b = request.body;
      const expiresAt = time(b.expires_at, 'expires_at');
      const key = await keys.update(request.actor, request.params.id, {
        ...(b.name !== undefined && { name: b.name }),
        ...(b.permissions !== undefined && { permissions: b.permissions }),
        ...(b.ip_allowlist !== undefined && { ipAllowlist: b.ip_allowlist }),
        ...(b.allowed_resources !== undefined && { allowedResources: b.allowed_resources }),
        ...(expiresAt !== undefined && { expiresAt }),
        ...(b.enabled !== undefined && { enabled: b.enabled }),
        ...(b.limits !== undefined && { limits: b.limits }),
        ...(b.credits !== undefined && {
          credits: { remaining: b.credits.remaining, refill: b.credits.refill ?? null },
        }),
        ...(b.billing !== undefined && { billing: b.billing }),
        ...(b.metadata !== undefined && { metadata: b.metadata }),
      });
      return keyView(key, clock.now());
    },
  );

  app.post(
    '/v1/keys/:id/revoke',
    {
      preHandler: write,
      schema: {
        tags,
        operationId: 'revokeKey',
        summary: 'Revoke an API key',
        security: security.write,
        description: 'Immediate and irreversible. The key stays listed with status revoked.',
        params: IdParams,
        response: {
          200: ref(KeyView, { description: 'The revoked key' }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (request) => keyView(await keys.revoke(request.actor, request.params.id), clock.now()),
  );

  // Rotation's body is optional: no body at all, or an empty one sent as application/json (as
  // many HTTP clients do), rotates with the default grace period. In its own scope, so the JSON
  // parser of every other route still refuses an empty body.
  app.register(async (scope: App) => {
    const json = scope.getDefaultJsonParser('error', 'error');
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      if (body === '') done(null, undefined);
      else json(request, body as string, done);
    });
    scope.post(
      '/v1/keys/:id/rotate',
      {
        preHandler: write,
        preValidation: (request, _reply, done) => {
          request.body ??= {};
          done();
        },
        schema: {
          tags,
          operationId: 'rotateKey',
          summary: 'Rotate an API key',
          security: security.write,
          description:
            'Issues a new secret with the same settings under a new id. The old key works for the grace period, then stops. The body is optional: without one (or with an empty one) the grace period is 0.',
          params: IdParams,
          body: Type.Optional(RotateBody),
          response: {
            201: ref(CreatedKeyView, {
              description: 'The new key (rotated_from = the old id), with its secret in `key`',
            }),
            ...errors(400, 401, 403, 404, 409),
          },
        },
      },
      async (request, reply) => {
        const created = await keys.rotate(
          request.actor,
          request.params.id,
          request.body?.grace_period ?? '0',
        );
        reply.status(201);
        return { ...keyView(created.key, clock.now()), key: created.secret };
      },
    );
  });

  app.delete(
    '/v1/keys/:id',
    {
      preHandler: write,
      schema: {
        tags,
        operationId: 'deleteKey',
        summary: 'Delete an API key',
        security: security.write,
        description: 'Permanent. Usage history and audit entries stay.',
        params: IdParams,
        response: {
          204: noContent({ description: 'Deleted' }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      await keys.delete(request.actor, request.params.id);
      return reply.status(204).send(null);
    },
  );
}
