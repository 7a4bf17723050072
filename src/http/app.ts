import { randomBytes } from 'node:crypto';
import cookie from '@fastify/cookie';
import swagger, { type SwaggerTransform } from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import { AppError } from '../core/errors.ts';
import { compileIpAllowlist, isIpAddress } from '../core/ip-allowlist.ts';
import { normaliseIpAllowlist } from '../core/key-settings.ts';
import type { anonymousActor } from '../services/actor.ts';
import type { Services } from '../services/index.ts';
import { cookieSettings } from './plugins/auth.ts';
import { clientErrorHandler, frameworkErrors, registerErrorHandling } from './plugins/errors.ts';
import { addSecurityHeaders } from './plugins/security-headers.ts';
import { serializerCompiler } from './plugins/serialization.ts';
import { validatorCompiler } from './plugins/validation.ts';
import { accountRoutes } from './routes/account.ts';
import { adminRoutes } from './routes/admin.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { docsRoutes } from './routes/docs.ts';
import { healthRoutes } from './routes/health.ts';
import { invitationRoutes } from './routes/invitations.ts';
import { keyHolderRoutes } from './routes/key-holder.ts';
import { keyRoutes } from './routes/keys.ts';
import { leakRoutes } from './routes/leaks.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { recoveryRoutes } from './routes/recovery.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { usageRoutes } from './routes/usage.ts';
import { verifyRoutes } from './routes/verify.ts';
import { COMPONENT_SCHEMAS, componentName, documentRoute } from './schemas/components.ts';
import { securitySchemes } from './schemas/security.ts';

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
export const nextRequestId = () =>
  REQUEST_ID_PREFIX + (++requestSeq).toString(16).padStart(16, '0');

export interface AppOptions {
  /** A pino logger, or false for none (tests pass a logger that writes to a buffer). */
  logger: FastifyBaseLogger | false;
  /** The built dashboard (dashboard/dist by default); tests point it elsewhere. */
  dashboardDir?: string;
  /** Set `closing` to make /readyz answer 503 before the app closes (server.ts, on SIGTERM). */
  state?: { closing: boolean };
}

/**
 * Fastify's trust function for X-Forwarded-For hops, matching with the same strict parser as IP
 * allowlists (proxy-addr's own reads `0xa.0.0.1` as 10.0.0.1).
 */
export function trustedProxy(entries: readonly string[]): ((address: string) => boolean) | false {
  const normalised = normaliseIpAllowlist(entries);
  if (!normalised.ok) throw new Error(`TRUSTED_PROXIES entry "${normalised.bad}" is not valid`);
  return compileIpAllowlist(normalised.entries) ?? false;
}

/** The groups of operations in the OpenAPI document, in the order /docs lists them. */
const OPENAPI_TAGS = [
  { name: 'Verification', description: 'For your backend: verify a key, settle its usage' },
  { name: 'Key holder', description: 'For the holder of an API key: the key itself' },
  { name: 'Keys', description: 'Create, list, change, rotate, revoke and delete API keys' },
  { name: 'Usage', description: "A key's usage history and recent requests" },
  { name: 'Tokens', description: 'Management and service tokens' },
  {
    name: 'Accounts',
    description: 'Sign up, sign in, sessions, invitations and password reset',
  },
  { name: 'Audit', description: 'Who did what' },
  { name: 'Admin', description: 'Users, plans and invitations (admins only)' },
  { name: 'Leaks', description: 'Secret-scanning reports of exposed API keys' },
  { name: 'Operations', description: 'Health checks' },
];

/** Builds the HTTP app over the services. It never listens; main.ts (or a test's inject) drives it. */
export async function buildApp(services: Services, options: AppOptions): Promise<App> {
  const config = services.config;
  const state = options.state ?? { closing: false };
  const app = Fastify({
    ...(options.logger === false ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: trustedProxy(config.trustedProxies),
    genReqId: nextRequestId,
    clientErrorHandler: clientErrorHandler(nextRequestId),
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
  app.setSerializerCompiler(serializerCompiler(COMPONENT_SCHEMAS));
  // Only JSON bodies are accepted; anything else is answered 415.
  app.removeContentTypeParser('text/plain');
  registerErrorHandling(app, services.store.health);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Keyward API',
        version: '1',
        description:
          'Self-hosted API key management: create, verify, limit and meter API keys. Errors always have the shape {"error": {"code", "message", "request_id"}} (the Error schema).',
      },
      tags: OPENAPI_TAGS,
      components: {
        securitySchemes: securitySchemes(
          cookieSettings(config.secureCookies).name,
          config.keyPrefix,
        ),
      },
    },
    refResolver: { buildLocalReference: componentName },
    transform: documentRoute as unknown as SwaggerTransform,
  });
  // The named schemas, before any route references them (schemas/components.ts).
  for (const schema of COMPONENT_SCHEMAS) app.addSchema(schema);

  if (config.trustedProxies.length > 0) {
    // request.ip may now come from X-Forwarded-For. When the hop it stops at is not one strict
    // IP address, the request is refused rather than have garbage compared with allowlists,
    // counted by the login throttle or stored (docs/SECURITY.md). Without trusted proxies
    // request.ip is the socket's address and the hot path keeps running without hooks.
    app.addHook('onRequest', (request, _reply, done) => {
      const ip = request.ip;
      done(
        ip === undefined || isIpAddress(ip)
          ? undefined
          : new AppError(
              'validation_error',
              'the client address forwarded by the proxy (X-Forwarded-For) is not an IP address',
            ),
      );
    });
  }
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
    recoveryRoutes(scope, services, cookieConfig);
    keyRoutes(scope, services, cookieConfig);
    tokenRoutes(scope, services, cookieConfig);
    auditRoutes(scope, services, cookieConfig);
    accountRoutes(scope, services, cookieConfig);
    usageRoutes(scope, services, cookieConfig);
    adminRoutes(scope, services, cookieConfig);
    invitationRoutes(scope, services, cookieConfig);
    notificationRoutes(scope, services, cookieConfig);
    await leakRoutes(scope, services, cookieConfig);
    scope.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    await docsRoutes(scope);
    // Last: its catch-all GET answers only what no route above claims.
    dashboardRoutes(scope, options.dashboardDir === undefined ? {} : { dir: options.dashboardDir });
  });
  return app;
}
