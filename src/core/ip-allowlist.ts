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

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const DOTTED_QUAD = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
/** Hex groups, colons and an embedded dotted quad: no zone id (`%eth0`), spaces or controls. */
const IPV6_TEXT = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * The one address parser, for verifications, allowlist entries, trusted proxies and forwarded
 * addresses alike. IPv4 is dotted-quad decimal only: ipaddr.js's own parser also reads the
 * inet_aton forms (`012.1.1.1` octal, `0xa.1.1.1`, `10.1`, `167772161`), which all mean some
 * other address than they seem to. IPv6 is RFC 4291 text (an embedded IPv4 part as above),
 * without a zone id.
 */
export function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (DOTTED_QUAD.test(text)) return ipaddr.IPv4.parse(text);
  if (!IPV6_TEXT.test(text)) return null;
  let v6 = text;
  const last = text.slice(text.lastIndexOf(':') + 1);
  if (last.includes('.')) {
    // Rewritten as two hex groups: ipaddr.js reads `::1.2.3.4` as `::ffff:1.2.3.4`.
    if (!DOTTED_QUAD.test(last)) return null;
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    v6 = `${text.slice(0, -last.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  return ipaddr.IPv6.isValid(v6) ? ipaddr.IPv6.parse(v6) : null;
}

/** Whether `ip` is one IPv4 or IPv6 address (no range): what a verification may report. */
export function isIpAddress(ip: string): boolean {
  return parseIp(ip) !== null;
}

function parseClient(ip: string): Uint8Array | null {
  const parsed = parseIp(ip);
  return parsed === null ? null : toBytes16(parsed);
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
