import { type IncomingHttpHeaders, METHODS } from 'node:http';
import { Readable } from 'node:stream';
import replyFrom from '@fastify/reply-from';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { GatewayConfig } from '../config.ts';
import { AppError } from '../core/errors.ts';
import { isIpAddress } from '../core/ip-allowlist.ts';
import { nextRequestId, trustedProxy } from '../http/app.ts';
import { bearer, refusalError } from '../http/plugins/auth.ts';
import { clientErrorHandler, registerErrorHandling } from '../http/plugins/errors.ts';
import { addSecurityHeaders } from '../http/plugins/security-headers.ts';
import { rateLimitHeaders } from '../http/rate-limit-headers.ts';
import { loggablePath } from '../logger.ts';
import type { Actor } from '../services/actor.ts';
import type { Services } from '../services/index.ts';
import type { Verification } from '../services/verify.ts';
import { matchRoute } from './match.ts';
import type { GatewayRoute } from './routes-file.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Gateway mode: the rule the request matched and, unless public, its verification. */
    gateway: { route: GatewayRoute; verification: Verification | null } | null;
  }
}

export interface GatewayOptions {
  logger: FastifyBaseLogger | false;
}

/** Settlements of usage-billed keys are made in-process, as a `keys:verify` service would. */
const GATEWAY_ACTOR: Actor = {
  type: 'cli',
  id: null,
  user: null,
  scopes: ['keys:verify'],
  ip: null,
};

const COST_HEADER_VALUE = /^\d{1,13}$/;

/**
 * The gateway (SPEC §5): a Fastify instance apart from the API's, proxying over
 * @fastify/reply-from (undici). Each request is matched against the routes file (first rule wins,
 * nothing matched = 404), verified in-process by the same VerifyService and refusal answers as the
 * key-holder routes, and forwarded with the key removed and the X-Keyward-* identity headers set.
 * Bodies stream through both ways: only a rule whose resource is a JSON body field reads the
 * request body (bounded by BODY_LIMIT), and then the original bytes are forwarded.
 */
export async function buildGateway(
  services: Services,
  gateway: GatewayConfig,
  options: GatewayOptions,
): Promise<FastifyInstance> {
  const config = services.config;
  const trust = trustedProxy(config.trustedProxies);
  const checkForwardedIp = config.trustedProxies.length > 0;
  const { routes, timeoutMs } = gateway;
  const settlements = new Set<Promise<void>>();

  const app = Fastify({
    ...(options.logger === false ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: trust,
    genReqId: nextRequestId,
    clientErrorHandler: clientErrorHandler(nextRequestId),
    requestIdHeader: false,
    // The upstream's paths are matched by the routes file, not by Fastify's router.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2000 },
  });
  app.decorateRequest('gateway', null);
  // Every method Node parses (WebDAV's too) reaches the handler rather than Fastify's own 404.
  for (const method of METHODS)
    if (method !== 'CONNECT' && !app.supportedMethods.includes(method))
      app.addHttpMethod(method, { hasBody: true });
  registerErrorHandling(app, services.store.health);
  // Every body is handed on as the raw stream: nothing is buffered unless a rule needs a field.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  await app.register(replyFrom, {
    base: gateway.upstream,
    disableRequestLogging: true,
    // Requests are not retried: a POST may not be idempotent, and the key was charged once.
    retryMethods: [],
    // reply-from's default connector options skip certificate checks (tls.rejectUnauthorized
    // false); an https:// upstream's certificate is checked like any other client's.
    undici: { connect: { rejectUnauthorized: true } },
  });
  app.addHook('onClose', async () => {
    await Promise.allSettled([...settlements]);
  });

  const settle = (
    request: FastifyRequest,
    verification: Verification,
    input: SettleInput,
  ): void => {
    const key = verification.key;
    if (key === null) return;
    const amount = input.amount - input.estimate;
    if (amount === 0) return;
    // A reservation exists only where credits were spent; otherwise the difference is recorded by key.
    const pending = services.billing
      .settle(
        GATEWAY_ACTOR,
        verification.creditsRemaining !== null || verification.ownerCreditsRemaining !== null
          ? { verificationId: verification.verificationId, amount: input.amount }
          : { keyId: key.id, amount },
      )
      .then(
        () => {},
        (error: Error) => {
          request.log.error(
            { err: { type: error.name, message: error.message }, key_id: key.id },
            'gateway: settling usage failed',
          );
        },
      )
      .finally(() => settlements.delete(pending));
    settlements.add(pending);
  };

  const rewriteRequestHeaders = (
    request: FastifyRequest,
    headers: IncomingHttpHeaders,
  ): IncomingHttpHeaders => {
    const authorization = headers.authorization;
    if (authorization !== undefined && authorization.slice(0, 7).toLowerCase() === 'bearer ')
      delete headers.authorization;
    delete headers['x-api-key'];
    for (const name of Object.keys(headers)) {
      if (name.startsWith('x-keyward-')) delete headers[name];
    }
    const peer = request.raw.socket.remoteAddress ?? '';
    const forwarded = headers['x-forwarded-for'];
    if (trust !== false && trust(peer)) {
      headers['x-forwarded-for'] = forwarded === undefined ? peer : `${forwarded}, ${peer}`;
    } else {
      // From anyone but a trusted proxy, the client's own forwarding headers are not passed on.
      headers['x-forwarded-for'] = peer;
      delete headers.forwarded;
    }
    headers['x-forwarded-proto'] = request.protocol;
    headers['x-forwarded-host'] = request.host;
    const verification = request.gateway?.verification;
    const key = verification?.key;
    if (verification != null && key != null) {
      headers['x-keyward-key-id'] = key.id;
      headers['x-keyward-owner-id'] = key.ownerId;
      headers['x-keyward-environment'] = key.environment;
      headers['x-keyward-verification-id'] = verification.verificationId;
    }
    return headers;
  };

  const onResponse = (
    request: FastifyRequest,
    reply: FastifyReply,
    res: { headers: IncomingHttpHeaders; stream: Readable },
  ): void => {
    const context = request.gateway;
    const verification = context?.verification;
    const cost = context?.route.cost;
    if (cost?.from === 'response_header' && verification?.key?.billing === 'usage') {
      const value = res.headers[cost.name];
      if (typeof value === 'string' && COST_HEADER_VALUE.test(value.trim())) {
        settle(request, verification, { amount: Number(value.trim()), estimate: cost.estimate });
      } else {
        request.log.warn(
          { header: cost.name, key_id: verification.key.id },
          'gateway: the upstream sent no usable cost header; the estimate stays charged',
        );
      }
    }
    reply.send(res.stream);
  };

  const onError = (reply: FastifyReply, { error }: { error: Error & { statusCode?: number } }) => {
    const request = reply.request;
    const context = request.gateway;
    const verification = context?.verification;
    const cost = context?.route.cost;
    // Nothing was used when the upstream never answered: a usage-billed key is settled to zero.
    if (cost?.from === 'response_header' && verification?.key?.billing === 'usage')
      settle(request, verification, { amount: 0, estimate: cost.estimate });
    const timedOut = error.statusCode === 504;
    request.log.warn(
      { err: { type: error.name, message: error.message } },
      'gateway: upstream failed',
    );
    reply.send(
      timedOut
        ? new AppError(
            'upstream_timeout',
            `the upstream did not answer within ${timeoutMs / 1000} s`,
          )
        : new AppError(
            'upstream_unavailable',
            'the upstream could not be reached or broke off its answer',
          ),
    );
  };

  /** Hop-by-hop headers describe the upstream's connection to the gateway, not the client's. */
  const rewriteHeaders = (headers: IncomingHttpHeaders): IncomingHttpHeaders => {
    delete headers.connection;
    delete headers['keep-alive'];
    delete headers['proxy-connection'];
    return headers;
  };

  const fromOptions = {
    rewriteRequestHeaders,
    rewriteHeaders,
    onResponse,
    onError,
    timeout: timeoutMs,
  } as const;

  const forward = (request: FastifyRequest, reply: FastifyReply): FastifyReply =>
    reply.from(request.raw.url as string, fromOptions as never);

  /** Verifies the key against the rule, then forwards or answers the refusal. */
  const verifyAndForward = (
    request: FastifyRequest,
    reply: FastifyReply,
    route: GatewayRoute,
    resource: string | undefined,
  ): FastifyReply | Promise<FastifyReply> => {
    const outcome = services.verify.verify({
      key: bearer(request) ?? '',
      ip: request.ip,
      permission: route.permission,
      resource,
      cost: route.cost.from === 'fixed' ? route.cost.value : route.cost.estimate,
      method: request.method,
      path: route.path,
    });
    const finish = (result: Verification): FastifyReply => {
      const headers = rateLimitHeaders(result.rate);
      if (headers !== null) reply.headers(headers);
      if (!result.valid || result.key === null) {
        addSecurityHeaders(reply);
        throw refusalError(reply, result);
      }
      request.gateway = { route, verification: result };
      return forward(request, reply);
    };
    return outcome instanceof Promise ? outcome.then(finish) : finish(outcome);
  };

  const handler = (
    request: FastifyRequest,
    reply: FastifyReply,
  ): FastifyReply | Promise<FastifyReply> => {
    if (checkForwardedIp && !isIpAddress(request.ip))
      throw new AppError(
        'validation_error',
        'the client address forwarded by the proxy (X-Forwarded-For) is not an IP address',
      );
    const url = request.raw.url as string;
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const match = matchRoute(routes, request.method, path);
    if (match === 'bad_path')
      throw new AppError(
        'validation_error',
        'the path has an empty, "." or ".." segment or an encoded / or \\, which the gateway does not forward',
      );
    if (match === null) throw new AppError('route_not_found', notFoundMessage(request));
    const { route, params } = match;
    if (route.public) {
      request.gateway = { route, verification: null };
      return forward(request, reply);
    }
    const source = route.resource;
    // Without any key the answer is 401 whatever the request holds (and its body is not read).
    if (source === undefined || bearer(request) === undefined)
      return verifyAndForward(request, reply, route, undefined);
    switch (source.from) {
      case 'fixed':
        return verifyAndForward(request, reply, route, source.value);
      case 'path':
        return verifyAndForward(request, reply, route, params[source.name]);
      case 'query': {
        const value = query < 0 ? null : new URLSearchParams(url.slice(query + 1)).get(source.name);
        if (value === null || value === '')
          throw missingResource(`the query parameter "${source.name}"`);
        return verifyAndForward(request, reply, route, value);
      }
      case 'header': {
        const value = request.headers[source.name];
        if (typeof value !== 'string' || value === '')
          throw missingResource(`the header ${source.name}`);
        return verifyAndForward(request, reply, route, value);
      }
      case 'body':
        return readBody(request, config.bodyLimitBytes).then((bytes) => {
          const value = bodyField(bytes, source.field);
          // The upstream gets the very bytes the client sent, not a re-serialisation.
          request.body = streamOf(bytes);
          return verifyAndForward(request, reply, route, value);
        });
    }
  };

  // Every method Fastify knows reaches the handler, so one the rules do not list is answered
  // route_not_found like an unknown path.
  app.all('/', handler);
  app.all('/*', handler);
  return app;
}

interface SettleInput {
  amount: number;
  estimate: number;
}

function notFoundMessage(request: FastifyRequest): string {
  return `no gateway route for ${request.method} ${loggablePath(request.url)} (deny by default)`;
}

function missingResource(where: string): AppError {
  return new AppError('validation_error', `this route needs the resource in ${where}`);
}

/** The request body, up to `limit` bytes (a larger one is refused, never buffered whole). */
async function readBody(request: FastifyRequest, limit: number): Promise<Buffer> {
  const stream = request.body as Readable | undefined;
  if (stream === undefined || stream === null) return Buffer.alloc(0);
  const declared = Number(request.headers['content-length']);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw tooLarge(limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(limit: number): AppError {
  return new AppError(
    'payload_too_large',
    `this route reads the JSON body, which may be at most ${limit} bytes (BODY_LIMIT)`,
  );
}

function bodyField(bytes: Buffer, field: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AppError('invalid_json', 'this route needs a JSON body; the body is not valid JSON');
  }
  const value =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)[field]
      : undefined;
  if (typeof value !== 'string' || value === '')
    throw missingResource(`the JSON body's string field "${field}"`);
  return value;
}

function streamOf(bytes: Buffer): Readable {
  return Readable.from([bytes], { objectMode: false });
}
