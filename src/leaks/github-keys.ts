import { createPublicKey, type KeyObject, verify } from 'node:crypto';

/** One of GitHub's secret-scanning signing keys. */
export interface GithubSigningKey {
  id: string;
  key: KeyObject;
}

/** Where GitHub publishes its secret-scanning public keys (the format GITHUB_SECRET_SCANNING_KEYS takes). */
export const GITHUB_KEYS_URL = 'https://api.github.com/meta/public_keys/secret_scanning';

/**
 * Reads GitHub's public-keys document, `{"public_keys": [{"key_identifier", "key", "is_current"}]}`
 * with each key an ECDSA P-256 public key in PEM. Every problem is listed; keys are parsed once.
 */
export function parseGithubKeys(
  text: string,
): { ok: true; keys: GithubSigningKey[] } | { ok: false; problems: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`is not JSON: ${(error as Error).message}`] };
  }
  const list = (parsed as { public_keys?: unknown } | null)?.public_keys;
  if (!Array.isArray(list) || list.length === 0)
    return { ok: false, problems: ['must be an object with a non-empty "public_keys" list'] };
  const problems: string[] = [];
  const keys: GithubSigningKey[] = [];
  list.forEach((entry: unknown, i) => {
    const item = entry as { key_identifier?: unknown; key?: unknown } | null;
    const id = item?.key_identifier;
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(id)) {
      problems.push(`public_keys[${i}].key_identifier must be a non-empty identifier`);
      return;
    }
    if (typeof item?.key !== 'string') {
      problems.push(`public_keys[${i}].key must be a PEM public key`);
      return;
    }
    try {
      const key = createPublicKey(item.key);
      const details = key.asymmetricKeyDetails;
      if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1')
        throw new Error('not an ECDSA P-256 key');
      keys.push({ id, key });
    } catch (error) {
      problems.push(
        `public_keys[${i}].key is not an ECDSA P-256 public key (${(error as Error).message})`,
      );
    }
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, keys };
}

/**
 * Checks GitHub's `Github-Public-Key-Signature` (base64 DER ECDSA over SHA-256 of the raw body)
 * made with the key `Github-Public-Key-Identifier` names. False for an unknown key or a bad signature.
 */
export function githubSignatureValid(
  keys: readonly GithubSigningKey[],
  keyId: string,
  signature: string,
  body: Buffer,
): boolean {
  const found = keys.find((k) => k.id === keyId);
  if (found === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return false;
  try {
    return verify('sha256', body, found.key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
