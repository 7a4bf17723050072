import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

const problems = (env: Record<string, string>, files: Record<string, string> = {}) => {
  try {
    loadConfig(env, (path) => {
      const text = files[path];
      if (text === undefined) throw new Error('ENOENT: no such file');
      return text;
    });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

const pem = (curve: string) =>
  generateKeyPairSync('ec', { namedCurve: curve }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;

describe('job, idle-key and leak settings', () => {
  it('defaults: a one-minute tick, idle keys off, no GitHub keys', () => {
    const config = loadConfig({});
    expect(config.jobs).toEqual({ intervalMs: 60_000, idleKeyDays: 0, idleKeyAction: 'notify' });
    expect(config.githubSecretScanningKeys).toEqual([]);
  });

  it('reads the settings, the GitHub keys inline or from a file', () => {
    const doc = JSON.stringify({
      public_keys: [{ key_identifier: 'abc123', key: pem('prime256v1'), is_current: true }],
    });
    const config = loadConfig(
      {
        JOB_INTERVAL: '15s',
        IDLE_KEY_DAYS: '90',
        IDLE_KEY_ACTION: 'disable',
        GITHUB_SECRET_SCANNING_KEYS: '/etc/keyward/github.json',
      },
      () => doc,
    );
    expect(config.jobs).toEqual({ intervalMs: 15_000, idleKeyDays: 90, idleKeyAction: 'disable' });
    expect(config.githubSecretScanningKeys.map((k) => k.id)).toEqual(['abc123']);
    expect(
      loadConfig({ GITHUB_SECRET_SCANNING_KEYS: doc }).githubSecretScanningKeys.map((k) => k.id),
    ).toEqual(['abc123']);
  });

  it('lists every bad setting at once', () => {
    expect(
      problems({ JOB_INTERVAL: '0s', IDLE_KEY_DAYS: '-1', IDLE_KEY_ACTION: 'delete' }),
    ).toEqual([
      'IDLE_KEY_ACTION must be notify or disable (got "delete")',
      'JOB_INTERVAL must be a duration such as 30s, 15m, 12h or 7d (got "0s")',
      'IDLE_KEY_DAYS must be a whole number from 0 to 3650 (got "-1")',
    ]);
  });

  it('refuses a GitHub keys document that is unreadable, not JSON, empty or not P-256', () => {
    expect(problems({ GITHUB_SECRET_SCANNING_KEYS: '/missing.json' })).toEqual([
      'GITHUB_SECRET_SCANNING_KEYS "/missing.json" could not be read: ENOENT: no such file',
    ]);
    expect(problems({ GITHUB_SECRET_SCANNING_KEYS: '{not json' })[0]).toMatch(
      /^GITHUB_SECRET_SCANNING_KEYS is not JSON/,
    );
    expect(problems({ GITHUB_SECRET_SCANNING_KEYS: '{"public_keys": []}' })).toEqual([
      'GITHUB_SECRET_SCANNING_KEYS must be an object with a non-empty "public_keys" list',
    ]);
    const wrong = JSON.stringify({
      public_keys: [
        { key_identifier: 'p384', key: pem('secp384r1') },
        { key_identifier: '', key: pem('prime256v1') },
        { key_identifier: 'junk', key: 'not a key' },
      ],
    });
    const found = problems({ GITHUB_SECRET_SCANNING_KEYS: wrong });
    expect(found).toHaveLength(3);
    expect(found[0]).toMatch(/public_keys\[0\]\.key is not an ECDSA P-256 public key/);
    expect(found[1]).toBe(
      'GITHUB_SECRET_SCANNING_KEYS public_keys[1].key_identifier must be a non-empty identifier',
    );
    expect(found[2]).toMatch(/public_keys\[2\]\.key is not an ECDSA P-256 public key/);
  });
});
