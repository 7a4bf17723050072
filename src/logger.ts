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

export function loggablePath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.replace(SECRET_IN_PATH, '$1…');
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
