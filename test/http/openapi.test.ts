// GET /openapi.json: a valid OpenAPI 3.1 document (checked by a real validator) that describes
// every route the server registers, with named schemas, operation ids, real security, the
// response headers the routes send, and examples that match their schemas.
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../src/core/errors.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  promoteToAdmin,
} from '../helpers/harness.ts';

interface Media {
  schema: { $ref?: string } & Record<string, unknown>;
  example?: unknown;
}
interface Response {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, Media>;
}
interface Operation {
  operationId?: string;
  summary?: string;
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, Response>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Record<string, unknown>>;
    securitySchemes: Record<string, unknown>;
  };
}

/**
 * Registered routes that are not API operations, each with why. Every entry must still be
 * registered, so the list cannot silently go stale.
 */
const NOT_OPERATIONS: Record<string, string> = {
  'GET /openapi.json': 'the document itself',
  'GET /docs': 'the API reference page (routes/docs.ts)',
  'GET /docs/js/zod-jitless.js': 'an asset of the API reference',
  'GET /docs/js/scalar.js': 'an asset of the API reference',
  'GET /': 'the dashboard',
  'GET /*': 'the dashboard: its files, and its HTML for client-side routes',
};

/**
 * Every (method, path) Fastify registered, read from `printRoutes({ commonPrefix: false })`: a
 * tree where each node's text continues its parent's path and the methods close the line.
 * HEAD routes are left out (Fastify adds one for each GET).
 */
function registeredRoutes(tree: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? '').length / 4;
    const path = (depth === 0 ? '' : (stack[depth - 1] ?? '')) + (match[2] ?? '');
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of (match[3] ?? '').split(', ')) {
      if (method !== '' && method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes;
}

function walk(value: unknown, visit: (node: Record<string, unknown>) => void): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit);
    return;
  }
  visit(value as Record<string, unknown>);
  for (const child of Object.values(value)) walk(child, visit);
}

function operations(doc: Document): [string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]): [string, Operation] => [
      `${method.toUpperCase()} ${path}`,
      op,
    ]),
  );
}

const sqlite = DATABASES.filter((d) => d.name === 'sqlite');

describe.each(sqlite)('the OpenAPI document on $name', (kind) => {
  let h: Harness;
  let doc: Document;
  let validateAgainst: (schema: object, value: unknown) => string | null;

  beforeAll(async () => {
    h = await createHarness(kind);
    const response = await h.request({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    doc = response.json() as Document;
    // The document's schemas are JSON Schema 2020-12 (OpenAPI 3.1); refs point into it.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema({ $id: 'https://keyward.test/openapi.json', components: doc.components });
    validateAgainst = (schema, value) => {
      const rooted =
        typeof (schema as { $ref?: unknown }).$ref === 'string'
          ? { $ref: `https://keyward.test/openapi.json${(schema as { $ref: string }).$ref}` }
          : schema;
      const validate = ajv.compile(rooted);
      return validate(value) ? null : ajv.errorsText(validate.errors);
    };
  });

  afterAll(async () => {
    await h?.close();
  });

  it('is valid OpenAPI 3.1 to a real validator, and every $ref resolves', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(
      structuredClone(doc) as unknown as Record<string, unknown>,
    );
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    walk(doc, (node) => {
      const ref = node.$ref;
      if (typeof ref !== 'string') return;
      const name = /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1];
      expect(name && doc.components.schemas[name], `dangling ${ref}`).toBeTruthy();
    });
  });

  it('describes every route the server registers, and only those', async () => {
    const registered = registeredRoutes(h.app.printRoutes({ commonPrefix: false }));
    // The parser must have understood the tree: a nested route and the catch-all are found.
    expect(registered).toContain('POST /v1/keys/:id/rotate');
    expect(registered).toContain('GET /*');
    for (const exempt of Object.keys(NOT_OPERATIONS)) expect(registered).toContain(exempt);
    const api = registered
      .filter((route) => NOT_OPERATIONS[route] === undefined)
      .map((route) => route.replace(/:([A-Za-z_]+)/g, '{$1}'))
      .sort();
    const documented = operations(doc)
      .map(([route]) => route)
      .sort();
    expect(documented).toEqual(api);
    expect(api.length).toBeGreaterThanOrEqual(27);
  });

  it('gives every operation a unique operationId, a summary and its security', () => {
    const ids = new Set<string>();
    const schemes = Object.keys(doc.components.securitySchemes);
    for (const [route, op] of operations(doc)) {
      expect(op.operationId, route).toMatch(/^[a-z][A-Za-z]+$/);
      expect(ids.has(op.operationId ?? ''), `${route}: duplicate operationId`).toBe(false);
      ids.add(op.operationId ?? '');
      expect(op.summary?.trim(), route).toBeTruthy();
      expect(Array.isArray(op.security), `${route}: no security`).toBe(true);
      for (const requirement of op.security ?? [])
        for (const scheme of Object.keys(requirement)) expect(schemes, route).toContain(scheme);
    }
    expect(doc).not.toHaveProperty('security');
  });

  it('documents the credentials each route really accepts', () => {
    const security = (route: string) => operations(doc).find(([r]) => r === route)?.[1].security;
    const apiKey = [{ apiKey: [] }, { apiKeyHeader: [] }];
    expect(security('POST /v1/verify')).toEqual([{ serviceToken: ['keys:verify'] }]);
    expect(security('POST /v1/usage')).toEqual([{ serviceToken: ['keys:verify'] }]);
    expect(security('GET /v1/key')).toEqual(apiKey);
    expect(security('GET /v1/usage')).toEqual(apiKey);
    expect(security('POST /v1/auth/login')).toEqual([]);
    expect(security('GET /healthz')).toEqual([]);
    expect(security('GET /v1/tokens')).toEqual([{ session: [] }]);
    expect(security('POST /v1/keys')).toEqual([
      { session: [], csrfToken: [] },
      { managementToken: ['keys:write'] },
      { serviceToken: ['keys:write'] },
    ]);
    expect(doc.components.securitySchemes).toMatchObject({
      session: { type: 'apiKey', in: 'cookie' },
      csrfToken: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token' },
      managementToken: { type: 'http', scheme: 'bearer' },
      serviceToken: { type: 'http', scheme: 'bearer' },
      apiKey: { type: 'http', scheme: 'bearer' },
      apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    });
  });

  it('names its schemas: no def-N, no "Default Response", one Error schema for every error', () => {
    const names = Object.keys(doc.components.schemas);
    expect(names.filter((n) => /^def-\d/.test(n))).toEqual([]);
    for (const name of ['ApiKey', 'ApiKeyWithSecret', 'Verification', 'Token', 'Usage', 'Error'])
      expect(names).toContain(name);
    const errorCodes = (
      doc.components.schemas.Error as {
        properties: { error: { properties: { code: { enum: string[] } } } };
      }
    ).properties.error.properties.code.enum;
    expect(errorCodes).toEqual(Object.keys(ERROR_STATUS));
    for (const [route, op] of operations(doc)) {
      for (const [status, response] of Object.entries(op.responses)) {
        const where = `${route} ${status}`;
        expect(response.description, where).not.toBe('Default Response');
        expect(response.description.trim(), where).toBeTruthy();
        const schema = response.content?.['application/json']?.schema;
        // A load balancer reads /readyz's own body; every other failure is the one Error shape.
        if (where === 'GET /readyz 503')
          expect(schema?.$ref).toBe('#/components/schemas/Unavailable');
        else if (Number(status) >= 400)
          expect(schema?.$ref, where).toBe('#/components/schemas/Error');
        else if (status !== '204') expect(schema?.$ref, where).toMatch(/^#\/components\/schemas\//);
      }
    }
  });

  it('documents the response headers the routes send', () => {
    const responses = (route: string) =>
      operations(doc).find(([r]) => r === route)?.[1].responses ?? {};
    const headers = (route: string, status: string) =>
      Object.keys(responses(route)[status]?.headers ?? {});
    for (const route of ['GET /v1/key', 'GET /v1/usage']) {
      expect(headers(route, '200')).toEqual(['RateLimit', 'RateLimit-Policy']);
      expect(headers(route, '401')).toContain('WWW-Authenticate');
      expect(headers(route, '429')).toEqual(['Retry-After', 'RateLimit', 'RateLimit-Policy']);
    }
    for (const route of ['POST /v1/auth/login', 'POST /v1/auth/signup'])
      expect(headers(route, route.endsWith('signup') ? '201' : '200')).toEqual(['Set-Cookie']);
    expect(headers('POST /v1/auth/password', '200')).toEqual(['Set-Cookie']);
    expect(headers('POST /v1/auth/logout', '204')).toEqual(['Set-Cookie']);
    expect(headers('POST /v1/auth/login', '429')).toEqual(['Retry-After']);
  });

  it('documents the body parser refusals on every operation that takes a body', () => {
    const withBody = operations(doc).filter(([, op]) => op.requestBody !== undefined);
    expect(withBody.length).toBeGreaterThanOrEqual(10);
    for (const [route, op] of withBody)
      for (const status of ['400', '413', '415'])
        expect(op.responses, route).toHaveProperty(status);
  });

  it('has a request and response example for every operation, each valid for its schema', () => {
    for (const [route, op] of operations(doc)) {
      const body = op.requestBody?.content['application/json'];
      if (op.requestBody !== undefined) {
        expect(body?.example, `${route} request`).toBeDefined();
        expect(validateAgainst(body?.schema ?? {}, body?.example), `${route} request`).toBeNull();
      }
      for (const [status, response] of Object.entries(op.responses)) {
        const media = response.content?.['application/json'];
        if (media === undefined) continue;
        const where = `${route} ${status}`;
        expect(media.example, where).toBeDefined();
        expect(validateAgainst(media.schema, media.example), where).toBeNull();
      }
    }
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      for (const example of (schema.examples as unknown[] | undefined) ?? [])
        expect(validateAgainst({ $ref: `#/components/schemas/${name}` }, example), name).toBeNull();
    }
  });

  describe('matches what the server answers', () => {
    let account: Account;

    beforeAll(async () => {
      account = await h.signup();
    });

    const check = (route: string, status: number, body: unknown) => {
      const op = operations(doc).find(([r]) => r === route)?.[1];
      const schema = op?.responses[String(status)]?.content?.['application/json']?.schema;
      expect(schema, `${route} ${status} is documented`).toBeDefined();
      expect(validateAgainst(schema ?? {}, body), `${route} ${status}`).toBeNull();
    };

    it('for keys, verification, the key holder and errors', async () => {
      const created = await createKey(h, account, {
        limits: { rate: [{ limit: 10, window: '1m' }] },
      });
      check('POST /v1/keys', 201, created.json);
      const list = await h.request({ method: 'GET', url: '/v1/keys', as: account });
      check('GET /v1/keys', 200, list.json());
      const me = await h.request({ method: 'GET', url: '/v1/auth/me', as: account });
      check('GET /v1/auth/me', 200, me.json());
      const key = await h.request({ method: 'GET', url: '/v1/key', bearer: created.key });
      check('GET /v1/key', 200, key.json());
      expect(key.headers.ratelimit).toBeDefined();
      expect(key.headers['ratelimit-policy']).toBeDefined();
      const refused = await h.request({ method: 'GET', url: '/v1/key', bearer: 'sk_live_0' });
      check('GET /v1/key', 401, refused.json());
      expect(refused.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      const rotated = await h.request({
        method: 'POST',
        url: `/v1/keys/${created.id}/rotate`,
        as: account,
        body: {},
      });
      expect(rotated.statusCode, rotated.body).toBe(201);
      check('POST /v1/keys/{id}/rotate', 201, rotated.json());
      const bad = await h.request({ method: 'POST', url: '/v1/keys', as: account, body: {} });
      check('POST /v1/keys', 400, bad.json());

      await promoteToAdmin(h, account);
      const token = await h.request({
        method: 'POST',
        url: '/v1/tokens',
        as: account,
        body: { name: 'verifier', scopes: ['keys:verify'] },
      });
      check('POST /v1/tokens', 201, token.json());
      const verified = await h.request({
        method: 'POST',
        url: '/v1/verify',
        bearer: token.json().token,
        body: { key: rotated.json().key },
      });
      expect(verified.json().valid).toBe(true);
      check('POST /v1/verify', 200, verified.json());
    });
  });
});

describe.each(sqlite)('/docs on $name', (kind) => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness(kind);
  });

  afterAll(async () => {
    await h?.close();
  });

  it('loads its scripts from versioned URLs on this server, cached for a year', async () => {
    const page = await h.request({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    // The page names the versions, so it must never be cached itself.
    expect(page.headers['cache-control']).toBe('no-store');
    const scripts = [...page.body.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(scripts.map((src) => src.split('?')[0])).toEqual([
      '/docs/js/zod-jitless.js',
      '/docs/js/scalar.js',
    ]);
    for (const src of scripts) {
      expect(src, src).toMatch(/^\/docs\/js\/[a-z-]+\.js\?v=[\w.-]+$/);
      const script = await h.request({ method: 'GET', url: src });
      expect(script.statusCode, src).toBe(200);
      expect(script.headers['content-type'], src).toMatch(/javascript/);
      expect(script.headers['cache-control'], src).toBe('public, max-age=31536000, immutable');
      expect(script.headers['content-security-policy'], src).toBe(
        page.headers['content-security-policy'],
      );
      // Without the current version (an old page, a hand-typed URL) it is not kept for long.
      for (const url of [src.split('?')[0] ?? '', `${src.split('?')[0]}?v=0.0.0`]) {
        const stale = await h.request({ method: 'GET', url });
        expect(stale.statusCode, url).toBe(200);
        expect(stale.headers['cache-control'], url).toBe('public, max-age=3600');
      }
    }
  });
});
