import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLimiter } from '../../src/limits/redis-limiter.ts';
import { dropRedisPrefix, LIMITER_BACKENDS, REDIS_URL, redisTestPrefix } from '../helpers/redis.ts';

/**
 * A Redis that stops answering without closing the connection (a network partition, a stalled
 * server): the limiter must give up after its command timeout instead of waiting for TCP to notice.
 * A relay in front of the shared Redis stops forwarding replies; the shared server is untouched.
 */
class SilencingRelay {
  private server: Server | null = null;
  private readonly upstreams = new Set<Socket>();
  port = 0;

  async start(target: URL): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname);
      this.upstreams.add(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.upstreams.delete(upstream);
      };
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
  }

  /** Replies stop arriving; the connections stay open. */
  silence(): void {
    for (const upstream of this.upstreams) upstream.pause();
  }

  async close(): Promise<void> {
    for (const upstream of this.upstreams) upstream.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe.skipIf(!LIMITER_BACKENDS.some((b) => b.name === 'redis'))(
  'Redis limiter against a Redis that went silent',
  () => {
    const relay = new SilencingRelay();
    const prefix = redisTestPrefix();
    let closed: RedisLimiter;
    let open: RedisLimiter;

    beforeAll(async () => {
      await relay.start(new URL(REDIS_URL));
      const url = `redis://127.0.0.1:${relay.port}`;
      closed = new RedisLimiter({ url, prefix, commandTimeoutMs: 50 });
      open = new RedisLimiter({ url, prefix, commandTimeoutMs: 50, failOpen: true });
      expect(await closed.available()).toBe(true);
    });
    afterAll(async () => {
      await Promise.all([closed.close(), open.close()]);
      await relay.close();
      await dropRedisPrefix(prefix);
    });

    it('every call gets its answer after the command timeout: refused when closed, admitted when open', async () => {
      const request = () => ({
        keyId: randomUUID(),
        now: Date.now(),
        cost: 1,
        rate: [{ limit: 10, windowMs: 1000 }],
        quotas: [],
      });
      expect((await closed.consume(request())).allowed).toBe(true);
      expect(await closed.available()).toBe(true);
      relay.silence();
      const refused = await Promise.allSettled(
        Array.from({ length: 20 }, () => closed.consume(request())),
      );
      expect(refused.map((r) => (r.status === 'rejected' ? r.reason.code : 'answered'))).toEqual(
        Array(20).fill('service_unavailable'),
      );
      const admitted = await Promise.all(Array.from({ length: 20 }, () => open.consume(request())));
      expect(admitted.filter((d) => d.allowed)).toHaveLength(20);
      expect(await closed.available()).toBe(false);
    });
  },
);
