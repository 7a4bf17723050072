import type { Kysely } from 'kysely';
import type { InvalidationBus } from '../cache/invalidation-bus.ts';
import { listKeyHashesByOwner } from '../storage/api-keys-repository.ts';
import type { Database } from '../storage/schema.ts';
import { listTokenHashesByOwner } from '../storage/tokens-repository.ts';

export interface OwnerHashes {
  keys: string[];
  tokens: string[];
}

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
    this.publish(await this.ownerHashes(this.db, ownerId));
  }

  /** The hashes of an account's keys and tokens, read with `db` (a transaction about to delete them). */
  async ownerHashes(db: Kysely<Database>, ownerId: string): Promise<OwnerHashes> {
    const [keys, tokens] = await Promise.all([
      listKeyHashesByOwner(db, ownerId),
      listTokenHashesByOwner(db, ownerId),
    ]);
    return { keys, tokens };
  }

  publish(hashes: OwnerHashes): void {
    for (const hash of hashes.keys) this.key(hash);
    for (const hash of hashes.tokens) this.token(hash);
  }
}
