import { describe, expect, it } from 'vitest';
import { compileIpAllowlist, isIpAddress, parseIp } from '../../src/core/ip-allowlist.ts';
import { normaliseIpAllowlist } from '../../src/core/key-settings.ts';

/** A deliberately naive reference: addresses as bit strings, prefixes compared character by character. */
function bitsOf(ip: string): string {
  let text = ip;
  if (text.toLowerCase().startsWith('::ffff:') && text.includes('.')) text = text.slice(7);
  if (text.includes('.')) {
    const v4 = text
      .split('.')
      .map((p) => Number(p).toString(2).padStart(8, '0'))
      .join('');
    return `${'0'.repeat(80)}${'1'.repeat(16)}${v4}`;
  }
  const [head = '', tail = ''] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : text.includes('::') ? tail.split(':') : [];
  const groups = text.includes('::')
    ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
    : text.split(':');
  return groups.map((g) => Number.parseInt(g, 16).toString(2).padStart(16, '0')).join('');
}

function referenceMatch(entries: string[], client: string): boolean {
  const c = bitsOf(client);
  return entries.some((entry) => {
    const [address = '', prefix] = entry.split('/');
    const v4 = address.includes('.');
    const bits = prefix === undefined ? 128 : Number(prefix) + (v4 ? 96 : 0);
    return bitsOf(address).slice(0, bits) === c.slice(0, bits);
  });
}

/** A seeded generator so a failure can be replayed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('IP allowlist matcher (R7)', () => {
  it('agrees with a reference matcher on 10,000 random cases (IPv4, IPv6, IPv4-mapped)', () => {
    const random = rng(20261123);
    const int = (n: number) => Math.floor(random() * n);
    const v4 = () => [int(256), int(256), int(256), int(256)].join('.');
    const v6 = () => Array.from({ length: 8 }, () => int(65536).toString(16)).join(':');
    // Clients near a range share its leading bits, so matches are frequent enough to test.
    const near = (address: string) => {
      if (address.includes('.')) {
        const parts = address.split('.');
        return [parts[0], parts[1], int(4) === 0 ? int(256) : parts[2], int(256)].join('.');
      }
      const groups = address.split(':');
      return [
        ...groups.slice(0, 3),
        int(3) === 0 ? int(65536).toString(16) : groups[3],
        ...Array.from({ length: 4 }, () => int(65536).toString(16)),
      ].join(':');
    };
    let matches = 0;
    for (let i = 0; i < 10_000; i++) {
      const entries = Array.from({ length: 1 + int(3) }, () => {
        const isV4 = random() < 0.5;
        const address = isV4 ? v4() : v6();
        const prefix = int(4) === 0 ? '' : `/${int(isV4 ? 33 : 129)}`;
        return `${address}${prefix}`;
      });
      const normalised = normaliseIpAllowlist(entries);
      if (!normalised.ok) throw new Error(`generated an invalid entry: ${normalised.bad}`);
      const base = entries[int(entries.length)] as string;
      const [baseAddress = ''] = base.split('/');
      const candidates = [near(baseAddress), random() < 0.5 ? v4() : v6()];
      if (baseAddress.includes('.')) candidates.push(`::ffff:${near(baseAddress)}`);
      const matcher = compileIpAllowlist(normalised.entries);
      for (const client of candidates) {
        const expected = referenceMatch(normalised.entries, client);
        if (expected) matches += 1;
        expect(matcher?.(client), `${normalised.entries.join(',')} vs ${client}`).toBe(expected);
      }
    }
    expect(matches).toBeGreaterThan(2000);
  });

  it('handles the edges: /0, /32, /128, mapped clients, garbage clients', () => {
    expect(compileIpAllowlist([])).toBeNull();
    const any4 = compileIpAllowlist(['0.0.0.0/0']);
    expect(any4?.('203.0.113.1')).toBe(true);
    expect(any4?.('::ffff:203.0.113.1')).toBe(true);
    expect(any4?.('2001:db8::1')).toBe(false);
    const single = compileIpAllowlist(['198.51.100.7']);
    expect(single?.('198.51.100.7')).toBe(true);
    expect(single?.('198.51.100.8')).toBe(false);
    const v6 = compileIpAllowlist(['2001:db8::/32', '::1']);
    expect(v6?.('2001:0db8:ffff::1')).toBe(true);
    expect(v6?.('2001:db9::1')).toBe(false);
    expect(v6?.('::1')).toBe(true);
    for (const bad of ['', 'localhost', '1.2.3', '::g', '999.1.1.1'])
      expect(v6?.(bad), bad).toBe(false);
  });

  it('refuses malformed entries, naming them', () => {
    for (const bad of [
      '10.0.0.0/33',
      '::/129',
      '10.0.0.1/',
      'example.com',
      '1.2.3.4/8/8',
      '0x7f.0.0.1',
      '10.0.0.0/-1',
    ]) {
      expect(normaliseIpAllowlist(['10.0.0.1', bad])).toEqual({ ok: false, bad });
    }
    expect(normaliseIpAllowlist([' 2001:DB8::1/64 ', '203.0.113.5'])).toEqual({
      ok: true,
      entries: ['2001:db8::1/64', '203.0.113.5'],
    });
  });
});

describe('the one strict IP parser (security issue 11.6)', () => {
  const LOOSE = [
    '012.1.1.1',
    '0xa.1.1.1',
    '10.1',
    '167772161',
    '1.2.3.04',
    '::ffff:012.1.1.1',
    '::ffff:0xa.1.1.1',
    'fe80::1%eth0',
    '10.1.1.1\u0000',
    ' 10.1.1.1',
    '203.0.113.7:443',
    'garbage',
  ];

  it('refuses the inet_aton forms, zone ids and anything around an address', () => {
    for (const text of LOOSE) {
      expect(parseIp(text), text).toBeNull();
      expect(isIpAddress(text), text).toBe(false);
      expect(compileIpAllowlist(['0.0.0.0/0', '::/0'])?.(text), text).toBe(false);
      // Allowlist entries are trimmed before they are read.
      if (text.trim() === text) expect(normaliseIpAllowlist([text]).ok, text).toBe(false);
    }
  });

  it('reads dotted quads and IPv6 text, IPv4-mapped as the IPv4 address', () => {
    expect(parseIp('10.1.1.1')?.toString()).toBe('10.1.1.1');
    expect(parseIp('::FFFF:10.1.1.1')?.toString()).toBe('::ffff:a01:101');
    const ten = compileIpAllowlist(['10.0.0.0/8']);
    expect(ten?.('::ffff:10.1.1.1')).toBe(true);
    expect(ten?.('::ffff:a01:101')).toBe(true);
    // IPv4-compatible `::a.b.c.d` is not the IPv4 address (ipaddr.js alone reads it as mapped).
    expect(parseIp('::10.1.1.1')?.toString()).toBe('::a01:101');
    expect(ten?.('::10.1.1.1')).toBe(false);
    expect(parseIp('64:ff9b::10.1.1.1')?.toString()).toBe('64:ff9b::a01:101');
  });
});
