import { Redis } from 'ioredis';

/** Reconnect attempts back off 50 ms per attempt up to this, so a returning Redis is seen soon. */
const RECONNECT_MAX_DELAY_MS = 500;
const CONNECT_TIMEOUT_MS = 2_000;

/**
 * The one way Keyward opens Redis; it reconnects by itself. With `commandTimeoutMs` (the limiter,
 * which a verification waits on) a command never waits for Redis: while the connection is down it
 * fails at once (no offline queue), and on a connection that went silent it fails after
 * `commandTimeoutMs`. It is not resent after a reconnect either: its caller has already answered.
 * Without it (the invalidation bus, which no request waits on) commands wait for the connection
 * and are retried once.
 */
export function createRedisClient(url: string, options: { commandTimeoutMs?: number } = {}): Redis {
  const { commandTimeoutMs } = options;
  const client = new Redis(url, {
    enableAutoPipelining: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt: number) => Math.min(attempt * 50, RECONNECT_MAX_DELAY_MS),
    ...(commandTimeoutMs === undefined
      ? { maxRetriesPerRequest: 1 }
      : {
          enableOfflineQueue: false,
          commandTimeout: commandTimeoutMs,
          maxRetriesPerRequest: 0,
          autoResendUnfulfilledCommands: false,
        }),
  });
  // Connection errors surface on the calls that fail; without a listener ioredis would print them.
  client.on('error', () => {});
  return client;
}

/** Resolves once the client is connected, or after the connect timeout if Redis is not there. */
export function whenReady(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, CONNECT_TIMEOUT_MS);
    // Waiting for Redis is no reason to keep a finished process (the CLI) alive.
    timer.unref();
    client.once('ready', done);
  });
}

/**
 * Runs `fn` on a short-lived connection of its own (doctor's checks); throws when Redis cannot be
 * reached, naming only the host and port (the URL may carry a password).
 */
export async function probeRedis<T>(url: string, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: () => null,
  });
  let cause = '';
  client.on('error', (error: Error) => {
    cause = error.message;
  });
  try {
    await client.connect();
  } catch (error) {
    const { hostname, port } = new URL(url);
    throw new Error(
      `cannot reach Redis at ${hostname}:${port || 6379} (${cause || (error as Error).message})`,
    );
  }
  try {
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** Round-trip time of one PING in milliseconds; throws when Redis cannot be reached. */
export function pingRedis(url: string): Promise<number> {
  return probeRedis(url, async (client) => {
    const started = performance.now();
    await client.ping();
    return performance.now() - started;
  });
}

/**
 * Redis's `maxmemory-policy` and `maxmemory` (bytes, 0 = no limit), or null when the server does
 * not let this connection read its configuration (managed services often rename CONFIG).
 */
export function redisMemorySettings(
  url: string,
): Promise<{ policy: string; maxmemory: number } | null> {
  return probeRedis(url, async (client) => {
    try {
      const policy = (await client.config('GET', 'maxmemory-policy')) as string[];
      const limit = (await client.config('GET', 'maxmemory')) as string[];
      if (policy[1] === undefined) return null;
      return { policy: policy[1], maxmemory: Number(limit[1] ?? 0) };
    } catch {
      return null;
    }
  });
}
