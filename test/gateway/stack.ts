import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { ARTIFACTS_DIR, DATABASES, type TestDatabase } from '../helpers/databases.ts';
import { SECRETS_SEEN, sessionCookie, uniqueEmail } from '../helpers/harness.ts';

export interface Upstream {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** A real upstream on a free port; `handle` answers every request. */
export async function startUpstream(
  handle: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<Upstream> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers with what the upstream received: method, url, headers and the body's length and text. */
export function echo(request: IncomingMessage, response: ServerResponse): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks);
    response.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'echo' });
    response.end(
      JSON.stringify({
        method: request.method,
        url: request.url,
        headers: request.headers,
        bodyLength: body.length,
        body: body.length <= 65536 ? body.toString('utf8') : null,
      }),
    );
  });
}

export interface Echoed {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyLength: number;
  body: string | null;
}

export interface Stack {
  server: RunningServer;
  /** The gateway's base URL, e.g. http://127.0.0.1:40123 */
  gateway: string;
  /** Keyward's own API, for GET /v1/key */
  api: string;
  database: TestDatabase;
  createKey(body?: Record<string, unknown>): Promise<{ id: string; key: string }>;
  close(): Promise<void>;
}

const sqlite = DATABASES.find((d) => d.name === 'sqlite');
if (sqlite === undefined) throw new Error('SQLite is always available');

/** Keyward over a fresh SQLite database, serving the gateway in front of `upstream` by `routes`. */
export async function startStack(
  upstream: string,
  routes: unknown,
  env: Record<string, string> = {},
): Promise<Stack> {
  const database = await (sqlite as NonNullable<typeof sqlite>).create();
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const routesFile = join(ARTIFACTS_DIR, `routes-${randomBytes(6).toString('hex')}.json`);
  writeFileSync(routesFile, JSON.stringify(routes));
  const config = loadConfig({
    DATABASE_URL: database.config.url,
    LOG_LEVEL: 'silent',
    PORT: '0',
    GATEWAY_PORT: '0',
    GATEWAY_UPSTREAM: upstream,
    GATEWAY_ROUTES: routesFile,
    SHUTDOWN_DRAIN_DELAY: '0s',
    ...env,
  });
  const server = await startServer(config, createLogger('silent'));
  if (server.gateway === null) throw new Error('gateway not started');
  const account = await signup(server);
  return {
    server,
    gateway: server.gateway.address,
    api: server.address,
    database,
    async createKey(body = {}) {
      const response = await server.app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: { cookie: account.cookie, 'x-csrf-token': account.csrf },
        payload: { name: 'gateway test', ...body },
      });
      if (response.statusCode !== 201)
        throw new Error(`create key failed: ${response.statusCode} ${response.body}`);
      const json = response.json() as { id: string; key: string };
      SECRETS_SEEN.add(json.key);
      return json;
    },
    async close() {
      await server.close();
      await database.drop();
      rmSync(routesFile, { force: true });
    },
  };
}

async function signup(server: RunningServer): Promise<{ cookie: string; csrf: string }> {
  const password = `pw-${randomBytes(8).toString('hex')}-long`;
  SECRETS_SEEN.add(password);
  const response = await server.app.inject({
    method: 'POST',
    url: '/v1/auth/signup',
    payload: { email: uniqueEmail('gateway'), password },
  });
  if (response.statusCode !== 201) throw new Error(`signup failed: ${response.body}`);
  return {
    cookie: sessionCookie(response),
    csrf: (response.json() as { csrf_token: string }).csrf_token,
  };
}

/** Waits until `check` holds, polling; for effects that follow a response (settlement, usage). */
export async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never happened: ${what}`);
}
