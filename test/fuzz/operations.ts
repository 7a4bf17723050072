import type { Scope } from '../../src/core/token.ts';
import type { JsonSchema } from './schema.ts';

// Operations, from the app's own OpenAPI document, and the actors that call them.

export interface Param {
  name: string;
  in: 'path' | 'query';
  schema: JsonSchema;
}

export interface Operation {
  method: string;
  /** The OpenAPI path template, e.g. /v1/keys/{id}. */
  path: string;
  params: Param[];
  body: JsonSchema | undefined;
  /** Errors must be JSON `{error: {code, message}}`; false for the dashboard's HTML and /docs. */
  json: boolean;
  /** Actors likely to get past authentication on this route. */
  fitting: ActorName[];
}

export interface OpenApiDocument {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { name: string; in: string; schema: JsonSchema }[];
        requestBody?: { content?: Record<string, { schema: JsonSchema }> };
      }
    >
  >;
  components?: { schemas?: Record<string, JsonSchema> };
}

export const ACTORS = [
  'none',
  'session:a',
  'session:a-no-csrf',
  'session:a-foreign-origin',
  'session:b',
  'session:admin',
  'token:a-user-scopes',
  'token:a-keys:read',
  'token:a-keys:write',
  'token:a-usage:read',
  'service:keys:verify',
  'service:keys:manage',
  'service:users:manage',
  'service:all',
  'apikey:bearer',
  'apikey:x-api-key',
] as const;
export type ActorName = (typeof ACTORS)[number];

export const TOKEN_SCOPES: Record<string, Scope[]> = {
  'token:a-user-scopes': ['keys:read', 'keys:write', 'usage:read'],
  'token:a-keys:read': ['keys:read'],
  'token:a-keys:write': ['keys:write'],
  'token:a-usage:read': ['usage:read'],
  'service:keys:verify': ['keys:verify'],
  'service:keys:manage': ['keys:manage'],
  'service:users:manage': ['users:manage'],
  'service:all': [
    'keys:verify',
    'keys:manage',
    'users:manage',
    'keys:read',
    'keys:write',
    'usage:read',
  ],
};

function fittingActors(method: string, path: string): ActorName[] {
  if (path === '/v1/verify' || (path === '/v1/usage' && method === 'post'))
    return ['service:keys:verify', 'service:all', 'service:keys:manage'];
  if (path === '/v1/key' || path === '/v1/usage') return ['apikey:bearer', 'apikey:x-api-key'];
  if (path.startsWith('/v1/auth/')) return ['session:a', 'session:admin', 'none'];
  if (path.startsWith('/v1/tokens')) return ['session:a', 'session:admin', 'session:b'];
  if (path.startsWith('/v1/admin/'))
    return ['session:admin', 'service:users:manage', 'service:all'];
  return [
    'session:a',
    'session:admin',
    'session:b',
    'token:a-user-scopes',
    'token:a-keys:read',
    'token:a-keys:write',
    'token:a-usage:read',
    'service:keys:manage',
  ];
}

export function operationsOf(doc: OpenApiDocument): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? [])
        .filter((p) => p.in === 'path' || p.in === 'query')
        .map((p) => ({ name: p.name, in: p.in as 'path' | 'query', schema: p.schema }));
      ops.push({
        method: method.toUpperCase(),
        path,
        params,
        body: op.requestBody?.content?.['application/json']?.schema,
        json: true,
        fitting: fittingActors(method, path),
      });
    }
  }
  // Routes the document hides, and routes that do not exist, are part of the surface too.
  const any = [...ACTORS];
  const wildcard: Param = { name: 'rest', in: 'path', schema: { type: 'string' } };
  ops.push(
    { method: 'GET', path: '/openapi.json', params: [], body: undefined, json: true, fitting: any },
    { method: 'GET', path: '/docs', params: [], body: undefined, json: false, fitting: any },
    { method: 'GET', path: '/docs/', params: [], body: undefined, json: false, fitting: any },
    { method: 'GET', path: '/', params: [], body: undefined, json: false, fitting: any },
    {
      method: 'GET',
      path: '/{rest}',
      params: [wildcard],
      body: undefined,
      json: false,
      fitting: any,
    },
    {
      method: 'GET',
      path: '/assets/{rest}',
      params: [wildcard],
      body: undefined,
      json: false,
      fitting: any,
    },
    {
      method: 'PUT',
      path: '/v1/keys/{rest}',
      params: [wildcard],
      body: { type: 'object' },
      json: true,
      fitting: any,
    },
    {
      method: 'DELETE',
      path: '/v1/{rest}',
      params: [wildcard],
      body: undefined,
      json: true,
      fitting: any,
    },
    {
      method: 'POST',
      path: '/v1/{rest}',
      params: [wildcard],
      body: { type: 'object' },
      json: true,
      fitting: any,
    },
    { method: 'OPTIONS', path: '/v1/keys', params: [], body: undefined, json: true, fitting: any },
    { method: 'HEAD', path: '/v1/keys', params: [], body: undefined, json: false, fitting: any },
  );
  return ops;
}
