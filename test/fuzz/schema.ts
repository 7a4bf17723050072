import fc from 'fast-check';
import {
  anyJsonValue,
  anyString,
  Deep,
  deepValue,
  hugeString,
  nested,
  toJsonText,
} from './inputs.ts';

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  minProperties?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  format?: string;
};

/**
 * Values the API would likely accept for a field, by its name: without them a schema-only
 * generator rarely produces an IP, a permission or a known id, and most requests stop at
 * validation instead of reaching the handler and the database.
 */
export type FieldHints = (name: string) => fc.Arbitrary<unknown> | undefined;

export interface SchemaContext {
  resolve(ref: string): JsonSchema;
  hints: FieldHints;
}

const isoDate = fc
  .integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) })
  .map((ms) => new Date(ms).toISOString());

/** An arbitrary of values that satisfy the schema (field hints aside), kept small. */
export function validValue(
  schema: JsonSchema,
  ctx: SchemaContext,
  name = '',
): fc.Arbitrary<unknown> {
  if (schema.$ref !== undefined) return validValue(ctx.resolve(schema.$ref), ctx, name);
  const fromSchema = bySchema(schema, ctx, name);
  const hint = name === '' ? undefined : ctx.hints(name);
  return hint === undefined
    ? fromSchema
    : fc.oneof({ arbitrary: hint, weight: 3 }, { arbitrary: fromSchema, weight: 1 });
}

function bySchema(schema: JsonSchema, ctx: SchemaContext, name: string): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined)
    return fc.oneof(...alternatives.map((s) => validValue(s, ctx, name)));
  if (Array.isArray(schema.type))
    return fc.oneof(...schema.type.map((type) => bySchema({ ...schema, type }, ctx, name)));
  switch (schema.type) {
    case 'string':
      if (schema.format === 'date-time') return isoDate;
      if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern));
      return fc.string({
        minLength: schema.minLength ?? 0,
        maxLength: Math.min(schema.maxLength ?? 40, Math.max(40, schema.minLength ?? 0)),
      });
    case 'integer':
      return fc.integer({
        min: Math.max(schema.minimum ?? -1_000_000, Number.MIN_SAFE_INTEGER),
        max: Math.min(schema.maximum ?? 1_000_000, Number.MAX_SAFE_INTEGER),
      });
    case 'number':
      return fc.double({
        min: schema.minimum ?? -1e6,
        max: schema.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const items =
        schema.items === undefined
          ? fc.jsonValue({ maxDepth: 2 })
          : validValue(schema.items, ctx, `${name}[]`);
      return fc.array(items, {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 5, 5),
      });
    }
    case 'object':
      return objectValue(schema, ctx);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectValue(schema: JsonSchema, ctx: SchemaContext): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {};
  const names = Object.keys(properties);
  if (names.length === 0) {
    // A free-form object such as metadata: any JSON, occasionally far deeper than allowed.
    return schema.additionalProperties === false
      ? fc.constant({})
      : fc.oneof(
          {
            arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), {
              maxKeys: 5,
            }),
            weight: 6,
          },
          {
            arbitrary: fc
              .integer({ min: 10, max: 6_000 })
              .map((d) => ({ deep: nested(d, 'object') })),
            weight: 1,
          },
        );
  }
  const required = schema.required ?? [];
  const optional = names.filter((key) => !required.includes(key));
  // Few optional fields at a time: with all of them, nearly every body trips some cross-field
  // rule (permissions with a preset, …) and the handler is never reached.
  const atLeast = Math.max(
    0,
    Math.min((schema.minProperties ?? 0) - required.length, optional.length),
  );
  return fc
    .subarray(optional, {
      minLength: atLeast,
      maxLength: Math.max(atLeast, Math.min(3, optional.length)),
    })
    .chain((chosen) => {
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const key of [...required, ...chosen])
        model[key] = validValue(properties[key] as JsonSchema, ctx, key);
      return fc.record(model);
    });
}

/** Every path (as a list of keys) inside a JSON value, the root included, breadth-limited. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (out.length > 50 || prefix.length > 6 || value instanceof Deep) return out;
  if (Array.isArray(value)) value.forEach((v, i) => void paths(v, [...prefix, i], out));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function setAt(root: unknown, path: (string | number)[], next: (old: unknown) => unknown): unknown {
  if (path.length === 0) return next(root);
  const copy = (
    Array.isArray(root) ? [...root] : { ...(root as Record<string, unknown>) }
  ) as Record<string | number, unknown>;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  copy[head] = setAt(copy[head], rest, next);
  return copy;
}

function removeAt(root: unknown, path: (string | number)[]): unknown {
  if (path.length === 0) return undefined;
  const parent = path.slice(0, -1);
  const last = path[path.length - 1] as string | number;
  return setAt(root, parent, (container) => {
    if (Array.isArray(container)) return container.filter((_, i) => i !== last);
    const copy = { ...(container as Record<string, unknown>) };
    delete copy[last];
    return copy;
  });
}

export type Mutation =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'remove'; at: number }
  | { kind: 'extra'; at: number; key: string; value: unknown }
  | { kind: 'deep'; at: number; value: unknown }
  | { kind: 'huge'; at: number; value: string };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('replace' as const),
      at: fc.nat(),
      value: anyJsonValue,
    }),
    weight: 5,
  },
  { arbitrary: fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('extra' as const),
      at: fc.nat(),
      key: fc.oneof(
        anyString,
        fc.constantFrom(
          'owner_id',
          'hash',
          'key_hash',
          'usage_count',
          'id',
          'role',
          '__proto__',
          'constructor',
        ),
      ),
      value: anyJsonValue,
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('deep' as const), at: fc.nat(), value: deepValue }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('huge' as const), at: fc.nat(), value: hugeString }),
    weight: 1,
  },
);

/** Applies one mutation at one of the value's paths (chosen by `at`). */
export function mutate(value: unknown, m: Mutation): unknown {
  const all = paths(value);
  const path = all[m.at % all.length] as (string | number)[];
  switch (m.kind) {
    case 'replace':
    case 'deep':
    case 'huge':
      return setAt(value, path, () => m.value);
    case 'remove':
      return removeAt(value, path.length === 0 ? (all[1] ?? []) : path);
    case 'extra':
      return setAt(value, path, (container) =>
        container !== null && typeof container === 'object' && !Array.isArray(container)
          ? { ...container, [m.key]: m.value }
          : { [m.key]: m.value },
      );
  }
}

/** The JSON text of a value with the value at one path replaced by a raw token. */
export function withRawToken(value: unknown, at: number, token: string): string {
  const marker = '\u0001RAW\u0001';
  const all = paths(value);
  const path = all[at % all.length] as (string | number)[];
  const text = toJsonText(setAt(value, path, () => marker));
  return text.replace(JSON.stringify(marker), token);
}
