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
          'The database answers and has room to write, and the process is not shutting down.',
        response: {
          200: Type.Object({ status: Type.Literal('ready') }),
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
      return { status: 'ready' as const };
    },
  );
}
