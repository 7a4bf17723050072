import type { Services } from '../../services/index.ts';
import { buildCommit, VERSION } from '../../version.ts';
import type { App } from '../app.ts';
import { ref } from '../schemas/common.ts';
import { Liveness, Readiness, Unavailable } from '../schemas/health.ts';
import { SECURITY } from '../schemas/security.ts';

export function healthRoutes(app: App, services: Services, state: { closing: boolean }): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['Operations'],
        operationId: 'liveness',
        summary: 'Liveness',
        security: SECURITY.none,
        description: 'The process is up, with the release and commit it runs.',
        response: { 200: ref(Liveness, { description: 'Up' }) },
      },
    },
    async () => ({ status: 'ok' as const, version: VERSION, commit: buildCommit() }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['Operations'],
        operationId: 'readiness',
        summary: 'Readiness',
        security: SECURITY.none,
        description:
          'The database answers and has room to write, and the process is not shutting down. `degraded` (still 200: the node serves safely, and every node shares the same Redis): Redis or the invalidation bus is unreachable; `checks` says which.',
        response: {
          200: ref(Readiness, { description: 'Ready to serve (or degraded but serving)' }),
          503: ref(Unavailable, { description: 'Not ready: take this node out of rotation' }),
        },
      },
    },
    async (_request, reply) => {
      if (state.closing)
        return reply.status(503).send({ status: 'unavailable' as const, reason: 'shutting down' });
      if (services.store.health.condition === 'full')
        return reply.status(503).send({ status: 'unavailable' as const, reason: 'storage full' });
      try {
        await services.store.ping();
      } catch {
        return reply
          .status(503)
          .send({ status: 'unavailable' as const, reason: 'database unavailable' });
      }
      const checks = await services.dependencies();
      if (Object.values(checks).every((state) => state === 'ok'))
        return { status: 'ready' as const };
      return { status: 'degraded' as const, checks: { database: 'ok', ...checks } };
    },
  );
}
