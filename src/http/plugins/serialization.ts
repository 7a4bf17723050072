import fastJsonStringify from 'fast-json-stringify';
import type { FastifySchema, FastifySerializerCompiler } from 'fastify';
import type { TSchema } from 'typebox';

type Serializer = (data: unknown) => string;
type Json = { [key: string]: unknown };

/**
 * Response serializers built from the route schemas with every `$ref` to a named component
 * (schemas/components.ts) replaced by the component itself. Fastify's own compiler hands
 * fast-json-stringify every added schema for every route and status, which cost ~40 % of the
 * cold start, and serializes each `$ref` through a separate lookup; inlined, a component is
 * compiled once and shared by every response that is exactly that component (the error body of
 * nearly every route), and a list page serializes as fast as with inline schemas. The OpenAPI
 * document is unaffected: it is built from the route schemas as written.
 */
export function serializerCompiler(
  components: readonly TSchema[],
): FastifySerializerCompiler<FastifySchema> {
  const byId = new Map<string, Json>();
  for (const schema of components) byId.set((schema as { $id: string }).$id, schema as Json);
  const inlined = new Map<string, unknown>();
  const compiled = new Map<unknown, Serializer>();

  function component(id: string): unknown {
    let schema = inlined.get(id);
    if (schema === undefined) {
      const { $id: _, ...rest } = byId.get(id) as Json;
      schema = inline(rest);
      inlined.set(id, schema);
    }
    return schema;
  }

  function inline(schema: unknown): unknown {
    if (Array.isArray(schema)) return schema.map(inline);
    if (typeof schema !== 'object' || schema === null) return schema;
    const $ref = (schema as Json).$ref;
    // The siblings of a component's $ref are documentation (description, headers, examples).
    if (typeof $ref === 'string' && byId.has($ref)) return component($ref);
    const copy: Json = {};
    for (const [key, value] of Object.entries(schema)) copy[key] = inline(value);
    return copy;
  }

  return ({ schema }) => {
    const $ref = (schema as Json).$ref;
    const key = typeof $ref === 'string' && byId.has($ref) ? $ref : schema;
    let serialize = compiled.get(key);
    if (serialize === undefined) {
      serialize = fastJsonStringify(inline(schema) as Parameters<typeof fastJsonStringify>[0]);
      compiled.set(key, serialize);
    }
    return serialize;
  };
}
