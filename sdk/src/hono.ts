import type { Context, MiddlewareHandler } from 'hono';
import type { Verification } from './client.ts';
import { decide, type KeywardAuthOptions, presentedKey } from './middleware.ts';

export type KeywardHonoOptions = KeywardAuthOptions<Context> & {
  /**
   * The client IP. Hono has no trusted-proxy setting of its own, so this is where the app says
   * whom to believe; by default the socket's address under @hono/node-server (`c.env.incoming`),
   * and no forwarded header.
   */
  ip?: (c: Context) => string | undefined;
};

/** What the middleware sets: `c.get('keyward')`. */
export type KeywardVariables = { keyward: Verification | null };

function socketAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/** Hono middleware: `app.get('/x', keywardAuth({ client, permission: 'x:read' }), handler)`. */
export function keywardAuth(
  options: KeywardHonoOptions,
): MiddlewareHandler<{ Variables: KeywardVariables }> {
  const ip = options.ip ?? socketAddress;
  return async (c, next) => {
    const decision = await decide(
      options,
      c as Context,
      presentedKey(c.req.header('authorization'), c.req.header('x-api-key')),
      ip(c as Context),
    );
    if (!decision.allowed) {
      const { status, headers, body } = decision.refusal;
      return new Response(JSON.stringify(body), { status, headers });
    }
    c.set('keyward', decision.verification);
    for (const [name, value] of Object.entries(decision.headers)) c.header(name, value);
    await next();
  };
}

export default keywardAuth;
