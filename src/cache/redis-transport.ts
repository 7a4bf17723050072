import type { Redis } from 'ioredis';
import { createRedisClient } from '../limits/redis-client.ts';
import type { BusTransport, TransportHandlers } from './invalidation-bus.ts';

/** Redis pub/sub on one channel: a subscriber connection and a publisher connection. */
export class RedisBusTransport implements BusTransport {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly channel: string;

  constructor(url: string, prefix: string) {
    this.channel = `${prefix}invalidations`;
    this.publisher = createRedisClient(url);
    this.subscriber = createRedisClient(url);
  }

  async start(handlers: TransportHandlers): Promise<void> {
    this.subscriber.on('message', (channel: string, text: string) => {
      if (channel === this.channel) handlers.onMessage(text);
    });
    // Receiving again only once the subscription is confirmed; subscribing twice is harmless.
    const subscribe = () => this.subscriber.subscribe(this.channel).then(handlers.onUp, () => {});
    this.subscriber.on('ready', subscribe);
    this.subscriber.on('close', handlers.onDown);
    await subscribe();
  }

  send(text: string): void {
    this.publisher.publish(this.channel, text).catch(() => {});
  }

  async close(): Promise<void> {
    for (const client of [this.subscriber, this.publisher]) {
      await client.quit().catch(() => client.disconnect());
    }
  }
}
