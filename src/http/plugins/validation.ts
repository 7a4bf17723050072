import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

const BASE: Options = {
  useDefaults: true,
  removeAdditional: false,
  allErrors: false,
  addUsedSchema: false,
  strict: false,
};

/**
 * The deepest nesting any request's JSON may have: key metadata may nest 20 levels
 * (`core/key-settings.ts`), with room for the fields around it.
 */
export const MAX_INPUT_DEPTH = 32;

function ajv(options: Options): Ajv {
  const instance = new Ajv({ ...BASE, ...options });
  addFormats.default(instance);
  return instance;
}

const NUL = 'must not contain a NUL character';

function refusal(instancePath: string, message: string): ErrorObject {
  return { keyword: 'input', instancePath, schemaPath: '#', params: {}, message };
}

/**
 * What no route accepts, found before the schema runs: a NUL character in any string or object
 * key (PostgreSQL text cannot hold one, so it would fail in the database as a 500), or nesting
 * deeper than MAX_INPUT_DEPTH (which recursive code downstream, JSON.stringify included, could
 * not walk). An explicit stack, so no input can overflow the call stack here either.
 */
export function hostileInput(value: unknown): ErrorObject | null {
  if (typeof value === 'string') return value.includes('\0') ? refusal('', NUL) : null;
  if (typeof value !== 'object' || value === null) return null;
  const stack: { value: object; path: string; depth: number }[] = [{ value, path: '', depth: 1 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.depth > MAX_INPUT_DEPTH)
      return refusal(item.path, `must not nest more than ${MAX_INPUT_DEPTH} levels`);
    for (const [key, child] of Object.entries(item.value)) {
      const path = `${item.path}/${key}`;
      if (key.includes('\0')) return refusal(item.path, NUL);
      if (typeof child === 'string') {
        if (child.includes('\0')) return refusal(path, NUL);
      } else if (typeof child === 'object' && child !== null) {
        stack.push({ value: child, path, depth: item.depth + 1 });
      }
    }
  }
  return null;
}

/**
 * Query strings and path parameters are coerced from text: `1e300` is an integer to JSON Schema
 * but not to the databases' bigint columns. Every number there must be a safe integer's size.
 */
function unsafeNumber(value: unknown): ErrorObject | null {
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, child] of Object.entries(value)) {
    const values = Array.isArray(child) ? child : [child];
    for (const v of values) {
      if (typeof v === 'number' && !(Math.abs(v) <= Number.MAX_SAFE_INTEGER))
        return refusal(`/${key}`, `must be at most ${Number.MAX_SAFE_INTEGER}`);
    }
  }
  return null;
}

type Validator = ((data: unknown, context?: unknown) => boolean) & {
  errors?: ErrorObject[] | null;
  schemaEnv?: unknown;
};

/**
 * `compile` runs at the route's first request, not at start: ajv's code generation for every
 * route's schemas was a tenth of the cold start (P9), and most routes of a deployment that only
 * verifies keys are never called.
 */
function guarded(compile: () => ValidateFunction, coerced: boolean): Validator {
  let validate: ValidateFunction | undefined;
  const check: Validator = (data, context) => {
    const hostile = hostileInput(data);
    if (hostile !== null) {
      check.errors = [hostile];
      return false;
    }
    validate ??= compile();
    const valid = (validate as Validator)(data, context);
    check.errors = validate.errors ?? null;
    if (!valid || !coerced) return valid;
    const unsafe = unsafeNumber(data);
    if (unsafe === null) return true;
    check.errors = [unsafe];
    return false;
  };
  // Fastify passes the parent object to Ajv validators (it looks for schemaEnv, which every Ajv
  // validator has) so that a root value can be coerced in place; the wrapper keeps that.
  check.schemaEnv = true;
  return check;
}

/**
 * JSON bodies are validated as sent: `{"name": 5}` is a type error, not the string "5". Query
 * strings, params and headers only ever carry text, so there numbers and booleans are coerced.
 * Every part is first checked by `hostileInput`, and coerced numbers by `unsafeNumber`.
 */
export function validatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const strict = ajv({ coerceTypes: false });
  const coercing = ajv({ coerceTypes: 'array' });
  // Routes share schema objects (the same params or query on several routes): one compile each
  // keeps ajv's work at start to the distinct schemas.
  const compiled = {
    strict: new Map<unknown, Validator>(),
    coercing: new Map<unknown, Validator>(),
  };
  return ({ schema, httpPart }) => {
    const body = httpPart === 'body';
    const cache = body ? compiled.strict : compiled.coercing;
    let validate = cache.get(schema);
    if (validate === undefined) {
      const instance = body ? strict : coercing;
      validate = guarded(() => instance.compile(schema as object), !body);
      cache.set(schema, validate);
    }
    return validate;
  };
}

/**
 * For `POST /v1/verify` alone: the schema only, no walk over the body. The hot path needs none —
 * the key's shape check refuses anything but lowercase hex, `ip` goes through the strict
 * address parser, and `permission` and `resource` are only compared in memory, never stored.
 */
export function hotPathValidatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const strict = ajv({ coerceTypes: false });
  return ({ schema }) => strict.compile(schema as object);
}

/**
 * Checks one value against `schema` the way JSON bodies are checked (hostile input first, no
 * coercion) and says what is wrong in one line, or null: for the items of an import, refused one
 * by one (POST /v1/keys/import, `keyward keys import`). Compiled at the first call.
 */
export function itemChecker(schema: object): (value: unknown) => string | null {
  let validate: ValidateFunction | undefined;
  return (value) => {
    const hostile = hostileInput(value);
    if (hostile !== null) return `${hostile.instancePath || 'item'} ${hostile.message}`.trim();
    validate ??= ajv({ coerceTypes: false }).compile(schema);
    if (validate(value)) return null;
    const first = validate.errors?.[0];
    if (first === undefined) return 'item is not valid';
    if (first.keyword === 'additionalProperties')
      return `unknown field "${(first.params as { additionalProperty?: string }).additionalProperty}"`;
    return `${first.instancePath.slice(1) || 'item'} ${first.message ?? 'is not valid'}`;
  };
}
