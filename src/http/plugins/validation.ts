import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

const BASE: Options = {
  useDefaults: true,
  removeAdditional: false,
  allErrors: false,
  addUsedSchema: false,
  strict: false,
};

function ajv(options: Options): Ajv {
  const instance = new Ajv({ ...BASE, ...options });
  addFormats.default(instance);
  return instance;
}

/**
 * JSON bodies are validated as sent: `{"name": 5}` is a type error, not the string "5". Query
 * strings, params and headers only ever carry text, so there numbers and booleans are coerced.
 */
export function validatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const strict = ajv({ coerceTypes: false });
  const coercing = ajv({ coerceTypes: 'array' });
  return ({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema as object);
}
