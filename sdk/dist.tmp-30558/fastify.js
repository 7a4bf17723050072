import { decide, presentedKey } from './middleware.js';

/**
 * A Fastify plugin: every route of the scope that registers it (and of its child scopes) needs a
 * valid key, with the plugin's options overridden by the route's `config.keyward` (`false` for a
 * public route). Runs as a preHandler, so `resource` and `cost` functions can read the parsed body.
 */
const plugin = (fastify, options, done) => {
  if (!fastify.hasRequestDecorator('keyward')) fastify.decorateRequest('keyward', null);
  // Each route's merged options, worked out once per route rather than per request.
  const merged = new WeakMap();
  const optionsFor = (request) => {
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
  fastify.addHook('preHandler', async (request, reply) => {
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
