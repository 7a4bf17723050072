import { Agent, type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Node } from '../helpers/cluster.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

const sqlite = DATABASES.find((d) => d.name === 'sqlite');
if (sqlite === undefined) throw new Error('SQLite is always available');

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

function collect(response: IncomingMessage): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let body = '';
    response.on('data', (chunk) => {
      body += String(chunk);
    });
    response.on('end', () =>
      resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
    );
    response.on('error', reject);
  });
}

/** A request over `agent` whose body is sent only when `finish` is called: in flight meanwhile. */
function startRequest(
  agent: Agent,
  url: string,
  path: string,
  body: string,
): { socket: Promise<Socket>; finish: () => void; answer: Promise<Answer> } {
  let finish = () => {};
  let gotSocket: (socket: Socket) => void = () => {};
  const socket = new Promise<Socket>((resolve) => {
    gotSocket = resolve;
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = request(`${url}${path}`, {
      agent,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('socket', (s) => gotSocket(s as Socket));
    req.on('response', (response) => collect(response).then(resolve, reject));
    req.on('error', reject);
    req.write(body.slice(0, 5));
    finish = () => req.end(body.slice(5));
  });
  return { socket, finish, answer };
}

function get(agent: Agent, url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent });
    req.on('response', (response) => collect(response).then(resolve, reject));
    req.on('error', reject);
    req.end();
  });
}

describe('graceful shutdown on SIGTERM (keep-alive clients)', () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await sqlite.create();
  });
  afterEach(async () => {
    await database.drop();
  });

  it('is unready at once, answers the request in flight with Connection: close, closes idle sockets and exits 0', async () => {
    const node = await Node.start({
      DATABASE_URL: database.config.url,
      // debug: a line as each request arrives (the in-flight request's is awaited below).
      LOG_LEVEL: 'debug',
      SHUTDOWN_DRAIN_DELAY: '1s',
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 10 });
    try {
      // An idle keep-alive socket, left open by an earlier request.
      const idle = await get(agent, `${node.url}/healthz`);
      expect(idle.headers.connection).toBe('keep-alive');
      const idleSockets = Object.values(agent.freeSockets).flat() as Socket[];
      expect(idleSockets).toHaveLength(1);
      const idleClosed = new Promise((resolve) => idleSockets[0]?.once('close', resolve));

      const inFlight = startRequest(
        agent,
        node.url,
        '/v1/auth/signup',
        JSON.stringify({ email: 'drain@example.com', password: 'a long enough password' }),
      );
      await inFlight.socket;
      await node.printed('"url":"/v1/auth/signup","msg":"request arrived"');
      const exited = node.exited();
      node.signal('SIGTERM');
      await node.printed('SIGTERM received');

      const ready = await fetch(`${node.url}/readyz`, { headers: { connection: 'close' } });
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'shutting down' });

      await node.printed(
        /closing: waiting for \d+ connections? still open: 1 request in flight \(POST \/v1\/auth\/signup\)/,
      );
      inFlight.finish();
      const answer = await inFlight.answer;
      expect(answer.status).toBe(201);
      expect(answer.headers.connection).toBe('close');
      await idleClosed;

      expect(await exited).toBe(0);
      expect(node.output).toContain('stopped');
      expect(node.output).not.toContain('is the database reachable');
    } finally {
      agent.destroy();
      await node.stop();
    }
  });

  it('past SHUTDOWN_TIMEOUT, cuts what is still open, says what it was and exits 1', async () => {
    const node = await Node.start({
      DATABASE_URL: database.config.url,
      // debug: a line as each request arrives (the in-flight request's is awaited below).
      LOG_LEVEL: 'debug',
      SHUTDOWN_DRAIN_DELAY: '0s',
      SHUTDOWN_TIMEOUT: '1s',
    });
    const agent = new Agent({ keepAlive: true });
    try {
      const stuck = startRequest(agent, node.url, '/v1/auth/login', '{"email":"x","password":"y"}');
      await stuck.socket;
      await node.printed('"url":"/v1/auth/login","msg":"request arrived"');
      const exited = node.exited();
      node.signal('SIGTERM');
      await expect(stuck.answer).rejects.toThrow();
      expect(await exited).toBe(1);
      expect(node.output).toMatch(
        /could not finish shutting down within 1 s: 1 connection still open: 1 request in flight \(POST \/v1\/auth\/login\); closed them/,
      );
    } finally {
      agent.destroy();
      await node.stop();
    }
  });

  it('a request still arriving when the server closes is answered 503 in the API error shape', async () => {
    const node = await Node.start({
      DATABASE_URL: database.config.url,
      SHUTDOWN_DRAIN_DELAY: '0s',
    });
    const { hostname, port } = new URL(node.url);
    const socket = connect(Number(port), hostname);
    let raw = '';
    socket.on('data', (chunk) => {
      raw += String(chunk);
    });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      // Headers in transit: not idle, so closing the server does not drop the connection.
      socket.write('GET /v1/keys HTTP/1.1\r\nHost: x\r\n');
      const exited = node.exited();
      node.signal('SIGTERM');
      await node.printed(/closing: waiting for \d+ connections? still open/);
      socket.write('\r\n');
      await closed;
      expect(await exited).toBe(0);
      expect(raw).toMatch(/^HTTP\/1\.1 503 /);
      expect(raw.toLowerCase()).toContain('connection: close');
      const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
      expect(body.error.code).toBe('service_unavailable');
      expect(body.error.message).toContain('shutting down');
      expect(body.error.request_id).toMatch(/^req_[0-9a-f]{32}$/);
    } finally {
      socket.destroy();
      await node.stop();
    }
  });
});
