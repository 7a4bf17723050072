import pg from 'pg';
import type { BusTransport, TransportHandlers } from './invalidation-bus.ts';

const CHANNEL = 'keyward_invalidations';
const RECONNECT_DELAY_MS = 500;

/**
 * PostgreSQL LISTEN/NOTIFY: one dedicated connection listens; NOTIFY goes through a small
 * separate pool. A lost listening connection is replaced every RECONNECT_DELAY_MS until the
 * database answers again.
 */
export class PostgresBusTransport implements BusTransport {
  private readonly url: string;
  private readonly notifier: pg.Pool;
  private listener: pg.Client | null = null;
  private handlers: TransportHandlers | null = null;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** NOTIFYs on their way: close() lets them go out first (a CLI command exits right after). */
  private readonly sending = new Set<Promise<unknown>>();

  constructor(url: string) {
    this.url = url;
    this.notifier = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 2000 });
    this.notifier.on('error', () => {});
    this.notifier.on('connect', (client) => {
      client.on('error', () => {});
    });
  }

  async start(handlers: TransportHandlers): Promise<void> {
    this.handlers = handlers;
    await this.listen();
  }

  send(text: string): void {
    const sent = this.notifier
      .query('select pg_notify($1, $2)', [CHANNEL, text])
      .catch(() => {})
      .finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    // Ending the pool drops the NOTIFYs still queued for one of its two connections: a command
    // that revokes several keys and exits (keyward user delete) lost all but two. They go first.
    await Promise.all([...this.sending]);
    await this.listener?.end().catch(() => {});
    await this.notifier.end().catch(() => {});
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2000 });
    const retry = () => {
      if (this.listener === client) {
        this.listener = null;
        this.handlers?.onDown();
      }
      client.end().catch(() => {});
      if (this.closed) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.listen(), RECONNECT_DELAY_MS);
      this.timer.unref();
    };
    client.on('error', retry);
    client.on('end', () => {
      if (this.listener === client) retry();
    });
    client.on('notification', (message) => {
      if (message.channel === CHANNEL && message.payload !== undefined)
        this.handlers?.onMessage(message.payload);
    });
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch {
      retry();
      return;
    }
    this.listener = client;
    this.handlers?.onUp();
  }
}
