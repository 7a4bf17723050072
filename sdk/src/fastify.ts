import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { Verification } from './client.ts';
import { decide, type KeywardAuthOptions, presentedKey } from './middleware.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verification of the request's key; null on a route without the check or failing open. */
    keyward: Verification | null;
  }
  interface FastifyContextConfig {
    /** Per-route options over the plugin's (`permission`, `cost` …), or false for a public route. */
    keyward?: Partial<Omit<KeywardAuthOptions<FastifyRequest>, 'client'>> | false;
  }
}

export type KeywardFastifyOptions = KeywardAuthOptions<FastifyRequest>;

/**
 * A Fastify plugin: every route of the scope that registers it (and of its child scopes) needs a
 * valid key, with the plugin's options overridden by the route's `config.keyward` (`false` for a
 * public route). Runs as a preHandler, so `resource` and `cost` functions can read the parsed body.
 */
const plugin: FastifyPluginCallback<KeywardFastifyOptions> = (
  fastify: FastifyInstance,
  options: KeywardFastifyOptions,
  done: (error?: Error) => void,
) => {
  if (!fastify.hasRequestDecorator('keyward')) fastify.decorateRequest('keyward', null);
  // Each route's merged options, worked out once per route rather than per request.
  const merged = new WeakMap<object, KeywardFastifyOptions>();
  const optionsFor = (request: FastifyRequest): KeywardFastifyOptions | null => {
    const perRoute = request.routeOptions.config.keyward;
    if (perRoute === false) return null;
    if (perRoute === undefined) return options;
    let route = merged.get(perRoute);
    if (route === undefined) {
      route = { ...options, ...perRoute };
      merged.set(perRoute, route);
    }
    return route;
  };
  fastify.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    // A path no route serves is Fastify's 404, as without the plugin: no key is charged for it.
    if (request.is404) return;
    const routeOptions = optionsFor(request);
    if (routeOptions === null) return;
    const decision = await decide(
      routeOptions,
      request,
      presentedKey(request.headers.authorization, request.headers['x-api-key']),
      request.ip,
    );
    if (decision.allowed) {
      request.keyward = decision.verification;
      reply.headers(decision.headers);
      return;
    }
    const { status, headers, body } = decision.refusal;
    return reply.code(status).headers(headers).send(body);
  });
  done();
};

// Fastify's own convention (what fastify-plugin sets): the hook applies to the scope that
// registers the plugin instead of a scope of its own, without a runtime dependency on fastify-plugin.
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@keyward/sdk',
});

export const keywardAuth = plugin;
export default plugin;
