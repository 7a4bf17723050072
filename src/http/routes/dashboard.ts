import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app.ts';

/** Where `npm run build:dashboard` (vite build) writes the single-page app. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(
  new URL('../../../dashboard/dist/', import.meta.url),
);

/**
 * Whether the built dashboard is there: `serve --require-dashboard` (production installs) refuses
 * to start without it rather than serve the "not built yet" page.
 */
export function dashboardIsBuilt(dir: string = DEFAULT_DASHBOARD_DIR): boolean {
  return existsSync(join(dir, 'index.html'));
}

/**
 * The dashboard's Content-Security-Policy: everything from this origin only, no inline scripts,
 * no plugins, no framing. Styles set from script (React's style prop, uPlot) go through the CSSOM,
 * which style-src does not restrict.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Paths the dashboard never answers: the API, its docs and the operations endpoints. */
const NOT_DASHBOARD = /^\/(?:v1(?:\/|$)|docs(?:\/|$)|openapi\.json$|healthz$|readyz$|metrics$)/;

/**
 * The dashboard's own pages (the paths dashboard/src/App.tsx routes; a test keeps the two lists
 * alike): answered with the app whatever the Accept header says.
 */
export const DASHBOARD_PAGES =
  /^\/(?:|keys|keys\/[^/]+|login|signup|forgot-password|invite\/[^/]+|reset-password\/[^/]+|tokens|webhooks|webhooks\/[^/]+|audit-log|account|admin\/users|admin\/service-tokens|admin\/invitations)$/;

/**
 * Whether a request for a path that is no page of the dashboard comes from a browser navigating
 * (it asks for text/html, ahead of JSON) rather than an API client, which gets the JSON 404.
 */
function wantsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  const html = accept.indexOf('text/html');
  const json = accept.indexOf('application/json');
  return html >= 0 && (json < 0 || html < json);
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

const NOT_BUILT = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Keyward</title></head>
<body>
<h1>Keyward</h1>
<p>The dashboard has not been built yet. Run <code>npm run build:dashboard</code> (or <code>npm start</code>, which builds it when needed) and reload this page.</p>
<p>The API is running: its reference is at <a href="/docs">/docs</a>.</p>
</body>
</html>
`;

export interface DashboardOptions {
  /** The built app (vite's outDir); defaults to dashboard/dist in this repository. */
  dir?: string;
}

function htmlHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-frame-options', 'DENY');
}

async function fileSize(path: string): Promise<number | null> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : null;
  } catch {
    return null;
  }
}

/**
 * Serves the dashboard single-page app: its files from the build directory (hashed assets
 * cached for a year, index.html never), and index.html for every other GET that is not the API,
 * so that client-side routes such as /keys/key_… load the app. Hidden from the OpenAPI document.
 */
export function dashboardRoutes(app: App, options: DashboardOptions = {}): void {
  const root = resolve(options.dir ?? DEFAULT_DASHBOARD_DIR);
  const indexPath = join(root, 'index.html');

  const sendIndex = async (reply: FastifyReply) => {
    let html: string;
    try {
      html = await readFile(indexPath, 'utf8');
    } catch {
      html = NOT_BUILT;
    }
    return htmlHeaders(reply).status(200).send(html);
  };

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '/';
    if (NOT_DASHBOARD.test(path)) return reply.callNotFound();
    const wildcard = (request.params as { '*'?: string })['*'] ?? '';
    if (wildcard === '' || wildcard === 'index.html') return sendIndex(reply);
    if (wildcard.includes('\0')) return reply.callNotFound();
    const relative = normalize(wildcard).replace(/^([/\\])+/, '');
    const file = resolve(root, relative);
    if (file !== root && !file.startsWith(root + sep)) return reply.callNotFound();
    const size = await fileSize(file);
    if (size !== null) {
      const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
      const immutable = relative.startsWith(`assets${sep}`);
      return reply
        .header('content-type', type)
        .header('content-length', String(size))
        .header(
          'cache-control',
          immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=3600',
        )
        .send(createReadStream(file));
    }
    // A missing file (a stale hashed asset, /favicon.ico …) is a 404, not the app's HTML.
    if (relative.startsWith(`assets${sep}`) || /\.[A-Za-z0-9]{1,8}$/.test(relative))
      return reply.callNotFound();
    // Another path is the app's own "not found" page for a browser, a JSON 404 for API clients.
    if (!DASHBOARD_PAGES.test(path.replace(/\/$/, '')) && !wantsHtml(request))
      return reply.callNotFound();
    return sendIndex(reply);
  };

  app.get('/', { schema: { hide: true } }, handler);
  app.get('/*', { schema: { hide: true } }, handler);
}
