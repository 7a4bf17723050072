import { describe, expect, it } from 'vitest';
import { cookieValue } from '../../src/http/plugins/auth.ts';

describe('cookieValue (the session cookie is read from the Cookie header on demand)', () => {
  it('finds the named cookie among others, the first of that name, trimmed', () => {
    expect(cookieValue('a=1; keyward_session=abc-_9; b=2', 'keyward_session')).toBe('abc-_9');
    expect(cookieValue('keyward_session=first;keyward_session=second', 'keyward_session')).toBe(
      'first',
    );
    expect(cookieValue('  keyward_session =  v  ', 'keyward_session')).toBe('v');
  });

  it('decodes percent-encoding and quotes, and keeps a value that is not valid encoding', () => {
    expect(cookieValue('s=a%20b', 's')).toBe('a b');
    expect(cookieValue('s="quoted"', 's')).toBe('quoted');
    expect(cookieValue('s=100%', 's')).toBe('100%');
  });

  it('is undefined without a header, without that cookie, or for a name that only prefixes one', () => {
    expect(cookieValue(undefined, 's')).toBeUndefined();
    expect(cookieValue('other=1; flag', 's')).toBeUndefined();
    expect(cookieValue('session=1', 's')).toBeUndefined();
    expect(cookieValue('__Host-keyward_session=x', 'keyward_session')).toBeUndefined();
  });
});
