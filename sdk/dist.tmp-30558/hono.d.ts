import type { Context, MiddlewareHandler } from 'hono';
import type { Verification } from './client.ts';
import { type KeywardAuthOptions } from './middleware.ts';
export type KeywardHonoOptions = KeywardAuthOptions<Context> & {
  /**
   * The client IP. Hono has no trusted-proxy setting of its own, so this is where the app says
   * whom to believe; by default the socket's address under @hono/node-server (`c.env.incoming`),
   * and no forwarded header.
   */
  ip?: (c: Context) => string | undefined;
};
/** What the middleware sets: `c.get('keyward')`. */
export type KeywardVariables = {
  keyward: Verification | null;
};
/** Hono middleware: `app.get('/x', keywardAuth({ client, permission: 'x:read' }), handler)`. */
export declare function keywardAuth(options: KeywardHonoOptions): MiddlewareHandler<{
  Variables: KeywardVariables;
}>;
export default keywardAuth;
