import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, Node } from '../helpers/cluster.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

const sqlite = DATABASES.find((d) => d.name === 'sqlite');
if (sqlite === undefined) throw new Error('SQLite is always available');

/** A raw TCP connection to the server, collecting what it answers and when it closes. */
function open(
  url: string,
): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.on('data', (chunk) => {
      text += String(chunk);
    });
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

function logLines(output: string): Array<{ level: number; msg: string; [k: string]: unknown }> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

describe('slow and idle clients (R19)', () => {
  let database: TestDatabase;
  let node: Node;
  beforeAll(async () => {
    database = await sqlite.create();
    node = await Node.start({
      DATABASE_URL: database.config.url,
      LOG_LEVEL: 'info',
      REQUEST_TIMEOUT: '2s',
      HEADERS_TIMEOUT: '1s',
      SHUTDOWN_DRAIN_DELAY: '0s',
    });
  });
  afterAll(async () => {
    await node.stop();
    await database.drop();
  });

  it('cuts a body sent one byte at a time after the request timeout, and serves others meanwhile', async () => {
    const slow = await open(node.url);
    slow.socket.write(
      'POST /v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{',
    );
    const drip = setInterval(() => slow.socket.write(' '), 200);
    try {
      const served = await fetch(`${node.url}/healthz`);
      expect(served.status).toBe(200);
      await slow.closed;
    } finally {
      clearInterval(drip);
    }
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    const body = JSON.parse(slow.received().slice(slow.received().indexOf('\r\n\r\n') + 4));
    expect(body.error).toMatchObject({ code: 'request_timeout', request_id: expect.any(String) });
    // The cut is the client's problem, not a database outage: no error line for it.
    await node.printed('client closed the connection');
    const lines = logLines(node.output);
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
    const aborted = lines.find((line) => line.msg === 'client closed the connection');
    expect(aborted?.level).toBe(30);
  });

  it('a client that goes away mid-body is logged as such, not as a database failure', async () => {
    const client = await open(node.url);
    client.socket.write(
      'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"em',
    );
    await node.printed('"path":"/v1/auth/login"');
    client.socket.destroy();
    await node.printed(/"path":"\/v1\/auth\/login".*"msg":"client closed the connection"/);
    expect(node.output).not.toContain('database is unavailable');
    expect(logLines(node.output).filter((line) => line.level >= 50)).toEqual([]);
  });

  it("answers oversized headers and malformed HTTP in the error shape, not Fastify's own", async () => {
    const answer = async (request: string) => {
      const client = await open(node.url);
      client.socket.write(request);
      await client.closed;
      const text = client.received();
      return {
        head: text.slice(0, 12),
        body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)),
      };
    };
    const huge = await answer(
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`,
    );
    expect(huge.head).toBe('HTTP/1.1 431');
    expect(huge.body.error.code).toBe('headers_too_large');
    const malformed = await answer('NOT HTTP AT ALL\r\n\r\n');
    expect(malformed.head).toBe('HTTP/1.1 400');
    expect(malformed.body.error.code).toBe('validation_error');
  });

  it('1,000 idle connections do not stop a normal client being served, and are closed by the headers timeout', async () => {
    const idle = await Promise.all(Array.from({ length: 1000 }, () => open(node.url)));
    const served = await fetch(`${node.url}/readyz`);
    expect(served.status).toBe(200);
    await Promise.all(idle.map((connection) => connection.closed));
    expect(idle.every((connection) => connection.socket.destroyed)).toBe(true);
  });
});

describe('connection cap', () => {
  let database: TestDatabase;
  let node: Node;
  beforeAll(async () => {
    database = await sqlite.create();
    node = await Node.start({ DATABASE_URL: database.config.url, MAX_CONNECTIONS: '3' });
  });
  afterAll(async () => {
    await node.stop();
    await database.drop();
  });

  it('drops connections past MAX_CONNECTIONS and accepts again once one closes', async () => {
    const held = await Promise.all([open(node.url), open(node.url), open(node.url)]);
    const extra = await open(node.url);
    await extra.closed;
    expect(extra.received()).toBe('');
    held[0]?.socket.destroy();
    await held[0]?.closed;
    await eventually('a connection is accepted again', async () => {
      const response = await fetch(`${node.url}/healthz`, { headers: { connection: 'close' } });
      return response.status === 200;
    });
    for (const connection of held) connection.socket.destroy();
  });
});
