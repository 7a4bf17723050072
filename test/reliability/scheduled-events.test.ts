import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asUser, createKeyAs, eventually, login, Node, type Session } from '../helpers/cluster.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

const HOUR = 3_600_000;
const SLOW = 120_000;

/** Reads the shared database directly, as an operator would, while the servers run. */
function reader(database: TestDatabase) {
  return async <T>(text: string): Promise<T[]> => {
    if (database.config.kind === 'sqlite') {
      const db = new SQLite(database.config.path, { readonly: true });
      try {
        return db.prepare(text).all() as T[];
      } finally {
        db.close();
      }
    }
    const client = new pg.Client({ connectionString: database.config.url });
    await client.connect();
    try {
      return (await client.query(text)).rows as T[];
    } finally {
      await client.end();
    }
  };
}

/** Writes straight to the shared database: seeding states the API does not let a caller make. */
function writer(database: TestDatabase) {
  return async (text: string): Promise<void> => {
    if (database.config.kind === 'sqlite') {
      const db = new SQLite(database.config.path);
      try {
        db.pragma('busy_timeout = 5000');
        db.exec(text);
      } finally {
        db.close();
      }
      return;
    }
    const client = new pg.Client({ connectionString: database.config.url });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
}

/**
 * R20: two `keyward serve` processes share one database and both run the job runner every second;
 * one of them is killed and started again in between. Each key.expiring notice, key.expired and
 * usage.threshold must be in the outbox exactly once.
 */
describe.each(DATABASES)('scheduled events on two nodes with a restart on $name (R20)', (kind) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  const nodes: Node[] = [];
  let admin: Session;
  let verifier: string;

  const start = async () => {
    const node = await Node.start(env);
    nodes.push(node);
    return node;
  };

  beforeAll(async () => {
    database = await kind.create();
    env = { DATABASE_URL: database.config.url, JOB_INTERVAL: '1s', PLANS: 'free:unlimited' };
    await Node.cli(env, ['migrate']);
    await Node.cli(env, [
      'user',
      'create',
      '--email',
      'ops@example.com',
      '--password',
      'scheduled events admin password',
      '--admin',
    ]);
  }, SLOW);
  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await database.drop();
  }, SLOW);

  it(
    'raises each notice, expiry and threshold once',
    async () => {
      const a = await start();
      admin = await login(a, 'ops@example.com', 'scheduled events admin password');
      const token = await a.request('POST', '/v1/tokens', {
        headers: asUser(admin),
        body: { name: 'verifier', scopes: ['keys:verify'] },
      });
      verifier = ((await token.json()) as { token: string }).token;
      const inHours = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();
      const soon = await createKeyAs(a, admin, { name: 'soon', expires_at: inHours(20) });
      const week = await createKeyAs(a, admin, { name: 'week', expires_at: inHours(72) });
      const gone = await createKeyAs(a, admin, { name: 'gone', expires_at: inHours(48) });
      const eighty = await createKeyAs(a, admin, {
        name: 'eighty',
        limits: { daily: { requests: 10 } },
      });
      const full = await createKeyAs(a, admin, {
        name: 'full',
        limits: { daily: { requests: 5 } },
      });
      // Expired an hour ago: the API refuses a past expiry, so it is seeded in the database.
      await writer(database)(
        `update api_keys set expires_at = ${Date.now() - HOUR} where id = '${gone.id}'`,
      );
      const verify = async (key: string) => {
        const r = await a.request('POST', '/v1/verify', {
          headers: { authorization: `Bearer ${verifier}` },
          body: { key },
        });
        expect(((await r.json()) as { valid: boolean }).valid).toBe(true);
      };
      for (let i = 0; i < 9; i += 1) await verify(eighty.key);
      for (let i = 0; i < 5; i += 1) await verify(full.key);

      const b = await start();
      const read = reader(database);
      const occurrences = () =>
        read<{ type: string; key_id: string; payload: string }>(
          `select type, key_id, payload from events where type in ('key.expiring', 'key.expired', 'usage.threshold') order by seq`,
        );
      const summary = async () =>
        (await occurrences()).map((row) => {
          const data = JSON.parse(row.payload).data as { notice?: string; threshold?: number };
          return `${row.type} ${row.key_id} ${data.notice ?? data.threshold ?? ''}`.trim();
        });
      const expected = [
        `key.expiring ${soon.id} 1d`,
        `key.expiring ${week.id} 7d`,
        `key.expired ${gone.id}`,
        `usage.threshold ${eighty.id} 80`,
        `usage.threshold ${full.id} 100`,
      ].sort();
      await eventually(
        'every scheduled event raised',
        async () => new Set(await summary()).size === expected.length,
        30_000,
      );

      // One node dies mid-run and comes back; both go on ticking.
      a.signal('SIGKILL');
      await a.exited();
      nodes.splice(nodes.indexOf(a), 1);
      const again = await start();
      // A key seeded after the restart: once its notice is out, both nodes have ticked past it.
      const later = await createKeyAs(
        again,
        await login(again, 'ops@example.com', 'scheduled events admin password'),
        { name: 'later', expires_at: inHours(5) },
      );
      await eventually(
        'the restarted cluster raises a new notice',
        async () => (await summary()).includes(`key.expiring ${later.id} 1d`),
        30_000,
      );
      // Several more ticks of both nodes over the same state.
      const ticks = await read<{ n: number }>('select count(*) as n from events');
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(Number((await read<{ n: number }>('select count(*) as n from events'))[0]?.n)).toBe(
        Number(ticks[0]?.n),
      );
      expect((await summary()).sort()).toEqual([...expected, `key.expiring ${later.id} 1d`].sort());
      expect(b.output).not.toContain('job failed');
      expect(again.output).not.toContain('job failed');
    },
    SLOW,
  );
});
