import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  AppError,
  ERROR_STATUS,
  type ErrorCode,
  ImportRefusedError,
  type ItemError,
} from '../../core/errors.ts';
import { loggablePath } from '../../logger.ts';
import type { StoreHealth } from '../../storage/database.ts';
import { addSecurityHeaders } from './security-headers.ts';

export function errorBody(
  code: ErrorCode,
  message: string,
  requestId: string,
  param?: string,
  scope?: 'key' | 'owner',
  items?: readonly ItemError[],
) {
  return {
    error: {
      code,
      message,
      request_id: requestId,
      ...(param !== undefined && { param }),
      ...(scope !== undefined && { scope }),
      ...(items !== undefined && { items }),
    },
  };
}

/** `/limits/rate/0/limit` (a JSON pointer from the validator) as `limits.rate[0].limit`. */
export function paramFromPointer(pointer: string): string | undefined {
  const parts = pointer.split('/').slice(1);
  if (parts.length === 0) return undefined;
  let out = '';
  for (const part of parts) {
    const name = part.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(name) ? `[${name}]` : out === '' ? name : `.${name}`;
  }
  return out;
}

/**
 * What Node's HTTP parser refuses before any request exists (a request or headers timeout,
 * oversized headers, malformed HTTP): answered in the one error shape rather than Fastify's own,
 * then the socket is closed. A reset connection has nobody to answer.
 */
export function clientErrorHandler(
  nextRequestId: () => string,
): (error: Error & { code?: string }, socket: Duplex) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [code, message]: [ErrorCode, string] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['request_timeout', 'the request did not arrive whole in time']
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? ['headers_too_large', 'the request headers are too large']
          : ['validation_error', 'the request is not valid HTTP'];
    const status = ERROR_STATUS[code];
    const body = JSON.stringify(errorBody(code, message, nextRequestId()));
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

/** Turns anything thrown into the one error shape, with the status from the one code map. */
function classify(
  error: FastifyError & { code?: string },
  request: FastifyRequest,
  health: StoreHealth,
): { code: ErrorCode; message: string; param?: string } {
  if (error.validation) {
    const first = error.validation[0];
    const inBody = error.validationContext === 'body' || error.validationContext === 'querystring';
    if (first?.keyword === 'additionalProperties') {
      const field = (first.params as { additionalProperty?: string }).additionalProperty;
      return {
        code: 'unknown_field',
        message: `unknown field "${field}" in ${error.validationContext ?? 'request'}`,
      };
    }
    const missing =
      first?.keyword === 'required'
        ? (first.params as { missingProperty?: string }).missingProperty
        : undefined;
    const param =
      inBody && first !== undefined
        ? paramFromPointer(
            missing === undefined ? first.instancePath : `${first.instancePath}/${missing}`,
          )
        : undefined;
    return {
      code: 'validation_error',
      message:
        `${error.validationContext ?? 'request'}${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}`.trim(),
      ...(param !== undefined && { param }),
    };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large', message: 'request body is too large' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'unsupported_media_type', message: 'send the body as application/json' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'invalid_json', message: 'request body is not valid JSON' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { code: 'validation_error', message: 'content-length does not match the body' };
    default:
      break;
  }
  if (error instanceof SyntaxError && error.statusCode === 400)
    return { code: 'invalid_json', message: 'request body is not valid JSON' };
  // Logged by the health tracker once per outage, not once per request.
  const failure = health.failed(error, request.log);
  if (failure === 'full')
    return { code: 'storage_full', message: 'the database has no room to write; try again later' };
  if (failure === 'unavailable')
    return {
      code: 'service_unavailable',
      message: 'the database is unavailable; try again shortly',
    };
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return { code: 'validation_error', message: 'the request could not be understood' };
  }
  return { code: 'internal_error', message: 'something went wrong on our side' };
}

/**
 * The client closed the connection (or the request timeout cut it) before its request arrived
 * whole: reading the body fails with ECONNRESET "aborted", which is no database outage.
 */
function clientWentAway(request: FastifyRequest): boolean {
  return request.raw.destroyed && !request.raw.complete;
}

export function registerErrorHandling(app: FastifyInstance, health: StoreHealth): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    addSecurityHeaders(reply);
    if (error instanceof AppError) {
      if (error.headers) reply.headers(error.headers);
      return reply
        .status(error.status)
        .send(
          errorBody(
            error.code,
            error.message,
            request.id,
            error.param,
            error.scope,
            error instanceof ImportRefusedError ? error.items : undefined,
          ),
        );
    }
    if (clientWentAway(request)) {
      request.log.info({ req: request }, 'client closed the connection');
      return reply
        .status(400)
        .send(errorBody('request_incomplete', 'the request did not arrive whole', request.id));
    }
    const { code, message, param } = classify(error, request, health);
    const status = ERROR_STATUS[code];
    // Database outages and a full disk were logged by the health tracker, once per outage.
    if (code === 'internal_error')
      request.log.error(
        { err: { type: error.name, code: error.code, message: error.message, stack: error.stack } },
        'request failed',
      );
    return reply.status(status).send(errorBody(code, message, request.id, param));
  });
  app.setNotFoundHandler((request, reply) => {
    addSecurityHeaders(reply);
    reply
      .status(404)
      .send(
        errorBody(
          'not_found',
          `no route for ${request.method} ${loggablePath(request.url)}`,
          request.id,
        ),
      );
  });
}

/**
 * Errors Fastify raises while routing, which bypass the error handler and would otherwise be
 * answered in Fastify's own shape: a path that is not valid percent-encoding (FST_ERR_BAD_URL),
 * and a path segment longer than the router's maxParamLength (FST_ERR_MAX_PARAM_LENGTH, a 414).
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  addSecurityHeaders(reply);
  if (error.code === 'FST_ERR_BAD_URL') {
    return reply
      .status(400)
      .send(errorBody('validation_error', 'the URL is not valid percent-encoding', request.id));
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return reply
      .status(400)
      .send(errorBody('validation_error', 'a segment of the URL path is too long', request.id));
  }
  request.log.error(
    { err: { type: error.name, code: error.code, message: error.message, stack: error.stack } },
    'request failed',
  );
  return reply
    .status(500)
    .send(errorBody('internal_error', 'something went wrong on our side', request.id));
}
