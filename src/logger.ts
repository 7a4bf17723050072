import pino, { type Logger } from 'pino';
import type { Config } from './config.ts';

/** Paths that may carry secrets: pino replaces them before a line is written. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
];

/**
 * Every secret Keyward issues (API keys, tokens) ends in 40 random hex characters, and imported
 * keys of other shapes (ACCEPTED_KEY_SHAPES, e.g. `sk-` + 48 letters and digits) in long runs of
 * letters and digits; ids never hold a run of 32. A secret pasted into a URL path is cut down to
 * its first four characters.
 */
const SECRET_IN_PATH = /([0-9A-Za-z]{4})[0-9A-Za-z]{28,}/g;
/**
 * Any other long run of base64url characters (a session id, a one-time link's token, a whole
 * `sk_live_…` key): ids are at most 28 characters, so 40 or more is taken for a secret.
 */
const LONG_TOKEN_IN_PATH = /([A-Za-z0-9_-]{4})[A-Za-z0-9_-]{36,}/g;

const masked = (text: string) =>
  text.replace(SECRET_IN_PATH, '$1…').replace(LONG_TOKEN_IN_PATH, '$1…');

export function loggablePath(url: string): string {
  return masked(url.split('?')[0] ?? '');
}

/**
 * A request URL as access log lines show it: the path as {@link loggablePath} masks it, and of
 * the query string only the parameter names, every value replaced by `…` (a value may be a key:
 * `?api_key=sk_live_…`). `/v1/keys?limit=10&cursor=abc` → `/v1/keys?limit=…&cursor=…`.
 */
export function loggableUrl(url: string): string {
  const mark = url.indexOf('?');
  if (mark < 0) return loggablePath(url);
  const names = url
    .slice(mark + 1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = masked(eq < 0 ? pair : pair.slice(0, eq));
      return eq < 0 ? name : `${name}=…`;
    });
  const path = loggablePath(url.slice(0, mark));
  return names.length === 0 ? path : `${path}?${names.join('&')}`;
}

interface LoggedRequest {
  id: string;
  method: string;
  url: string;
  ip?: string;
}

/**
 * JSON logs that never carry a secret: request lines hold method, path (no query string) and
 * client address, and header paths that can hold credentials are redacted besides.
 */
export function createLogger(
  level: Config['logLevel'],
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        req: (req: LoggedRequest) => ({
          id: req.id,
          method: req.method,
          path: loggablePath(req.url),
          ip: req.ip,
        }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
    },
    destination,
  );
}
