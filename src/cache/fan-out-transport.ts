import type { BusTransport, TransportHandlers } from './invalidation-bus.ts';

/**
 * Several transports as one: every message goes out on each of them, and the bus is receiving
 * while any one of them is. With Redis and PostgreSQL both carrying every message, a Redis outage
 * leaves the bus up (LISTEN/NOTIFY still delivers every invalidation), so the caches stay in use
 * instead of every request reading the database. A message arriving twice is harmless: dropping
 * a cache entry is idempotent.
 */
export class FanOutTransport implements BusTransport {
  private readonly transports: readonly BusTransport[];
  private readonly up: boolean[];

  constructor(transports: readonly BusTransport[]) {
    this.transports = transports;
    this.up = transports.map(() => false);
  }

  send(text: string): void {
    for (const transport of this.transports) transport.send(text);
  }

  async start(handlers: TransportHandlers): Promise<void> {
    await Promise.all(
      this.transports.map((transport, i) =>
        transport.start({
          onMessage: handlers.onMessage,
          onUp: () => {
            const receiving = this.up.includes(true);
            this.up[i] = true;
            // Only after every transport was down can a message have been missed.
            if (!receiving) handlers.onUp();
          },
          onDown: () => {
            if (!this.up[i]) return;
            this.up[i] = false;
            if (!this.up.includes(true)) handlers.onDown();
          },
        }),
      ),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.transports.map((transport) => transport.close()));
  }
}
