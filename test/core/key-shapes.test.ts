import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import {
  apiKeyShapeChecker,
  displayParts,
  environmentOfKey,
  generateApiKey,
} from '../../src/core/api-key.ts';
import {
  keyShapeChecker,
  MAX_ACCEPTED_KEY_LENGTH,
  shapeProblem,
  splitShapes,
} from '../../src/core/key-shapes.ts';
import { newIds } from '../../src/core/secrets.ts';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('environments', () => {
  it('keys of every configured environment have the own shape, others do not', () => {
    const check = apiKeyShapeChecker('sk', ['dev', 'staging', 'prod']);
    for (const environment of ['dev', 'staging', 'prod']) {
      const key = generateApiKey('sk', environment).secret;
      expect(check(key)).toBe(true);
      expect(environmentOfKey('sk', key)).toBe(environment);
      expect(displayParts(key, true)).toEqual({
        start: key.slice(0, `sk_${environment}_`.length + 4),
        last4: key.slice(-4),
      });
    }
    expect(check(generateApiKey('sk', 'live').secret)).toBe(false);
    expect(check(generateApiKey('sk', 'stage').secret)).toBe(false);
    expect(check(`sk_prod_${'a'.repeat(39)}`)).toBe(false);
  });

  it('ENVIRONMENTS defaults to live,test and must be 2-12 lowercase letters, once each', () => {
    expect(loadConfig({}).environments).toEqual(['live', 'test']);
    expect(loadConfig({ ENVIRONMENTS: ' dev, staging ,prod' }).environments).toEqual([
      'dev',
      'staging',
      'prod',
    ]);
    expect(problems({ ENVIRONMENTS: 'dev,Prod,x,dev,toolongenvname' })).toEqual([
      'ENVIRONMENTS entry "Prod" must be 2-12 lowercase letters, e.g. live,test or dev,staging,prod',
      'ENVIRONMENTS entry "x" must be 2-12 lowercase letters, e.g. live,test or dev,staging,prod',
      'ENVIRONMENTS lists "dev" twice',
      'ENVIRONMENTS entry "toolongenvname" must be 2-12 lowercase letters, e.g. live,test or dev,staging,prod',
    ]);
  });
});

describe('ACCEPTED_KEY_SHAPES', () => {
  it('is whitespace-separated, checked at start, and refuses risky patterns', () => {
    expect(splitShapes('  ^sk-[A-Za-z0-9]{48}$   ^pk_[0-9a-f]{32}$ ')).toEqual([
      '^sk-[A-Za-z0-9]{48}$',
      '^pk_[0-9a-f]{32}$',
    ]);
    expect(shapeProblem('^sk-[A-Za-z0-9]{48}$')).toBeNull();
    expect(shapeProblem('^(?:sk|pk)-[a-f0-9]{32,64}$')).toBeNull();
    expect(shapeProblem('sk-[a-z]{10}$')).toMatch(/anchored/);
    expect(shapeProblem('^sk-[a-z]{10}')).toMatch(/anchored/);
    expect(shapeProblem('^sk-[a-z]{10}\\$')).toMatch(/anchored/);
    expect(shapeProblem('^sk-[a-z$')).toMatch(/not a valid regular expression/);
    expect(shapeProblem('^(a+)+$')).toMatch(/catastrophic/);
    expect(shapeProblem('^(a|aa)*$')).toMatch(/catastrophic/);
    expect(shapeProblem('^([a-z]{2,})+$')).toMatch(/catastrophic/);
    expect(shapeProblem('^(a)\\1$')).toMatch(/backreferences/);
    expect(shapeProblem('^a*$')).toMatch(/empty key/);
    expect(shapeProblem(`^${'a'.repeat(200)}$`)).toMatch(/longer than 200/);
    expect(loadConfig({ ACCEPTED_KEY_SHAPES: '^sk-[A-Za-z0-9]{48}$' }).acceptedKeyShapes).toEqual([
      '^sk-[A-Za-z0-9]{48}$',
    ]);
    expect(problems({ ACCEPTED_KEY_SHAPES: '^sk-[A-Za-z0-9]{48}$ ^(a+)+$ nope' })).toEqual([
      'ACCEPTED_KEY_SHAPES pattern "^(a+)+$" must not repeat a group that holds a quantifier or an alternation (catastrophic backtracking)',
      'ACCEPTED_KEY_SHAPES pattern "nope" must be anchored: start with ^ and end with $',
    ]);
  });

  it('tries the accepted shapes only for keys not of the own shape, and only up to a length', () => {
    const own = apiKeyShapeChecker('sk');
    expect(keyShapeChecker(own, [])).toBe(own);
    const check = keyShapeChecker(own, ['^sk-[A-Za-z0-9]{48}$', '^[a-z]+$']);
    expect(check(generateApiKey('sk', 'live').secret)).toBe(true);
    expect(check(`sk-${'aB3'.repeat(16)}`)).toBe(true);
    expect(check(`sk-${'aB3'.repeat(16)}x`)).toBe(false);
    expect(check('a'.repeat(MAX_ACCEPTED_KEY_LENGTH))).toBe(true);
    expect(check('a'.repeat(MAX_ACCEPTED_KEY_LENGTH + 1))).toBe(false);
    expect(check('pk_live_0')).toBe(false);
  });

  it('shows the prefix and at most 4 secret characters of an imported key', () => {
    const oneApi = `sk-${'aB3'.repeat(16)}`;
    expect(displayParts(oneApi, false)).toEqual({ start: 'sk-aB3a', last4: '3aB3' });
    expect(displayParts('abcdefghijklmnopqrstuvwx', false)).toEqual({
      start: 'abcd',
      last4: 'uvwx',
    });
    // A long prefix is shown whole, but never more secret characters than a quarter of the key.
    expect(displayParts('my_service_token_abcdefgh', false).start).toBe('my_service_');
  });
});

describe('newIds', () => {
  it('makes distinct ids of the newId form from one CSPRNG read', () => {
    const ids = newIds('key', 1000);
    expect(new Set(ids).size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^key_[a-z2-7]{24}$/);
  });
});
