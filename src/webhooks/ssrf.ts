import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { AppError } from '../core/errors.ts';

/** Longest webhook URL accepted. */
export const MAX_URL_LENGTH = 2048;

/** Host names refused whatever they resolve to: cloud metadata services and localhost. */
const REFUSED_NAMES = new Set(['metadata.google.internal', 'metadata', 'localhost']);

/** One resolved address, as `dns.lookup(name, { all: true })` answers. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to every address it has; the tests inject one to simulate DNS changes. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      if (error) reject(error);
      else resolve(addresses);
    });
  });

/**
 * Why an address may not be delivered to, or null when it may: only public unicast addresses
 * pass. Refused: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local
 * (169.254/16 with the metadata address 169.254.169.254, fe80::/10), CGNAT (100.64/10),
 * unspecified, broadcast, multicast, reserved and documentation ranges, and the IPv6 forms that
 * embed an IPv4 address (IPv4-mapped, which is judged as the IPv4 address it maps; IPv4-compatible
 * ::/96, NAT64, 6to4, Teredo).
 */
export function refusedAddress(text: string): string | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (!ipaddr.isValid(bare)) return 'not an IP address';
  const address = ipaddr.process(bare);
  if (address.kind() === 'ipv6') {
    const bytes = address.toByteArray();
    if (bytes.slice(0, 12).every((b) => b === 0)) return 'an IPv4-compatible IPv6 address';
  }
  const range = address.range();
  return range === 'unicast' ? null : `a ${range} address`;
}

/** The checks of a webhook URL that need no DNS: scheme, credentials, length, host names. */
export function parseWebhookUrl(text: string, allowPrivate: boolean): URL {
  if (text.length > MAX_URL_LENGTH)
    throw new AppError('url_not_allowed', `url must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AppError('url_not_allowed', 'url must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new AppError('url_not_allowed', 'url must be an http:// or https:// URL');
  if (url.username !== '' || url.password !== '')
    throw new AppError('url_not_allowed', 'url must not carry a user name or password');
  if (url.hostname === '') throw new AppError('url_not_allowed', 'url must name a host');
  if (!allowPrivate) {
    const host = url.hostname.toLowerCase().replace(/\.$/, '');
    if (REFUSED_NAMES.has(host) || host.endsWith('.localhost'))
      throw new AppError('url_not_allowed', `url's host ${host} is not allowed`);
  }
  return url;
}

/** The host of a URL as a bare address when it is an IP literal, else null. */
function literalAddress(url: URL): string | null {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) === 0 ? null : host;
}

/**
 * Everything checked when an endpoint is created or its URL changed: the URL itself, then every
 * address its host resolves to (one refused address refuses the URL). Resolution failures are
 * refused too: an endpoint must be reachable when it is registered.
 */
export async function checkWebhookUrl(
  text: string,
  options: { allowPrivate: boolean; resolver: Resolver },
): Promise<URL> {
  const url = parseWebhookUrl(text, options.allowPrivate);
  if (options.allowPrivate) return url;
  const literal = literalAddress(url);
  if (literal !== null) {
    const why = refusedAddress(literal);
    if (why !== null) throw new AppError('url_not_allowed', `url's address ${literal} is ${why}`);
    return url;
  }
  let addresses: ResolvedAddress[];
  try {
    addresses = await options.resolver(url.hostname);
  } catch {
    throw new AppError('url_not_allowed', `url's host ${url.hostname} does not resolve`);
  }
  if (addresses.length === 0)
    throw new AppError('url_not_allowed', `url's host ${url.hostname} does not resolve`);
  for (const { address } of addresses) {
    const why = refusedAddress(address);
    if (why !== null)
      throw new AppError(
        'url_not_allowed',
        `url's host ${url.hostname} resolves to ${address}, ${why}`,
      );
  }
  return url;
}

/** A delivery refused because of the address it would connect to. */
export class RefusedAddressError extends Error {
  readonly code = 'EREFUSEDADDRESS';
}

/** Checked before each attempt: an IP literal in the URL is not looked up by the socket. */
export function refusedLiteral(url: URL): string | null {
  const literal = literalAddress(url);
  if (literal === null) return null;
  const why = refusedAddress(literal);
  return why === null ? null : `address ${literal} is ${why}`;
}

/**
 * The `lookup` the delivery sockets use: it resolves the name itself and hands the socket only
 * addresses it has checked, so the address connected to is the address checked (a DNS answer
 * that changes between the check and the connection, DNS rebinding, cannot slip through). Any
 * refused address among the answers refuses the connection.
 */
export function checkedLookup(resolver: Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolver(hostname).then(
      (found) => {
        const family = typeof options === 'object' ? options.family : options;
        const addresses =
          family === 4 || family === 6 ? found.filter((a) => a.family === family) : found;
        for (const { address } of addresses) {
          const why = refusedAddress(address);
          if (why !== null) {
            callback(new RefusedAddressError(`${hostname} resolves to ${address}, ${why}`), '', 0);
            return;
          }
        }
        const first = addresses[0];
        if (first === undefined) {
          const error = Object.assign(new Error(`${hostname} has no address`), {
            code: 'ENOTFOUND',
          });
          callback(error, '', 0);
          return;
        }
        if (typeof options === 'object' && options.all) {
          (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, addresses);
        } else {
          callback(null, first.address, first.family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}
