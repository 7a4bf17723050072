export interface Invalidation {
  kind: 'key' | 'token';
  hash: string;
}

/**
 * Carries cache invalidations to every cache that holds records. This process's caches are
 * subscribed directly; a cross-node transport (Redis pub/sub, PostgreSQL NOTIFY) plugs in here.
 */
export interface InvalidationBus {
  publish(message: Invalidation): void;
  subscribe(handler: (message: Invalidation) => void): void;
  close(): Promise<void>;
}

export class LocalInvalidationBus implements InvalidationBus {
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
