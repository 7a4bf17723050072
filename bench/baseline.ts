/**
 * The baselines every HTTP benchmark is divided by: bare Fastify routes, in a process started
 * exactly like Keyward's (same logger, same Node flags, same core), answering JSON bodies of the
 * size and shape Keyward's routes answer.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';

/** What GET /v1/key answers for an unrestricted key, as a constant. */
const KEY_VIEW = {
  id: 'key_aaaaaaaaaaaaaaaaaaaaaaaa',
  name: 'bench',
  environment: 'live',
  status: 'active',
  permissions: ['*'],
  expires_at: null,
  limits: {},
  credits: { remaining: null, refill: null },
};

/**
 * P1's baseline: `GET /v1/key` returning a small JSON body. P2's: `POST /v1/verify`, which parses
 * the JSON body and answers with the shape of a verification that names the presented key.
 */
export function buildBaselineApp(logger: FastifyBaseLogger | false): FastifyInstance {
  const app = Fastify(logger === false ? { logger: false } : { loggerInstance: logger });
  app.get('/v1/key', async () => KEY_VIEW);
  app.post('/v1/verify', async (request) => {
    const body = request.body as { key?: unknown };
    const key = typeof body?.key === 'string' ? body.key : '';
    return {
      valid: key.length > 0,
      code: 'VALID',
      verification_id: 'ver_0000000000000000000',
      key_id: `key_${key.slice(-24)}`,
      owner_id: 'usr_aaaaaaaaaaaaaaaaaaaaaaaa',
      name: 'bench',
      environment: 'live',
      permissions: ['*'],
      metadata: {},
      expires_at: null,
      ratelimit: null,
      credits: { remaining: null },
      retry_after: null,
    };
  });
  return app as unknown as FastifyInstance;
}
