import type { FastifyReply } from 'fastify';

/**
 * Every answer says: no MIME sniffing, no Referer, and not stored by caches unless the route set
 * its own Cache-Control (the dashboard's hashed assets do). Most routes get this from an onSend
 * hook (app.ts); the hot routes (GET /v1/key, POST /v1/verify) and the error and not-found
 * handlers call it themselves, since a hook costs every request a hook-runner round trip.
 */
export function addSecurityHeaders(reply: FastifyReply): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
}
