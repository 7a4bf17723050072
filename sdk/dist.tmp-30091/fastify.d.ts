import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import type { Verification } from './client.ts';
import { type KeywardAuthOptions } from './middleware.ts';

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
declare const plugin: FastifyPluginCallback<KeywardFastifyOptions>;
export declare const keywardAuth: FastifyPluginCallback<KeywardFastifyOptions>;
export default plugin;
