/**
 * A webhook receiver for the P11 benchmark and the R17 crash test: it verifies every request's
 * Standard Webhooks signature with the reference `standardwebhooks` library (not Keyward's code),
 * and records per `webhook-id` when it first arrived, how often, and which key and event type it
 * carried.
 *
 *   node bench/webhook-receiver.ts --serve     # prints {"url": …}; POST /__secret, GET /__count, GET /__stats
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Webhook } from 'standardwebhooks';

/** One distinct webhook-id as the receiver saw it. */
export interface Arrival {
  id: string;
  /** Wall-clock ms (sub-ms precision) of the first request with this id. */
  at: number;
  count: number;
  type: string;
  keyId: string | null;
  /** The body of every request with this id was the same. */
  sameBody: boolean;
}

export interface ReceiverStats {
  requests: number;
  distinct: number;
  badSignatures: number;
  arrivals: Arrival[];
}

export interface HookReceiver {
  server: Server;
  url: string;
  setSecret(secret: string): void;
  stats(): ReceiverStats;
  close(): Promise<void>;
}

export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Starts a receiver on a free loopback port; it answers 204 to a request that verifies, 400 else. */
export async function startHookReceiver(): Promise<HookReceiver> {
  let verifier: Webhook | null = null;
  const arrivals = new Map<string, Arrival & { body: string }>();
  let requests = 0;
  let badSignatures = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = wallMs();
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/__secret') {
        verifier = new Webhook((JSON.parse(body) as { secret: string }).secret);
        res.writeHead(204).end();
        return;
      }
      if (req.url === '/__count' || req.url === '/__stats') {
        // Counts only while polling: the whole list is large and costs the receiver time.
        const data = JSON.stringify(
          req.url === '/__stats' ? stats() : { requests, distinct: arrivals.size, badSignatures },
        );
        res.writeHead(200, { 'content-type': 'application/json' }).end(data);
        return;
      }
      requests += 1;
      const header = (name: string) => {
        const value = req.headers[name];
        return typeof value === 'string' ? value : '';
      };
      const headers = {
        'webhook-id': header('webhook-id'),
        'webhook-timestamp': header('webhook-timestamp'),
        'webhook-signature': header('webhook-signature'),
      };
      let payload: { type?: string; data?: { key?: { id?: string } } };
      try {
        if (verifier === null) throw new Error('no secret yet');
        payload = verifier.verify(body, headers) as typeof payload;
      } catch {
        badSignatures += 1;
        res.writeHead(400).end();
        return;
      }
      const id = headers['webhook-id'];
      const seen = arrivals.get(id);
      if (seen === undefined) {
        arrivals.set(id, {
          id,
          at,
          count: 1,
          type: payload.type ?? '',
          keyId: payload.data?.key?.id ?? null,
          sameBody: true,
          body,
        });
      } else {
        seen.count += 1;
        if (seen.body !== body) seen.sameBody = false;
      }
      res.writeHead(204).end();
    });
  });
  const stats = (): ReceiverStats => ({
    requests,
    distinct: arrivals.size,
    badSignatures,
    arrivals: [...arrivals.values()].map(({ body: _body, ...rest }) => rest),
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    setSecret(secret) {
      verifier = new Webhook(secret);
    },
    stats,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { serve: { type: 'boolean', default: false } } });
  if (values.serve) {
    const receiver = await startHookReceiver();
    process.stdout.write(`${JSON.stringify({ url: receiver.url })}\n`);
    process.on('SIGTERM', () => {
      receiver.close().then(() => process.exit(0));
    });
  }
}
