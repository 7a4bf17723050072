import { decide, presentedKey } from './middleware.js';

function socketAddress(c) {
  const env = c.env;
  return env?.incoming?.socket?.remoteAddress;
}
/** Hono middleware: `app.get('/x', keywardAuth({ client, permission: 'x:read' }), handler)`. */
export function keywardAuth(options) {
  const ip = options.ip ?? socketAddress;
  return async (c, next) => {
    const decision = await decide(
      options,
      c,
      presentedKey(c.req.header('authorization'), c.req.header('x-api-key')),
      ip(c),
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
