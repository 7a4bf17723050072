import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.KEYWARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisReachable(): Promise<boolean> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A fresh key prefix, so each test's Redis state is its own and can be removed afterwards. */
export function redisTestPrefix(): string {
  return `kwtest:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under the prefix. */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const client = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

export interface LimiterBackend {
  name: 'memory' | 'redis';
  /** Settings that select the backend (a fresh prefix per call for Redis). */
  env(): Record<string, string>;
}

const memory: LimiterBackend = { name: 'memory', env: () => ({}) };
const redis: LimiterBackend = {
  name: 'redis',
  env: () => ({ REDIS_URL, REDIS_KEY_PREFIX: redisTestPrefix() }),
};

/**
 * The limiter backends every limits-touching suite runs against. Redis is skipped locally when it
 * is not running, but never in CI: there its absence fails the run.
 */
export const LIMITER_BACKENDS: LimiterBackend[] = await (async () => {
  if (await redisReachable()) return [memory, redis];
  if (process.env.CI) throw new Error(`Redis is required in CI but ${REDIS_URL} is unreachable`);
  console.warn(`Redis at ${REDIS_URL} is unreachable: running the in-memory limiter suites only`);
  return [memory];
})();
