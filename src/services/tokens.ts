import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.ts';
import { parseDurationMs } from '../core/duration.ts';
import { AppError } from '../core/errors.ts';
import { isExpirationPreset, presetExpiresAt } from '../core/expiration.ts';
import type { Token, User } from '../core/models.ts';
import { newId, sha256Hex } from '../core/secrets.ts';
import {
  generateToken,
  isTokenShape,
  type Scope,
  SERVICE_SCOPES,
  tokenKindForScopes,
} from '../core/token.ts';
import type { Database } from '../storage/schema.ts';
import {
  deleteToken,
  findTokenByHash,
  findTokenById,
  insertToken,
  listTokens,
} from '../storage/tokens-repository.ts';
import { findUserById } from '../storage/users-repository.ts';
import type { Actor } from './actor.ts';
import { recordAudit } from './audit.ts';
import type { CredentialInvalidator } from './credential-invalidator.ts';
import type { UsageRecorder } from './usage-recorder.ts';

export interface CachedToken {
  token: Token;
  owner: User;
}

/** Found tokens and misses (null), kept apart so a flood of made-up tokens cannot evict real ones. */
export interface TokenCache {
  get(hash: string): CachedToken | null | undefined;
  /** Read before the database lookup of a miss, and handed back to `set`. */
  version(): number;
  /** Caches a looked-up entry, unless an invalidation came since `version`. */
  set(hash: string, entry: CachedToken | null, version: number): void;
}

export type TokenAuthResult =
  | { ok: true; token: Token; owner: User }
  | { ok: false; reason: 'unknown' | 'expired' | 'owner_disabled' };

const TOKEN_LIFETIMES =
  'expires_in must be a preset (30d, 90d, 6m for six months, 1y, never) or a number of seconds, hours, days or weeks such as 12h';

/**
 * A token's lifetime reads like a key's expiration: the key presets mean the same here (`6m` is
 * six months, as for keys), and other durations may be given in s, h, d or w. Minutes are refused
 * rather than guessed: `15m` is six months or a quarter hour depending on which form one knows.
 */
function tokenExpiry(now: number, text: string): number | null {
  if (isExpirationPreset(text)) return presetExpiresAt(now, text);
  const ms = text.endsWith('m') ? null : parseDurationMs(text);
  if (ms === null || ms <= 0) throw new AppError('validation_error', TOKEN_LIFETIMES);
  return now + ms;
}

export class TokenService {
  private readonly db: Kysely<Database>;
  private readonly readDb: Kysely<Database>;
  private readonly clock: Clock;
  private readonly cache: TokenCache;
  private readonly invalidator: CredentialInvalidator;
  private readonly usage: UsageRecorder;

  constructor(deps: {
    db: Kysely<Database>;
    /** For the lookup of a cache miss: must not wait for a write transaction (Store.readDb). */
    readDb: Kysely<Database>;
    clock: Clock;
    cache: TokenCache;
    invalidator: CredentialInvalidator;
    usage: UsageRecorder;
  }) {
    this.db = deps.db;
    this.readDb = deps.readDb;
    this.clock = deps.clock;
    this.cache = deps.cache;
    this.invalidator = deps.invalidator;
    this.usage = deps.usage;
  }

  /**
   * Mints a token for the acting user. Only a dashboard session or the CLI may: a token never
   * mints another token. Service scopes (`kws_`) need an admin.
   */
  async create(
    actor: Actor,
    input: { name: string; scopes: Scope[]; expiresIn?: string; ownerId?: string },
  ): Promise<{ token: Token; secret: string }> {
    if (actor.type !== 'user' && actor.type !== 'cli')
      throw new AppError('forbidden', 'tokens can only be created from a signed-in session');
    const ownerId = actor.type === 'cli' ? input.ownerId : actor.user?.id;
    if (ownerId === undefined) throw new AppError('validation_error', 'owner is required');
    const owner = await findUserById(this.db, ownerId);
    if (owner === undefined) throw new AppError('not_found', 'user not found');
    const scopes = [...new Set(input.scopes)];
    if (scopes.length === 0)
      throw new AppError('validation_error', 'scopes must name at least one scope');
    const kind = tokenKindForScopes(scopes);
    if (kind === 'service' && owner.role !== 'admin') {
      throw new AppError('forbidden', `only an admin may grant ${SERVICE_SCOPES.join(', ')}`);
    }
    const name = input.name.trim();
    if (name.length === 0 || name.length > 100)
      throw new AppError('validation_error', 'name must be 1 to 100 characters');
    const now = this.clock.now();
    const expiresAt = input.expiresIn === undefined ? null : tokenExpiry(now, input.expiresIn);
    const generated = generateToken(kind);
    const token: Token = {
      id: newId('tok'),
      ownerId,
      kind,
      name,
      hash: generated.hash,
      start: generated.start,
      last4: generated.last4,
      scopes,
      createdAt: now,
      expiresAt,
      lastUsedAt: null,
    };
    await this.db.transaction().execute(async (trx) => {
      await insertToken(trx, token);
      await recordAudit(
        trx,
        actor,
        {
          action: 'token.created',
          ownerId,
          targetType: 'token',
          targetId: token.id,
          details: { name, scopes, kind },
        },
        now,
      );
    });
    return { token, secret: generated.secret };
  }

  /** The caller's tokens; the CLI sees every account's, or one account's with `ownerId`. */
  async list(actor: Actor, ownerId?: string): Promise<Token[]> {
    return listTokens(this.db, actor.type === 'cli' ? ownerId : actor.user?.id);
  }

  async delete(actor: Actor, id: string): Promise<void> {
    const now = this.clock.now();
    const hash = await this.db.transaction().execute(async (trx) => {
      const token = await findTokenById(trx, id);
      if (token === undefined || (actor.type !== 'cli' && token.ownerId !== actor.user?.id)) {
        throw new AppError('not_found', 'token not found');
      }
      await deleteToken(trx, id);
      await recordAudit(
        trx,
        actor,
        {
          action: 'token.deleted',
          ownerId: token.ownerId,
          targetType: 'token',
          targetId: id,
          details: { name: token.name },
        },
        now,
      );
      return token.hash;
    });
    this.invalidator.token(hash);
  }

  /**
   * Resolves a presented token. Cached by hash, positive and negative, invalidated on delete; a
   * cached token is answered without a promise (POST /v1/verify authenticates one per request).
   */
  authenticate(secret: string): TokenAuthResult | Promise<TokenAuthResult> {
    if (!isTokenShape(secret)) return { ok: false, reason: 'unknown' };
    const hash = sha256Hex(secret);
    const entry = this.cache.get(hash);
    if (entry !== undefined) return this.check(entry);
    return this.load(hash).then((loaded) => this.check(loaded));
  }

  private async load(hash: string): Promise<CachedToken | null> {
    const version = this.cache.version();
    const token = await findTokenByHash(this.readDb, hash);
    const owner = token && (await findUserById(this.readDb, token.ownerId));
    const entry = token !== undefined && owner !== undefined ? { token, owner } : null;
    this.cache.set(hash, entry, version);
    return entry;
  }

  private check(entry: CachedToken | null): TokenAuthResult {
    if (entry === null) return { ok: false, reason: 'unknown' };
    const now = this.clock.now();
    if (entry.token.expiresAt !== null && entry.token.expiresAt <= now)
      return { ok: false, reason: 'expired' };
    if (entry.owner.disabled) return { ok: false, reason: 'owner_disabled' };
    this.usage.recordTokenUse(entry.token.id, now);
    return { ok: true, token: entry.token, owner: entry.owner };
  }
}
