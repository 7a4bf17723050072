import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * SHA-256 hex digest: how every key, token and session id is stored and looked up. The one-shot
 * `crypto.hash` is about 2.5x faster than a `createHash` object here, and this is the hot path.
 */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

type IdPrefix = 'key' | 'usr' | 'tok' | 'aud' | 'ver' | 'evt' | 'whk' | 'whd' | 'inv' | 'pwr';
const ID_BYTES = 15;

/** `prefix` + the 15 bytes at `offset` of `bytes` as 24 lowercase base32 characters. */
function idFrom(prefix: IdPrefix, bytes: Uint8Array, offset: number): string {
  let out = `${prefix}_`;
  // 15 bytes = 120 bits = 24 groups of 5 bits.
  let buffer = 0;
  let bits = 0;
  for (let i = offset; i < offset + ID_BYTES; i++) {
    buffer = (buffer << 8) | (bytes[i] as number);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(buffer >> bits) & 31];
    }
  }
  return out;
}

/** `prefix` + 24 lowercase base32 characters (120 random bits): ids that do not leak counts. */
export function newId(prefix: IdPrefix): string {
  return idFrom(prefix, randomBytes(ID_BYTES), 0);
}

/** `count` ids as newId makes them, from one read of the CSPRNG (an import makes thousands). */
export function newIds(prefix: IdPrefix, count: number): string[] {
  const bytes = randomBytes(ID_BYTES * count);
  return Array.from({ length: count }, (_, i) => idFrom(prefix, bytes, i * ID_BYTES));
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
