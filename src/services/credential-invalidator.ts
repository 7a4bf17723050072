import type { Kysely } from 'kysely';
import type { InvalidationBus } from '../cache/invalidation-bus.ts';
import { listKeyHashesByOwner } from '../storage/api-keys-repository.ts';
import type { Database } from '../storage/schema.ts';
import { listTokenHashesByOwner } from '../storage/tokens-repository.ts';

/** Publishes cache invalidations after writes; every cache holding the record drops it. */
export class CredentialInvalidator {
  private readonly db: Kysely<Database>;
  private readonly bus: InvalidationBus;

  constructor(db: Kysely<Database>, bus: InvalidationBus) {
    this.db = db;
    this.bus = bus;
  }

  key(hash: string): void {
    this.bus.publish({ kind: 'key', hash });
  }

  token(hash: string): void {
    this.bus.publish({ kind: 'token', hash });
  }

  /** Every key and token of an account: used when the account is disabled or enabled. */
  async invalidateOwner(ownerId: string): Promise<void> {
    const [keys, tokens] = await Promise.all([
      listKeyHashesByOwner(this.db, ownerId),
      listTokenHashesByOwner(this.db, ownerId),
    ]);
    for (const hash of keys) this.key(hash);
    for (const hash of tokens) this.token(hash);
  }
}
