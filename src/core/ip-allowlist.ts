import ipaddr from 'ipaddr.js';

interface Range {
  /** 16 bytes: IPv4 is held IPv4-mapped (::ffff:a.b.c.d) so one comparison serves both. */
  bytes: Uint8Array;
  prefix: number;
}

export type IpMatcher = (clientIp: string) => boolean;

function toBytes16(address: ipaddr.IPv4 | ipaddr.IPv6): Uint8Array {
  if (address.kind() === 'ipv4')
    return new Uint8Array((address as ipaddr.IPv4).toIPv4MappedAddress().toByteArray());
  return new Uint8Array(address.toByteArray());
}

/** Whether `ip` is one IPv4 or IPv6 address (no range): what a verification may report. */
export function isIpAddress(ip: string): boolean {
  return ipaddr.isValid(ip);
}

function parseClient(ip: string): Uint8Array | null {
  if (!ipaddr.isValid(ip)) return null;
  return toBytes16(ipaddr.parse(ip));
}

function inRange(client: Uint8Array, range: Range): boolean {
  let bits = range.prefix;
  for (let i = 0; i < 16 && bits > 0; i++) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    // Both arrays hold 16 bytes, so the index is always in range (?? 0 only satisfies the type).
    if (((client[i] ?? 0) & mask) !== ((range.bytes[i] ?? 0) & mask)) return false;
    bits -= 8;
  }
  return true;
}

/**
 * Compiles allowlist entries (already normalised by `normaliseIpAllowlist`) once per cached key,
 * so a request costs one address parse and a few byte compares. IPv4 entries match IPv4 clients
 * and IPv4-mapped IPv6 clients (`::ffff:203.0.113.7`) alike. An empty list matches everyone.
 */
export function compileIpAllowlist(entries: readonly string[]): IpMatcher | null {
  if (entries.length === 0) return null;
  const ranges: Range[] = entries.map((entry) => {
    const [address = '', prefixText] = entry.split('/');
    const parsed = ipaddr.parse(address);
    const v4 = parsed.kind() === 'ipv4';
    const prefix = prefixText === undefined ? 128 : Number(prefixText) + (v4 ? 96 : 0);
    return { bytes: toBytes16(parsed), prefix };
  });
  return (clientIp) => {
    const client = parseClient(clientIp);
    if (client === null) return false;
    for (const range of ranges) if (inRange(client, range)) return true;
    return false;
  };
}
