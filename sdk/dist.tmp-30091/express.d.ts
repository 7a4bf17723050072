import type { Request, RequestHandler } from 'express';
import type { Verification } from './client.ts';
import { type KeywardAuthOptions } from './middleware.ts';

declare global {
  namespace Express {
    interface Request {
      /** The verification of the request's key; null when failing open. */
      keyward?: Verification | null;
    }
  }
}
export type KeywardExpressOptions = KeywardAuthOptions<Request>;
/**
 * Express middleware: `app.post('/x', keywardAuth({ client, permission: 'x:write' }), handler)`,
 * one per route for per-route options. The client IP is `req.ip`, so the app's own
 * `trust proxy` setting decides whom X-Forwarded-For is believed from.
 */
export declare function keywardAuth(options: KeywardExpressOptions): RequestHandler;
export default keywardAuth;
