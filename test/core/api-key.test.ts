import { describe, expect, it } from 'vitest';
import { apiKeyShapeChecker, generateApiKey, maskKey } from '../../src/core/api-key.ts';
import { sha256Hex } from '../../src/core/secrets.ts';

describe('API key format', () => {
  it('generates {prefix}_{env}_{40 hex} with start, last4 and a SHA-256 hash', () => {
    const k = generateApiKey('sk', 'live');
    expect(k.secret).toMatch(/^sk_live_[0-9a-f]{40}$/);
    expect(k.start).toBe(k.secret.slice(0, 12));
    expect(k.last4).toBe(k.secret.slice(-4));
    expect(k.hash).toBe(sha256Hex(k.secret));
    expect(maskKey(k.start, k.last4)).toBe(`${k.start}…${k.last4}`);
  });

  it('never repeats (160 random bits)', () => {
    const seen = new Set(Array.from({ length: 2000 }, () => generateApiKey('sk', 'test').secret));
    expect(seen.size).toBe(2000);
  });

  it('rejects anything not of the exact shape before any lookup', () => {
    const isKey = apiKeyShapeChecker('sk');
    const good = generateApiKey('sk', 'test').secret;
    expect(isKey(good)).toBe(true);
    expect(isKey(generateApiKey('sk', 'live').secret)).toBe(true);
    for (const bad of [
      '',
      'sk_live_',
      good.toUpperCase(),
      `${good}0`,
      good.slice(0, -1),
      good.replace('sk_', 'pk_'),
      good.replace('_test_', '_prod_'),
      `${good.slice(0, -1)}g`,
      generateApiKey('kw', 'live').secret,
    ]) {
      expect(isKey(bad), bad).toBe(false);
    }
    expect(apiKeyShapeChecker('kw')(generateApiKey('kw', 'live').secret)).toBe(true);
  });
});
