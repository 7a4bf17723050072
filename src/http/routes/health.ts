import { Type } from 'typebox';
import type { Services } from '../../services/index.ts';
import type { App } from '../app.ts';

export function healthRoutes(app: App, services: Services, state: { closing: boolean }): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['Operations'],
        summary: 'Liveness',
        description: 'The process is up.',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['Operations'],
        summary: 'Readiness',
        description:
          'The database answers and has room to write, and the process is not shutting down. `degraded` (still 200: the node serves safely, and every node shares the same Redis): Redis or the invalidation bus is unreachable; `checks` says which.',
        response: {
          200: Type.Object({
            status: Type.Union([Type.Literal('ready'), Type.Literal('degraded')]),
            checks: Type.Optional(Type.Record(Type.String(), Type.String())),
          }),
          503: Type.Object({ status: Type.Literal('unavailable'), reason: Type.String() }),
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
