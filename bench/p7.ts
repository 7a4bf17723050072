/**
 * P7: how long after a revocation on node A does node B refuse the key? Two `keyward serve`
 * processes share one PostgreSQL database; the bus is Redis pub/sub (REDIS_URL set) or
 * PostgreSQL LISTEN/NOTIFY. Each round creates a key, warms B's cache (a long KEY_CACHE_TTL, so
 * only the bus can explain a refusal), revokes on A and polls B back to back until it answers
 * 401. The time runs from sending the revoke to B's first 401.
 *
 *   node bench/p7.ts [--rounds 200]
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Node } from '../test/helpers/cluster.ts';

const POSTGRES_URL =
  process.env.KEYWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.KEYWARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg === -1 ? 200 : Number(process.argv[roundsArg + 1]);

async function admin(query: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function measure(bus: 'redis' | 'postgres'): Promise<number[]> {
  const name = `kw_bench_${randomBytes(6).toString('hex')}`;
  await admin(`create database ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  const env: Record<string, string> = {
    DATABASE_URL: url.toString(),
    KEY_CACHE_TTL: '10m',
    PLANS: 'free:unlimited',
    LOG_LEVEL: 'error',
    ...(bus === 'redis'
      ? { REDIS_URL, REDIS_KEY_PREFIX: `kwbench:${randomBytes(4).toString('hex')}:` }
      : {}),
  };
  const nodes: Node[] = [];
  try {
    const a = await Node.start(env);
    nodes.push(a);
    const b = await Node.start(env);
    nodes.push(b);
    await Node.cli(env, [
      'user',
      'create',
      '--email',
      'p7@example.com',
      '--password',
      'p7 bench password',
    ]);
    const login = await a.request('POST', '/v1/auth/login', {
      body: { email: 'p7@example.com', password: 'p7 bench password' },
    });
    const headers = {
      cookie: (login.headers.get('set-cookie') ?? '').split(';')[0] as string,
      'x-csrf-token': ((await login.json()) as { csrf_token: string }).csrf_token,
    };
    const samples: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const created = await a.request('POST', '/v1/keys', {
        headers,
        body: { name: `p7-${round}` },
      });
      const { id, key } = (await created.json()) as { id: string; key: string };
      const holder = { authorization: `Bearer ${key}` };
      const warm = await b.request('GET', '/v1/key', { headers: holder });
      if (warm.status !== 200) throw new Error(`warm-up answered ${warm.status}`);
      await warm.arrayBuffer();
      const started = performance.now();
      const revoked = await a.request('POST', `/v1/keys/${id}/revoke`, { headers });
      if (revoked.status !== 200) throw new Error(`revoke answered ${revoked.status}`);
      await revoked.arrayBuffer();
      for (;;) {
        const response = await b.request('GET', '/v1/key', { headers: holder });
        await response.arrayBuffer();
        if (response.status === 401) break;
        if (performance.now() - started > 10_000) throw new Error('node B never refused the key');
      }
      samples.push(performance.now() - started);
    }
    return samples.sort((x, y) => x - y);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await admin(`drop database if exists ${name} with (force)`);
  }
}

console.log(`P7 revocation propagation, ${ROUNDS} rounds per bus, node ${process.version}`);
console.log('| bus | p50 | p99 | max | target |');
console.log('|---|---|---|---|---|');
for (const bus of ['redis', 'postgres'] as const) {
  const samples = await measure(bus);
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  console.log(
    `| ${bus === 'redis' ? 'Redis pub/sub' : 'PostgreSQL LISTEN/NOTIFY'} | ${ms(percentile(samples, 50))} | ${ms(percentile(samples, 99))} | ${ms(samples[samples.length - 1] as number)} | p99 ≤ 100 ms |`,
  );
}
