import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.ts';
import { AppError } from '../core/errors.ts';
import { adjustCredits, findApiKeyById } from '../storage/api-keys-repository.ts';
import { claimReservation, deleteReservationsBefore } from '../storage/reservations-repository.ts';
import type { Database } from '../storage/schema.ts';
import { adjustOwnerCredits, findUserById, lockUserRow } from '../storage/users-repository.ts';
import { type Actor, actsOnAnyOwner, hasScope } from './actor.ts';
import type { UsageRecorder } from './usage-recorder.ts';

export interface Settlement {
  keyId: string;
  /** What verification reserved (0 when settling by key id). */
  reserved: number;
  /** The final amount reported. */
  amount: number;
  /** Credits actually moved: negative = charged, positive = refunded. */
  adjusted: number;
  /** Balance afterwards; null = unlimited. */
  remaining: number | null;
  /** The owner's shared balance afterwards, when the settlement moved it; null otherwise. */
  ownerRemaining: number | null;
}

/** Reservations older than this can no longer be settled and are deleted. */
export const RESERVATION_TTL_MS = 7 * 86_400_000;

/**
 * Usage-based billing: verification reserved an estimated cost; the settlement charges the
 * difference to the final amount (or refunds it) atomically, never taking the balance below zero.
 * A reservation settles once. When the owner's shared credits were debited with the key's (owner
 * balances), the owner's balance moves by the same difference in the same transaction; settling by
 * key id charges the owner when its credits are limited.
 */
export class BillingService {
  private readonly db: Kysely<Database>;
  private readonly clock: Clock;
  private readonly usage: UsageRecorder;
  private readonly dialect: 'sqlite' | 'postgres';

  constructor(deps: {
    db: Kysely<Database>;
    dialect: 'sqlite' | 'postgres';
    clock: Clock;
    usage: UsageRecorder;
  }) {
    this.db = deps.db;
    this.dialect = deps.dialect;
    this.clock = deps.clock;
    this.usage = deps.usage;
  }

  async settle(
    actor: Actor,
    input: { verificationId?: string; keyId?: string; amount: number },
  ): Promise<Settlement> {
    if ((input.verificationId === undefined) === (input.keyId === undefined)) {
      throw new AppError('validation_error', 'send either verification_id or key_id');
    }
    const now = this.clock.now();
    const result = await this.db.transaction().execute(async (trx) => {
      let keyId: string;
      let reserved = 0;
      let reservation: Awaited<ReturnType<typeof claimReservation>>;
      if (input.verificationId !== undefined) {
        reservation = await claimReservation(trx, input.verificationId, now);
        if (reservation === undefined)
          throw new AppError(
            'not_found',
            'no open reservation with this verification_id (unknown, expired, or already settled)',
          );
        keyId = reservation.keyId;
        reserved = reservation.reserved;
      } else {
        keyId = input.keyId as string;
      }
      const key = await findApiKeyById(trx, keyId);
      // Like verification, settling serves every owner's keys for a `keys:verify` service token.
      const anyOwner = hasScope(actor, 'keys:verify') || actsOnAnyOwner(actor);
      if (key === undefined || (!anyOwner && key.ownerId !== actor.user?.id))
        throw new AppError('not_found', 'API key not found');
      if (key.billing !== 'usage')
        throw new AppError(
          'invalid_state',
          'this key is billed per request; only billing "usage" keys settle usage',
        );
      const delta = reserved - input.amount;
      // A reservation says whether the owner paid too; a settlement by key id charges the owner
      // whose credits are limited now.
      const ownerPays =
        delta !== 0 &&
        (reservation === undefined
          ? (await findUserById(trx, key.ownerId))?.credits.remaining != null
          : reservation.ownerId !== null);
      // The owner's row first, then the key's: the order verification and rotation lock them in.
      if (ownerPays && this.dialect === 'postgres') await lockUserRow(trx, key.ownerId);
      const ownerAdjusted = ownerPays ? await adjustOwnerCredits(trx, key.ownerId, delta) : null;
      const adjusted =
        delta === 0 || key.credits.remaining === null
          ? null
          : await adjustCredits(trx, this.dialect, keyId, delta);
      return { key, reserved, adjusted, ownerAdjusted };
    });
    const { key, reserved, adjusted, ownerAdjusted } = result;
    const extra = input.amount - reserved;
    if (extra !== 0) {
      // The history records what was used: the reservation was recorded at verify time, this is the rest.
      this.usage.recordAmount(key.id, key.ownerId, extra, now);
    }
    return {
      keyId: key.id,
      reserved,
      amount: input.amount,
      adjusted: adjusted?.applied ?? 0,
      remaining: adjusted?.remaining ?? key.credits.remaining,
      ownerRemaining: ownerAdjusted?.remaining ?? null,
    };
  }

  async prune(): Promise<void> {
    await deleteReservationsBefore(this.db, this.clock.now() - RESERVATION_TTL_MS);
  }
}
