import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.ts';
import { keyStatus } from '../core/key-status.ts';
import type { ApiKey } from '../core/models.ts';
import { sha256Hex } from '../core/secrets.ts';
import type { VerifyCode } from '../core/verify-codes.ts';
import { findApiKeyByHash } from '../storage/api-keys-repository.ts';
import type { Database } from '../storage/schema.ts';
import type { UsageRecorder } from './usage-recorder.ts';

/** What the cache holds per key hash: the record, or `null` for "no such key". */
export interface CachedKey {
  key: ApiKey;
  ownerDisabled: boolean;
}

/** The two maps behind verification: found keys, and a smaller one of hashes known not to exist. */
export interface KeyCachePort {
  get(hash: string): CachedKey | null | undefined;
  set(hash: string, entry: CachedKey | null): void;
}

export type Verification =
  | { valid: true; code: 'VALID'; key: ApiKey }
  | { valid: false; code: Exclude<VerifyCode, 'VALID'>; key: ApiKey | null };

const NOT_FOUND: Verification = { valid: false, code: 'NOT_FOUND', key: null };

/**
 * The hot path: shape check, one SHA-256, one map lookup; the database only on a cache miss.
 * Returns synchronously when the key is cached so callers pay no extra tick.
 */
export class VerifyService {
  private readonly db: Kysely<Database>;
  private readonly clock: Clock;
  private readonly cache: KeyCachePort;
  private readonly usage: UsageRecorder;
  private readonly isKeyShape: (candidate: string) => boolean;

  constructor(deps: {
    db: Kysely<Database>;
    clock: Clock;
    cache: KeyCachePort;
    usage: UsageRecorder;
    isKeyShape: (candidate: string) => boolean;
  }) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.cache = deps.cache;
    this.usage = deps.usage;
    this.isKeyShape = deps.isKeyShape;
  }

  verify(secret: string): Verification | Promise<Verification> {
    if (!this.isKeyShape(secret)) return NOT_FOUND;
    const hash = sha256Hex(secret);
    const cached = this.cache.get(hash);
    if (cached !== undefined) return this.decide(cached);
    return this.load(hash).then((entry) => this.decide(entry));
  }

  private async load(hash: string): Promise<CachedKey | null> {
    const found = await findApiKeyByHash(this.db, hash);
    const entry = found ?? null;
    this.cache.set(hash, entry);
    return entry;
  }

  private decide(entry: CachedKey | null): Verification {
    if (entry === null) return NOT_FOUND;
    const now = this.clock.now();
    const key = entry.key;
    const status = keyStatus(key, now);
    if (status !== 'active')
      return {
        valid: false,
        code: status === 'revoked' ? 'REVOKED' : status === 'expired' ? 'EXPIRED' : 'DISABLED',
        key,
      };
    if (entry.ownerDisabled) return { valid: false, code: 'DISABLED', key };
    this.usage.record(key.id, key.ownerId, 1, now);
    return { valid: true, code: 'VALID', key };
  }
}
