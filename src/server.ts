import { randomBytes } from 'node:crypto';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import { quotedVisibly } from './core/email.ts';
import { type App, buildApp } from './http/app.ts';
import { errorBody } from './http/plugins/errors.ts';
import { loggablePath } from './logger.ts';
import { createServices, type Services } from './services/index.ts';
import { openStore } from './storage/database.ts';
import { migrateToLatest } from './storage/migrations.ts';

export interface ShutdownOutcome {
  /** Everything finished before SHUTDOWN_TIMEOUT: no connection cut, all usage written. */
  clean: boolean;
  /** What was still open or unwritten when the deadline passed. */
  unfinished: string[];
}

export interface RunningServer {
  app: App;
  services: Services;
  address: string;
  /** Gateway mode's listener (GATEWAY_PORT), or null when GATEWAY_UPSTREAM is not set. */
  gateway: { app: FastifyInstance; address: string } | null;
  /**
   * The graceful stop `serve` does on SIGTERM: not ready at once, connections refused after
   * SHUTDOWN_DRAIN_DELAY, in-flight requests answered with `Connection: close`, usage flushed
   * (retried until SHUTDOWN_TIMEOUT), database closed. `say` hears each step.
   */
  shutdown(say: (line: string) => void, options?: { drain?: boolean }): Promise<ShutdownOutcome>;
  /** Stops at once: no drain delay, no retries (tests, benchmarks). */
  close(): Promise<void>;
}

/** How often, while closing, connections that have gone idle are closed. */
const IDLE_SWEEP_MS = 100;

/** Node's own timeouts, and a cap on connections, applied before the server listens. */
function applyConnectionLimits(server: Server, http: Config['http']): void {
  server.requestTimeout = http.requestTimeoutMs;
  server.headersTimeout = http.headersTimeoutMs;
  server.keepAliveTimeout = http.keepAliveTimeoutMs;
  server.maxConnections = http.maxConnections;
  // Node checks the two timeouts above only this often (30 s by default, read when it starts
  // listening): a slow client would otherwise keep its connection up to 30 s past them.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    Math.min(1000, Math.ceil(http.headersTimeoutMs / 2));
}

/** The response a socket is answering now (Node's own field; absent between requests). */
function responseOn(socket: Socket): (ServerResponse & { req: IncomingMessage }) | undefined {
  return (
    (socket as Socket & { _httpMessage?: (ServerResponse & { req: IncomingMessage }) | null })
      ._httpMessage ?? undefined
  );
}

/** "2 connections still open: 1 request in flight (POST /v1/keys), 1 sending its request" */
function describeOpen(sockets: Set<Socket>): string {
  const requests: string[] = [];
  for (const socket of sockets) {
    const response = responseOn(socket);
    if (response !== undefined && !response.writableFinished)
      requests.push(`${response.req.method} ${loggablePath(response.req.url ?? '')}`);
  }
  const others = sockets.size - requests.length;
  const parts = [
    ...(requests.length > 0
      ? [
          `${requests.length} request${requests.length === 1 ? '' : 's'} in flight (${requests.join(', ')})`,
        ]
      : []),
    ...(others > 0 ? [`${others} idle or sending a request`] : []),
  ];
  return `${sockets.size} connection${sockets.size === 1 ? '' : 's'} still open: ${parts.join(', ')}`;
}

/** Opens the database, applies migrations, wires services and HTTP, and listens. */
export async function startServer(
  config: Config,
  logger: FastifyBaseLogger,
): Promise<RunningServer> {
  const store = openStore(config.database, logger);
  try {
    const report = await migrateToLatest(store.db, store.dialect);
    for (const group of report.lookalikes) {
      logger.warn(
        {
          normalised_email: group.normalised,
          accounts: group.accounts.map((a) => ({ id: a.id, email: quotedVisibly(a.email) })),
        },
        'look-alike accounts: these emails differ only by case, width or invisible characters; left unchanged (see keyward doctor)',
      );
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  const services = createServices(config, store, {
    logger,
    onError: (error, context) => logger.warn({ err: error }, `${context} failed`),
  });
  const state = { closing: false };
  const app = await buildApp(services, { logger, state });
  const server = app.server;
  applyConnectionLimits(server, config.http);
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  server.on('connection', track);
  await services.start();
  const address = await app.listen({ port: config.port, host: config.host });
  // The gateway (docs/GATEWAY.md) shares the services, the connection limits and the shutdown.
  let gateway: RunningServer['gateway'] = null;
  if (config.gateway !== null) {
    // Imported only here: @fastify/reply-from and undici cost a start without a gateway ~0.1 s.
    const { buildGateway } = await import('./gateway/app.ts');
    const gatewayApp = await buildGateway(services, config.gateway, { logger });
    applyConnectionLimits(gatewayApp.server, config.http);
    gatewayApp.server.on('connection', track);
    try {
      const gatewayAddress = await gatewayApp.listen({
        port: config.gateway.port,
        host: config.host,
      });
      gateway = { app: gatewayApp, address: gatewayAddress };
    } catch (error) {
      await Promise.all([app.close(), gatewayApp.close()]);
      await services.usage.stop();
      await services.stop();
      await store.close();
      throw error;
    }
  }
  const servers = gateway === null ? [server] : [server, gateway.app.server];
  const closeApps = () => Promise.all([app.close(), gateway?.app.close()]);

  let phase: 'serving' | 'draining' | 'closing' = 'serving';
  /**
   * From the signal on, every answer carries `Connection: close` so clients take their next
   * request elsewhere; once closing, a request that still arrives on an open connection is
   * answered 503 in the API's error shape without running. Swapping the listener only then keeps
   * the serving path free of the check.
   */
  let intercepting = false;
  const interceptRequests = () => {
    if (intercepting) return;
    intercepting = true;
    // The API's listener and the gateway's alike.
    for (const target of servers) {
      const [fastifyHandler] = target.listeners('request') as RequestListener[];
      if (fastifyHandler === undefined) continue;
      target.removeAllListeners('request');
      target.on('request', (request: IncomingMessage, response: ServerResponse) => {
        response.shouldKeepAlive = false;
        if (phase !== 'closing') {
          fastifyHandler.call(target, request, response);
          return;
        }
        const body = JSON.stringify(
          errorBody(
            'service_unavailable',
            'the server is shutting down; send the request again',
            `req_${randomBytes(16).toString('hex')}`,
          ),
        );
        response.writeHead(503, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
        });
        response.end(body);
      });
    }
    for (const socket of sockets) {
      const response = responseOn(socket);
      if (response !== undefined && !response.headersSent) response.shouldKeepAlive = false;
    }
  };

  /** After the usage recorder has stopped: the limiter, the bus, then the database. */
  const closeServices = async () => {
    await services.stop();
    await store.close();
  };

  let closing: Promise<unknown> | undefined;
  const close = () => {
    closing ??= (async () => {
      phase = 'closing';
      state.closing = true;
      interceptRequests();
      await closeApps();
      await services.usage.stop();
      await closeServices();
    })();
    return closing as Promise<void>;
  };

  const shutdown = async (
    say: (line: string) => void,
    options: { drain?: boolean } = {},
  ): Promise<ShutdownOutcome> => {
    const { shutdownTimeoutMs } = config.http;
    const shutdownDrainDelayMs = options.drain === false ? 0 : config.http.shutdownDrainDelayMs;
    const deadline = AbortSignal.timeout(shutdownTimeoutMs);
    const unfinished: string[] = [];
    phase = 'draining';
    state.closing = true;
    interceptRequests();
    if (shutdownDrainDelayMs > 0) {
      say(
        `not ready any more; still serving for ${shutdownDrainDelayMs / 1000} s so load balancers can stop sending requests`,
      );
      await sleep(shutdownDrainDelayMs);
    }
    phase = 'closing';
    if (sockets.size > 0) say(`closing: waiting for ${describeOpen(sockets)}`);
    const sweep = setInterval(() => {
      for (const s of servers) s.closeIdleConnections();
    }, IDLE_SWEEP_MS);
    const closed = closeApps();
    const timedOut = new Promise<'deadline'>((resolve) =>
      deadline.addEventListener('abort', () => resolve('deadline'), { once: true }),
    );
    if ((await Promise.race([closed.then(() => 'closed' as const), timedOut])) === 'deadline') {
      unfinished.push(`${describeOpen(sockets)}; closed them`);
      for (const s of servers) s.closeAllConnections();
      await closed;
    }
    clearInterval(sweep);
    const pending = services.usage.pending;
    try {
      await services.usage.stop({
        until: deadline,
        onRetry: (error) => {
          say(
            `usage not written yet (${(error as Error).message}); trying again until the shutdown deadline`,
          );
        },
      });
    } catch (error) {
      unfinished.push(
        `usage of ${pending.keys} keys (${pending.requests} requests) not written: ${(error as Error).message}`,
      );
    }
    await closeServices();
    return { clean: unfinished.length === 0, unfinished };
  };

  return { app, services, address, gateway, shutdown, close };
}
