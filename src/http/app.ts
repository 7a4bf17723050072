import { randomBytes } from 'node:crypto';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import scalar from '@scalar/fastify-api-reference';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import { AppError } from '../core/errors.ts';
import type { anonymousActor } from '../services/actor.ts';
import type { Services } from '../services/index.ts';
import { cookieSettings } from './plugins/auth.ts';
import { frameworkErrors, registerErrorHandling } from './plugins/errors.ts';
import { addSecurityHeaders } from './plugins/security-headers.ts';
import { validatorCompiler } from './plugins/validation.ts';
import { adminRoutes } from './routes/admin.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { healthRoutes } from './routes/health.ts';
import { keyHolderRoutes } from './routes/key-holder.ts';
import { keyRoutes } from './routes/keys.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { usageRoutes } from './routes/usage.ts';
import { verifyRoutes } from './routes/verify.ts';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/**
 * `req_` + 32 hex digits as before, but 64 random bits per process and a counter instead of a
 * UUID per request (randomUUID and replaceAll cost several percent of a cached verification).
 */
const REQUEST_ID_PREFIX = `req_${randomBytes(8).toString('hex')}`;
let requestSeq = 0;

export interface AppOptions {
  /** A pino logger, or false for none (tests pass a logger that writes to a buffer). */
  logger: FastifyBaseLogger | false;
  /** The built dashboard (dashboard/dist by default); tests point it elsewhere. */
  dashboardDir?: string;
}

/** Builds the HTTP app over the services. It never listens; main.ts (or a test's inject) drives it. */
export async function buildApp(services: Services, options: AppOptions): Promise<App> {
  const config = services.config;
  const state = { closing: false };
  const app = Fastify({
    ...(options.logger === false ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    genReqId: () => REQUEST_ID_PREFIX + (++requestSeq).toString(16).padStart(16, '0'),
    requestIdHeader: false,
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: 'array',
        useDefaults: true,
        allErrors: false,
      },
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('actor', null as unknown as ReturnType<typeof anonymousActor>);
  app.decorateRequest('session', null);
  app.addHook('onClose', async () => {
    state.closing = true;
  });

  app.setValidatorCompiler(validatorCompiler());
  // Only JSON bodies are accepted; anything else is answered 415.
  app.removeContentTypeParser('text/plain');
  registerErrorHandling(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Keyward API',
        version: '1',
        description:
          'Self-hosted API key management: create, verify, limit and meter API keys. Errors always have the shape {"error": {"code", "message", "request_id"}}.',
      },
      components: {
        securitySchemes: {
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: cookieSettings(config.secureCookies).name,
            description: 'Dashboard session; writes also need the X-CSRF-Token header',
          },
          token: {
            type: 'http',
            scheme: 'bearer',
            description: 'Management token (kwm_…) or service token (kws_…)',
          },
          bearerKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key (sk_…), for the key-holder routes',
          },
        },
      },
      security: [{ session: [] }, { token: [] }],
    },
  });

  const cookieConfig = cookieSettings(config.secureCookies);
  // The hot path, in the root scope where no hook runs: these routes add the security headers
  // themselves and authenticate inside their handlers.
  verifyRoutes(app, services, cookieConfig);
  keyHolderRoutes(app, services);
  // Everything else, in a scope whose hooks add the security headers and write Set-Cookie.
  await app.register(async (scope: App) => {
    scope.addHook('onSend', (_request, reply, payload, done) => {
      addSecurityHeaders(reply);
      done(null, payload);
    });
    // Sessions are read from the Cookie header where needed (plugins/auth.ts), not by a hook.
    await scope.register(cookie, { hook: false });
    healthRoutes(scope, services, state);
    authRoutes(scope, services, cookieConfig);
    keyRoutes(scope, services, cookieConfig);
    tokenRoutes(scope, services, cookieConfig);
    auditRoutes(scope, services, cookieConfig);
    usageRoutes(scope, services, cookieConfig);
    adminRoutes(scope, services, cookieConfig);
    scope.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    await scope.register(async (docs: App) => {
      // Scalar's pages parse `protocol://Host` with new URL(), which throws (a 500) on a
      // malformed Host header such as "a b" or "[::1": refuse those first.
      docs.addHook('onRequest', async (request) => {
        if (!URL.canParse(request.url, `${request.protocol}://${request.hostname}`))
          throw new AppError('validation_error', 'the Host header is not a valid host name');
      });
      await docs.register(scalar, {
        routePrefix: '/docs',
        configuration: { url: '/openapi.json', title: 'Keyward API' },
      });
    });
    // Last: its catch-all GET answers only what no route above claims.
    dashboardRoutes(scope, options.dashboardDir === undefined ? {} : { dir: options.dashboardDir });
  });
  return app;
}
