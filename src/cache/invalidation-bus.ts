import { randomBytes } from 'node:crypto';

export type Invalidation =
  | { kind: 'key' | 'token'; hash: string }
  /**
   * To this node's caches only. `offline`: the transport lost its connection, so messages from
   * other nodes may be missed: drop everything and cache nothing until `online`, which says the
   * connection is back (drop everything again: what was sent meanwhile is gone).
   */
  | { kind: 'offline' | 'online' }
  /** To this node's caches only: another process changed the database; drop every record. */
  | { kind: 'reset' };

/**
 * Carries cache invalidations to every cache that holds records, on this node at once and on
 * every other node through a transport (Redis pub/sub or PostgreSQL LISTEN/NOTIFY).
 */
export interface InvalidationBus {
  /**
   * True when no change by any process can escape this bus (SqliteChangeBus): cached records then
   * need no fresh TTL. Buses that can lose a message, or see only this process, leave it unset.
   */
  readonly seesEveryChange?: boolean;
  /**
   * Whether changes made by other nodes are arriving right now; absent for buses that have no
   * connection to lose. While false, the caches are bypassed (for /readyz: a degraded node).
   */
  readonly receiving?: boolean;
  /**
   * Messages sent to other nodes, received from them (for SqliteChangeBus: commits by other
   * processes noticed), and times the transport lost its connection; for the metrics.
   */
  readonly stats: BusStats;
  /** Connects the cross-node transport, if any. */
  start?(): Promise<void>;
  publish(message: Invalidation): void;
  subscribe(handler: (message: Invalidation) => void): void;
  close(): Promise<void>;
}

export interface BusStats {
  sent: number;
  received: number;
  disconnects: number;
}

export class LocalInvalidationBus implements InvalidationBus {
  readonly stats: BusStats = { sent: 0, received: 0, disconnects: 0 };
  private readonly handlers: Array<(message: Invalidation) => void> = [];

  publish(message: Invalidation): void {
    for (const handler of this.handlers) handler(message);
  }

  subscribe(handler: (message: Invalidation) => void): void {
    this.handlers.push(handler);
  }

  async close(): Promise<void> {
    this.handlers.length = 0;
  }
}

export interface TransportHandlers {
  onMessage(text: string): void;
  onUp(): void;
  onDown(): void;
}

/** How messages leave this node and arrive from the others. */
export interface BusTransport {
  /** Sends one message to every node (this one included, which ignores its own). */
  send(text: string): void;
  /**
   * `onMessage` gets every text sent by any node; `onUp` is called each time the transport is
   * (again) receiving, `onDown` each time it stopped receiving.
   */
  start(handlers: TransportHandlers): Promise<void>;
  close(): Promise<void>;
}

/**
 * Invalidations for many nodes: applied to this node's caches synchronously (so the node that
 * made a change refuses the old record on the very next request), then sent to every other node.
 * A message is `<node id> <kind> <hash>`; hashes are SHA-256 digests, never secrets. While the
 * transport is down the caches are bypassed (every request reads the database), so a revocation
 * made on another node meanwhile cannot be missed; the caches' fresh-TTL bounds staleness when a
 * message is lost without the transport noticing.
 */
export class DistributedInvalidationBus implements InvalidationBus {
  private readonly local = new LocalInvalidationBus();
  private readonly nodeId = randomBytes(8).toString('hex');
  private readonly transport: BusTransport;
  private connected = false;
  readonly stats: BusStats = { sent: 0, received: 0, disconnects: 0 };

  constructor(transport: BusTransport) {
    this.transport = transport;
  }

  start(): Promise<void> {
    // Until the transport is receiving, nothing may be served from a cache.
    this.local.publish({ kind: 'offline' });
    return this.transport.start({
      onMessage: (text) => {
        const [node, kind, hash] = text.split(' ');
        if (node === this.nodeId || hash === undefined) return;
        if (kind === 'key' || kind === 'token') {
          this.stats.received += 1;
          this.local.publish({ kind, hash });
        }
      },
      onUp: () => {
        this.connected = true;
        this.local.publish({ kind: 'online' });
      },
      onDown: () => {
        if (this.connected) this.stats.disconnects += 1;
        this.connected = false;
        this.local.publish({ kind: 'offline' });
      },
    });
  }

  get receiving(): boolean {
    return this.connected;
  }

  publish(message: Invalidation): void {
    this.local.publish(message);
    if (message.kind === 'key' || message.kind === 'token') {
      this.stats.sent += 1;
      this.transport.send(`${this.nodeId} ${message.kind} ${message.hash}`);
    }
  }

  subscribe(handler: (message: Invalidation) => void): void {
    this.local.subscribe(handler);
  }

  async close(): Promise<void> {
    await this.transport.close();
    await this.local.close();
  }
}

/** How often SqliteChangeBus asks SQLite whether another connection has committed. */
const SQLITE_POLL_MS = 100;

/**
 * The bus of a SQLite deployment: this process's changes are applied to its caches at once, and
 * a commit by any other process on the same file (the CLI, a second server) is noticed through
 * SQLite's `data_version`, which changes exactly when another connection has committed, polled
 * every 100 ms; every cached record is then dropped. No change can be missed, so the caches need
 * no fresh TTL.
 */
export class SqliteChangeBus implements InvalidationBus {
  readonly seesEveryChange = true;
  readonly stats: BusStats = { sent: 0, received: 0, disconnects: 0 };
  private readonly local = new LocalInvalidationBus();
  private readonly dataVersion: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(dataVersion: () => number) {
    this.dataVersion = dataVersion;
  }

  async start(): Promise<void> {
    let seen = this.dataVersion();
    this.timer = setInterval(() => {
      let now: number;
      try {
        now = this.dataVersion();
      } catch {
        // The connection is closing (shutdown); a timer must not throw out of the process.
        return;
      }
      if (now === seen) return;
      seen = now;
      this.stats.received += 1;
      this.local.publish({ kind: 'reset' });
    }, SQLITE_POLL_MS);
    this.timer.unref();
  }

  publish(message: Invalidation): void {
    this.local.publish(message);
  }

  subscribe(handler: (message: Invalidation) => void): void {
    this.local.subscribe(handler);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.local.close();
  }
}
