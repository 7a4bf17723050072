import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'main.ts');

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms`);
}

/** One Keyward server process (`keyward serve`), as an operator would run it. */
export class Node {
  readonly url: string;
  private readonly child: ChildProcess;
  /** Everything the process printed, for a failing test's message. */
  output = '';

  private constructor(url: string, child: ChildProcess) {
    this.url = url;
    this.child = child;
    child.stdout?.on('data', (chunk) => {
      this.output += String(chunk);
    });
    child.stderr?.on('data', (chunk) => {
      this.output += String(chunk);
    });
  }

  static async start(env: Record<string, string>): Promise<Node> {
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'warn',
        // No load balancer to drain in tests: stop() need not wait.
        SHUTDOWN_DRAIN_DELAY: '0s',
        ...env,
        PORT: String(port),
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new Node(`http://127.0.0.1:${port}`, child);
    try {
      await until('node ready', async () => (await fetch(`${node.url}/healthz`)).ok);
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`${(error as Error).message}\n${node.output}`);
    }
    return node;
  }

  /** Runs a CLI command against the same settings, e.g. `user create …`. */
  static async cli(env: Record<string, string>, args: string[]): Promise<string> {
    const child = spawn(process.execPath, [MAIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += String(chunk);
    });
    child.stderr.on('data', (chunk) => {
      output += String(chunk);
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`keyward ${args.join(' ')} exited ${code}: ${output}`);
    return output;
  }

  async request(
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: unknown } = {},
  ): Promise<Response> {
    try {
      return await fetch(`${this.url}${path}`, {
        method,
        headers: {
          ...(options.body !== undefined && { 'content-type': 'application/json' }),
          ...options.headers,
        },
        ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
      });
    } catch (error) {
      // Say what the process printed and whether it is still alive: the failing test needs it.
      const state = this.child.exitCode === null ? 'running' : `exited ${this.child.exitCode}`;
      throw new Error(
        `${method} ${path} failed (${(error as Error).message}; node ${state}):\n${this.output}`,
        { cause: error },
      );
    }
  }

  /** Sends a signal (SIGTERM for a graceful shutdown) without waiting for the exit. */
  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }

  /** Resolves with the exit code once the process has exited. */
  exited(): Promise<number | null> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Resolves once the process has printed `text` (a log line, a shutdown message). */
  printed(text: string | RegExp): Promise<void> {
    return eventually(`output contains ${String(text)}`, async () =>
      typeof text === 'string' ? this.output.includes(text) : text.test(this.output),
    );
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.on('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/**
 * A TCP relay in front of a real service (PostgreSQL, Redis): `cut()` drops every connection and
 * stops listening, as if the service went away; `restore()` brings it back on the same port.
 * The test's own service instance stays untouched for every other test running meanwhile.
 */
export class TcpProxy {
  readonly port: number;
  private readonly target: { host: string; port: number };
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  private constructor(port: number, target: { host: string; port: number }) {
    this.port = port;
    this.target = target;
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
    await proxy.restore();
    return proxy;
  }

  async restore(): Promise<void> {
    if (this.server !== null) return;
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
  }

  async cut(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Polls until `check` holds (a state the system must reach by itself); fails after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  await until(what, check, timeoutMs);
}

/**
 * A Redis server of the test's own (redis-server from the machine), so the test can stop,
 * restart and FLUSHALL it without touching the Redis other suites share.
 */
export class PrivateRedis {
  readonly port: number;
  private child: ChildProcess | null = null;

  private constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.resume();
    return redis;
  }

  async resume(): Promise<void> {
    if (this.child !== null) return;
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.child = child;
    await until('redis-server ready', () =>
      this.command('PING').then((reply) => reply.startsWith('+PONG')),
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Sends one inline command and returns the raw reply line. */
  command(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.port, '127.0.0.1');
      let reply = '';
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        reply += String(chunk);
        if (reply.includes('\r\n')) {
          socket.destroy();
          resolve(reply);
        }
      });
      socket.write(`${text}\r\n`);
    });
  }
}

/** A dashboard session on a node: the cookie and its CSRF token. */
export interface Session {
  cookie: string;
  csrf: string;
}

/** Signs in on `on`; throws unless the answer is 200. */
export async function login(on: Node, email: string, password: string): Promise<Session> {
  const response = await on.request('POST', '/v1/auth/login', { body: { email, password } });
  if (response.status !== 200) throw new Error(`login on ${on.url} answered ${response.status}`);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] as string;
  return { cookie, csrf: ((await response.json()) as { csrf_token: string }).csrf_token };
}

/** The headers of a cookie-authenticated write. */
export const asUser = (session: Session) => ({
  cookie: session.cookie,
  'x-csrf-token': session.csrf,
});

/** Creates a key as `session` on `on`; throws unless the answer is 201. */
export async function createKeyAs(
  on: Node,
  session: Session,
  body: Record<string, unknown>,
): Promise<{ id: string; key: string }> {
  const response = await on.request('POST', '/v1/keys', { headers: asUser(session), body });
  if (response.status !== 201)
    throw new Error(`create key on ${on.url} answered ${response.status}`);
  return (await response.json()) as { id: string; key: string };
}
