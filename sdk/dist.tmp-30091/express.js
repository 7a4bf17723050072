import { decide, presentedKey } from './middleware.js';
/**
 * Express middleware: `app.post('/x', keywardAuth({ client, permission: 'x:write' }), handler)`,
 * one per route for per-route options. The client IP is `req.ip`, so the app's own
 * `trust proxy` setting decides whom X-Forwarded-For is believed from.
 */
export function keywardAuth(options) {
  return (req, res, next) => {
    decide(options, req, presentedKey(req.headers.authorization, req.headers['x-api-key']), req.ip)
      .then((decision) => {
        if (decision.allowed) {
          req.keyward = decision.verification;
          res.set(decision.headers);
          next();
          return;
        }
        const { status, headers, body } = decision.refusal;
        res.status(status).set(headers).send(JSON.stringify(body));
      })
      .catch(next);
  };
}
export default keywardAuth;
