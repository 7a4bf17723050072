import { createHmac } from 'node:crypto';
import { signingKey } from './secret-box.ts';

/**
 * One Standard Webhooks signature: `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, keyed
 * with the decoded `whsec_` secret.
 */
export function signature(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', signingKey(secret));
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
