import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Node, TcpProxy } from '../helpers/cluster.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

const postgres = DATABASES.find((d) => d.name === 'postgres');
const USES = 5;
const FAILING_REQUESTS = 40;

function secretFrom(output: string): string {
  const lines = output.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

describe.skipIf(postgres === undefined)('PostgreSQL outage and shutdown', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let key: string;
  let token: string;
  beforeAll(async () => {
    database = await (postgres as NonNullable<typeof postgres>).create();
    const direct = { DATABASE_URL: database.config.url };
    await Node.cli(direct, [
      'user',
      'create',
      '--email',
      'ops@example.com',
      '--password',
      'outage admin password',
    ]);
    key = secretFrom(
      await Node.cli(direct, ['keys', 'create', '--email', 'ops@example.com', '--name', 'used']),
    );
    token = secretFrom(
      await Node.cli(direct, [
        'token',
        'create',
        '--email',
        'ops@example.com',
        '--name',
        'reader',
        '--scopes',
        'keys:read',
      ]),
    );
    const url = new URL(database.config.url);
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5432) });
  });
  afterAll(async () => {
    await proxy.cut();
    await database.drop();
  });

  const startNode = () => {
    const proxied = new URL(database.config.url);
    proxied.port = String(proxy.port);
    return Node.start({
      DATABASE_URL: proxied.toString(),
      LOG_LEVEL: 'warn',
      // Usage stays in memory until the shutdown flush.
      USAGE_FLUSH_INTERVAL: '1h',
      SHUTDOWN_DRAIN_DELAY: '0s',
      SHUTDOWN_TIMEOUT: '30s',
    });
  };
  const refused = async (node: Node) => {
    const response = await node.request('GET', '/v1/keys', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string } };
    expect(body.error.code).toBe('service_unavailable');
  };

  it('logs the outage once when it begins and once when it ends, not once per request', async () => {
    const node = await startNode();
    try {
      const before = node.output.split('\n').length;
      await proxy.cut();
      for (let i = 0; i < FAILING_REQUESTS; i += 1) await refused(node);
      const during = node.output.split('\n').slice(before - 1);
      const warnings = during.filter((line) => /"level":(40|50|60)/.test(line));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('database unavailable');
      expect(warnings[0]).toContain('ECONNREFUSED');
      expect(node.output).not.toContain('"stack"');
      await proxy.restore();
      await node.printed(/database reachable again after \d+ failed operations/);
    } finally {
      await proxy.restore();
      await node.stop();
    }
  });

  it('at SIGTERM during an outage, keeps trying to write buffered usage until the database is back', async () => {
    const node = await startNode();
    try {
      for (let i = 0; i < USES; i += 1) {
        const used = await node.request('GET', '/v1/key', {
          headers: { authorization: `Bearer ${key}` },
        });
        expect(used.status).toBe(200);
      }
      await proxy.cut();
      await refused(node);
      const exited = node.exited();
      node.signal('SIGTERM');
      await node.printed('usage not written yet');
      await proxy.restore();
      expect(await exited).toBe(0);
    } finally {
      await proxy.restore();
      await node.stop();
    }
    const client = new pg.Client({ connectionString: database.config.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ usage_count: number }>(
        'select usage_count from api_keys',
      );
      expect(rows.map((row) => Number(row.usage_count))).toEqual([USES]);
    } finally {
      await client.end();
    }
  });
});
