import fc from 'fast-check';

/**
 * Values that have broken parsers, databases and string handling elsewhere: NUL bytes, lone
 * surrogates, direction overrides and zero-width characters, numbers as text, injection strings,
 * and credential look-alikes of the right shape but unknown to the deployment.
 */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '   ',
  '\u0000',
  'a\u0000b',
  '\u0000'.repeat(16),
  '%00',
  '\\u0000',
  '\ud800',
  'x\udfffy',
  '\udc00\ud800',
  '\ud83d\ude00',
  '\u202egnp.exe',
  '\u200b',
  '\u200d\u200c\u2060',
  '\ufeff',
  '\uffff',
  '\ufffe',
  '\u0085',
  '\u2028\u2029',
  'ﷺ',
  'Ω≈ç√∫',
  '𝕏𝔂𝔃',
  'e\u0301\u0301\u0301',
  'مرحبا',
  '\r\n',
  '\n',
  '\t',
  '\u001b[31m',
  '\\',
  '"',
  "'",
  '`',
  '<script>alert(1)</script>',
  "'; drop table users; --",
  '" or 1=1 --',
  '../../etc/passwd',
  '%2e%2e%2f',
  '{}',
  '[]',
  'null',
  'undefined',
  'true',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e300',
  '1e400',
  '-1e400',
  '-1',
  '-0',
  '0',
  '1.5',
  '9'.repeat(40),
  '-9223372036854775809',
  '18446744073709551616',
  '0x1F',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '$where',
  '*',
  '*:*',
  ':',
  '%',
  '%zz',
  '%E0%A4%A',
  '::',
  '::ffff:127.0.0.1',
  '127.0.0.1',
  '0.0.0.0/0',
  '::/0',
  '10.0.0.0/8',
  '999.999.999.999',
  '1.2.3.4/33',
  '1.2.3',
  '01.02.03.04',
  'fe80::1%eth0',
  '[::1]',
  '1.1.1.1, 2.2.2.2',
  '0',
  '30d',
  '0s',
  '99999999d',
  '-1h',
  '1e3h',
  '2026-13-45T25:61:61Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '+275760-09-13T00:00:00.000Z',
  '2026-06-01T12:00:00Z',
  `sk_live_${'0'.repeat(40)}`,
  `sk_test_${'f'.repeat(40)}`,
  `sk_live_${'G'.repeat(40)}`,
  `kwm_${'0'.repeat(40)}`,
  `kws_${'a'.repeat(40)}`,
  `key_${'a'.repeat(24)}`,
  `usr_${'a'.repeat(24)}`,
  `tok_${'a'.repeat(24)}`,
  `ver_${'a'.repeat(24)}`,
  'key_',
  'a'.repeat(65),
  'a'.repeat(201),
];

export const NASTY_NUMBERS: readonly number[] = [
  0,
  -0,
  -1,
  1,
  1.5,
  -1.5,
  1e300,
  -1e300,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  Number.MIN_SAFE_INTEGER,
  2 ** 31,
  2 ** 32,
  2 ** 63,
  -(2 ** 63),
  1e12,
  1e12 + 1,
  Number.MIN_VALUE,
  Number.MAX_VALUE,
];

/** Raw JSON number (and not-quite-number) tokens that JSON.stringify can never produce. */
export const RAW_JSON_TOKENS: readonly string[] = [
  '1e400',
  '-1e400',
  '1e-400',
  '-0',
  '123456789012345678901234567890',
  '0.000000000000000000000000000001',
  '1E+2',
  'NaN',
  'Infinity',
  'undefined',
  '0x10',
  '01',
  '.5',
  '"\\u0000"',
  '"\\ud800"',
  '"\\udfff\\ud800"',
  '"a\\u0000b"',
  '"\\u202e"',
  '[]',
  '{}',
  'null',
];

/** Any UTF-16 code unit, so lone surrogates and NUL appear, which the 'binary' unit never makes. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

export const anyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 4 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: codeUnit, maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 1 },
);

/** Strings from about a kilobyte up to past the default body limit, made of one repeated unit. */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('x', '\u0000', 'é', '😀', '\ud800', '\u202e', ' ', '%', '"'),
    fc.integer({ min: 1_000, max: 70_000 }),
  )
  .map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length)));

export const anyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...NASTY_NUMBERS),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/**
 * A value nested thousands of levels deep. It is kept as its depth and written out as text only
 * when the request is sent: JSON.stringify (and fast-check's own printing) would overflow the
 * stack on the real thing.
 */
export class Deep {
  readonly depth: number;
  readonly kind: 'object' | 'array';
  constructor(depth: number, kind: 'object' | 'array') {
    this.depth = depth;
    this.kind = kind;
  }
  text(): string {
    return this.kind === 'object'
      ? `${'{"a":'.repeat(this.depth)}1${'}'.repeat(this.depth)}`
      : `${'['.repeat(this.depth)}1${']'.repeat(this.depth)}`;
  }
  toString(): string {
    return `Deep(${this.kind}, ${this.depth})`;
  }
}

export function nested(depth: number, kind: 'object' | 'array'): Deep {
  return new Deep(depth, kind);
}

/** JSON.stringify, with every Deep written out in place. */
export function toJsonText(value: unknown): string {
  const deep: Deep[] = [];
  const text =
    JSON.stringify(value, (_key, v: unknown) =>
      v instanceof Deep ? `\u0001DEEP${deep.push(v) - 1}\u0001` : v,
    ) ?? 'null';
  if (deep.length === 0) return text;
  return text.replace(/"\\u0001DEEP(\d+)\\u0001"/g, (_, i: string) =>
    (deep[Number(i)] as Deep).text(),
  );
}

export const deepValue: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.integer({ min: 20, max: 5_000 }),
    fc.constantFrom('object', 'array') as fc.Arbitrary<'object' | 'array'>,
  )
  .map(([depth, kind]) => nested(depth, kind));

/** A JSON value of any type: the wrong type for whatever field it lands in, most of the time. */
export const anyJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: anyString, weight: 4 },
  { arbitrary: anyNumber, weight: 3 },
  { arbitrary: fc.constantFrom(true, false, null), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  { arbitrary: hugeString, weight: 1 },
  { arbitrary: deepValue, weight: 1 },
);

/**
 * Percent-encodes a string for a URL; lone surrogates (which encodeURIComponent refuses) become
 * the bytes of their WTF-8 form, so the server sees invalid UTF-8.
 */
export function encodeLoose(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0xd800 && code <= 0xdfff) {
      out +=
        `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
    } else {
      out += encodeURIComponent(ch);
    }
  }
  return out;
}

/** A URL component: usually encoded, sometimes raw percent sequences the client never decoded. */
export const urlComponent = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: value.map(encodeLoose), weight: 6 },
    {
      arbitrary: fc.constantFrom(
        '%00',
        '%zz',
        '%',
        '%E0%A4%A',
        '%ED%A0%80',
        '%C0%AF',
        '%FF%FE',
        '..',
        '%2e%2e',
        '%2F',
        'a%00b',
        '%25',
        '%u0000',
        '+',
      ),
      weight: 1,
    },
  );

/** Header values: printable, Latin-1, any code unit, credentials' look-alikes, up to 100 KB. */
export const headerValue: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 60 }), weight: 2 },
  {
    arbitrary: fc.string({
      unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)),
      maxLength: 60,
    }),
    weight: 1,
  },
  { arbitrary: fc.string({ unit: codeUnit, maxLength: 30 }), weight: 1 },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom('a', '=', ';', ',', ' ', '\u00e9', 'Bearer '),
        fc.integer({ min: 1, max: 100_000 }),
      )
      .map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length)).slice(0, 100_000)),
    weight: 1,
  },
);
