import { describe, expect, it } from 'vitest';
import { PERMISSION_PRESETS } from '../../src/core/key-settings.ts';
import { permits, resourceAllowed } from '../../src/core/permissions.ts';

describe('permissions', () => {
  it('matches exact grants and wildcards', () => {
    expect(permits(['*'], 'keys:write')).toBe(true);
    expect(permits(['usage:*'], 'usage:read')).toBe(true);
    expect(permits(['usage:*'], 'key:read')).toBe(false);
    expect(permits(['key:read'], 'key:read')).toBe(true);
    expect(permits(['key:read'], 'key:write')).toBe(false);
    expect(permits([], 'key:read')).toBe(false);
    expect(permits(['*:*'], 'models:invoke')).toBe(true);
  });

  it('the read-only preset reads everything and writes nothing', () => {
    const readOnly = [...PERMISSION_PRESETS.read_only];
    expect(permits(readOnly, 'key:read')).toBe(true);
    expect(permits(readOnly, 'usage:read')).toBe(true);
    expect(permits(readOnly, 'models:invoke')).toBe(false);
    expect(permits(readOnly, 'key:write')).toBe(false);
  });

  it('allowed resources: empty allows all, otherwise listed only', () => {
    expect(resourceAllowed([], 'gpt-4')).toBe(true);
    expect(resourceAllowed(['gpt-4'], 'gpt-4')).toBe(true);
    expect(resourceAllowed(['gpt-4'], 'gpt-5')).toBe(false);
    expect(resourceAllowed(['gpt-4'], undefined)).toBe(false);
  });
});
