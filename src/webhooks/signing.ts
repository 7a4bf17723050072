import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { signingKey } from './secret-box.ts';

/**
 * One Standard Webhooks signature: `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, keyed
 * with the decoded `whsec_` secret.
 */
const keys = new Map<string, KeyObject>();

/** The HMAC key object of a secret, made once (importing a key costs more than the HMAC). */
function keyObject(secret: string): KeyObject {
  let key = keys.get(secret);
  if (key === undefined) {
    if (keys.size >= 10_000) keys.clear();
    key = createSecretKey(signingKey(secret));
    keys.set(secret, key);
  }
  return key;
}

export function signature(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', keyObject(secret));
  mac.update(`${id}.${timestamp}.`);
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}

/**
 * The `webhook-signature` header: one signature per secret in use, space-separated (during a
 * roll, the new secret's first, then the previous one's), so receivers holding either verify.
 */
export function signatureHeader(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): string {
  return secrets.map((secret) => signature(secret, id, timestamp, body)).join(' ');
}
