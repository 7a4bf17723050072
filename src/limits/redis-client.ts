import { Redis } from 'ioredis';

/**
 * The one way Keyward opens Redis: fail fast while Redis is away (one retry per command, a short
 * connect timeout) rather than holding every verification in a queue, and reconnect by itself.
 */
export function createRedisClient(url: string): Redis {
  const client = new Redis(url, {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
  });
  // Connection errors surface on the calls that fail; without a listener ioredis would print them.
  client.on('error', () => {});
  return client;
}

/** Round-trip time of one PING in milliseconds; throws when Redis cannot be reached. */
export async function pingRedis(url: string): Promise<number> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  let cause = '';
  client.on('error', (error: Error) => {
    cause = error.message;
  });
  try {
    await client.connect();
    const started = performance.now();
    await client.ping();
    return performance.now() - started;
  } catch (error) {
    // The URL may carry a password: name only the host and port.
    const { hostname, port } = new URL(url);
    throw new Error(
      `cannot reach Redis at ${hostname}:${port || 6379} (${cause || (error as Error).message})`,
    );
  } finally {
    client.disconnect();
  }
}
