import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { FastifySchema } from 'fastify';
import { describe, expect, it } from 'vitest';
import { serializerCompiler } from '../../src/http/plugins/serialization.ts';
import { validatorCompiler } from '../../src/http/plugins/validation.ts';
import { errorResponse } from '../../src/http/schemas/common.ts';
import { COMPONENT_SCHEMAS } from '../../src/http/schemas/components.ts';
import { KeyList, ListedKeyView } from '../../src/http/schemas/keys.ts';

/** Route schemas as Fastify hands them to the compilers. */
const asSchema = (schema: unknown) => schema as FastifySchema;

const ROOT = join(import.meta.dirname, '..', '..');

/** What importing `module` resolves, recorded by a module hook in a fresh Node process. */
function resolvedBy(module: string): string[] {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
    await import(${JSON.stringify(module)});
    console.log(JSON.stringify(seen));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(out) as string[];
}

describe('what a start costs (P9)', () => {
  it('the server loads the gateway and its proxy library only when a gateway is configured', () => {
    const urls = resolvedBy('./src/server.ts');
    expect(urls.some((u) => u.endsWith('/src/http/app.ts'))).toBe(true);
    expect(
      urls.filter((u) => u.includes('/src/gateway/app.ts') || u.includes('reply-from')),
    ).toEqual([]);
  });

  it('compiles one serializer per component, however many routes answer with it', () => {
    const compile = serializerCompiler(COMPONENT_SCHEMAS);
    const a = compile({
      schema: asSchema(errorResponse(404)),
      method: 'GET',
      url: '/a',
      httpStatus: '404',
    });
    const b = compile({
      schema: asSchema(errorResponse(409)),
      method: 'POST',
      url: '/b',
      httpStatus: '409',
    });
    expect(b).toBe(a);
    const body = { error: { code: 'not_found', message: 'no such key', request_id: 'req_1' } };
    expect(JSON.parse(a({ ...body, extra: 1 }))).toEqual(body);
  });

  it('serializes a component that references another (a list of keys) as the inline schema would', () => {
    const compile = serializerCompiler(COMPONENT_SCHEMAS);
    const list = compile({
      schema: asSchema(KeyList),
      method: 'GET',
      url: '/v1/keys',
      httpStatus: '200',
    });
    const key = (ListedKeyView as unknown as { examples: object[] }).examples[0];
    const page = {
      object: 'list',
      data: [key, key],
      has_more: true,
      next_cursor: 'abc',
      total_count: 2,
    };
    expect(JSON.parse(list(page))).toEqual(page);
  });

  it('compiles a request schema shared by several routes once', () => {
    const compile = validatorCompiler();
    const params = { type: 'object', properties: { id: { type: 'string' } } };
    const first = compile({
      schema: asSchema(params),
      method: 'GET',
      url: '/a/:id',
      httpPart: 'params',
    });
    const second = compile({
      schema: asSchema(params),
      method: 'DELETE',
      url: '/b/:id',
      httpPart: 'params',
    });
    expect(second).toBe(first);
    expect(
      compile({ schema: asSchema(params), method: 'POST', url: '/c', httpPart: 'body' }),
    ).not.toBe(first);
  });
  it("compiles a route's request schema at its first request, not at start", () => {
    const compile = validatorCompiler();
    // ajv cannot compile this schema: building the validator must not try.
    const unresolvable = { type: 'object', properties: { a: { $ref: 'no-such-schema' } } };
    const lazy = compile({
      schema: asSchema(unresolvable),
      method: 'GET',
      url: '/a',
      httpPart: 'querystring',
    });
    expect(() => lazy({ a: 'x' })).toThrow(/resolve reference/);
    const query = { type: 'object', properties: { n: { type: 'integer' } } };
    const validate = compile({
      schema: asSchema(query),
      method: 'GET',
      url: '/b',
      httpPart: 'querystring',
    });
    const coerced = { n: '5' };
    expect(validate(coerced)).toBe(true);
    expect(coerced).toEqual({ n: 5 });
    expect(validate({ n: 'five' })).toBe(false);
  });
});
