import { describe, expect, it } from 'vitest';
import { FanOutTransport } from '../../src/cache/fan-out-transport.ts';
import {
  type BusTransport,
  DistributedInvalidationBus,
  type Invalidation,
  type TransportHandlers,
} from '../../src/cache/invalidation-bus.ts';

/** A transport on an in-process channel whose connection the test raises and drops. */
class ChannelTransport implements BusTransport {
  private handlers: TransportHandlers | null = null;
  private readonly peers: ChannelTransport[];

  constructor(peers: ChannelTransport[]) {
    this.peers = peers;
    peers.push(this);
  }

  connected = false;

  send(text: string): void {
    for (const peer of this.peers) if (peer.connected) peer.handlers?.onMessage(text);
  }

  async start(handlers: TransportHandlers): Promise<void> {
    this.handlers = handlers;
    this.up();
  }

  up(): void {
    this.connected = true;
    this.handlers?.onUp();
  }

  down(): void {
    this.connected = false;
    this.handlers?.onDown();
  }

  async close(): Promise<void> {
    this.connected = false;
  }
}

async function node(redisPeers: ChannelTransport[], pgPeers: ChannelTransport[]) {
  const redis = new ChannelTransport(redisPeers);
  const postgres = new ChannelTransport(pgPeers);
  const bus = new DistributedInvalidationBus(new FanOutTransport([redis, postgres]));
  const seen: Invalidation[] = [];
  bus.subscribe((message) => seen.push(message));
  await bus.start();
  seen.length = 0;
  return { bus, redis, postgres, seen };
}

describe('FanOutTransport', () => {
  it('keeps the bus receiving while one transport is up, and says offline/online only when all were down', async () => {
    const redisPeers: ChannelTransport[] = [];
    const pgPeers: ChannelTransport[] = [];
    const a = await node(redisPeers, pgPeers);
    const b = await node(redisPeers, pgPeers);
    expect(b.bus.receiving).toBe(true);

    // Redis goes away for both: the bus stays up, messages arrive over the other transport.
    a.redis.down();
    b.redis.down();
    expect(b.bus.receiving).toBe(true);
    a.bus.publish({ kind: 'key', hash: 'h1' });
    expect(b.seen).toEqual([{ kind: 'key', hash: 'h1' }]);

    // Both gone on B: offline (caches bypassed); one back: online (caches cleared and used again).
    b.postgres.down();
    expect(b.bus.receiving).toBe(false);
    b.redis.up();
    expect(b.bus.receiving).toBe(true);
    expect(b.seen).toEqual([{ kind: 'key', hash: 'h1' }, { kind: 'offline' }, { kind: 'online' }]);

    // With both up, a message may arrive twice; it is the same invalidation.
    a.redis.up();
    b.postgres.up();
    b.seen.length = 0;
    a.bus.publish({ kind: 'token', hash: 'h2' });
    expect(b.seen).toEqual([
      { kind: 'token', hash: 'h2' },
      { kind: 'token', hash: 'h2' },
    ]);
    await Promise.all([a.bus.close(), b.bus.close()]);
  });
});
