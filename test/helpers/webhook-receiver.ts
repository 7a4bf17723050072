import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { vi } from 'vitest';

/** One request a receiver got: its headers (lower-case names) and body as sent. */
export interface ReceivedHook {
  headers: Record<string, string>;
  body: string;
  path: string;
}

/** What the receiver answers a request: a status (and body, headers), or `hang` (no answer). */
export type Answer = { status: number; body?: string; headers?: Record<string, string> } | 'hang';

export interface Receiver {
  url: string;
  port: number;
  received: ReceivedHook[];
  /** Requests whose answer has not been sent yet, now and at most at once. */
  open(): number;
  maxOpen(): number;
  answer: (hook: ReceivedHook, index: number) => Answer;
  /** Resolves once `count` requests have arrived (or rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedHook[]>;
  ids(): string[];
  close(): Promise<void>;
}

/** A real HTTP server on a free loopback port that keeps every webhook request it receives. */
export async function startReceiver(
  answer: (hook: ReceivedHook, index: number) => Answer = () => ({ status: 204 }),
): Promise<Receiver> {
  const received: ReceivedHook[] = [];
  const waiters: Array<() => void> = [];
  const hanging = new Set<ServerResponse>();
  let open = 0;
  let maxOpen = 0;
  const receiver: Receiver = {
    url: '',
    port: 0,
    received,
    open: () => open,
    maxOpen: () => maxOpen,
    answer,
    async waitFor(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`expected ${count} webhook requests, got ${received.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 200));
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return received;
    },
    ids: () => received.map((r) => r.headers['webhook-id'] ?? ''),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    open += 1;
    maxOpen = Math.max(maxOpen, open);
    res.on('close', () => {
      open -= 1;
      hanging.delete(res);
    });
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (typeof value === 'string') headers[name] = value;
      const hook = { headers, body: Buffer.concat(chunks).toString('utf8'), path: req.url ?? '/' };
      const index = received.length;
      received.push(hook);
      for (const wake of waiters.splice(0)) wake();
      const reply = receiver.answer(hook, index);
      if (reply === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}`;
  return receiver;
}

/**
 * Verifies a request with the reference `standardwebhooks` library (not Keyward's code) and
 * returns the parsed payload; throws when the signature does not verify. The library checks the
 * timestamp against the wall clock, so its clock is set to the request's own timestamp: the
 * tests run Keyward on a manual clock.
 */
export function verifyHook(secret: string, hook: ReceivedHook, atTimestamp = true): unknown {
  if (atTimestamp) {
    vi.useFakeTimers({
      toFake: ['Date'],
      now: Number(hook.headers['webhook-timestamp']) * 1000,
    });
  }
  try {
    return new Webhook(secret).verify(hook.body, {
      'webhook-id': hook.headers['webhook-id'] ?? '',
      'webhook-timestamp': hook.headers['webhook-timestamp'] ?? '',
      'webhook-signature': hook.headers['webhook-signature'] ?? '',
    });
  } finally {
    if (atTimestamp) vi.useRealTimers();
  }
}
