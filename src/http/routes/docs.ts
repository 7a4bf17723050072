import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import scalar from '@scalar/fastify-api-reference';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app.ts';

/**
 * The API reference's own Content-Security-Policy. Scalar's 4.9 MB bundle runs on the dashboard's
 * origin, so it gets nothing beyond what it needs: its script and the OpenAPI document from this
 * origin, no other host at all (fonts included). Scalar injects its stylesheet as `<style>`
 * elements at run time, hence 'unsafe-inline' for styles only; scripts stay 'self'.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Scalar reads its settings from this element's attributes, so the page has no inline script.
 * No default fonts (they come from fonts.scalar.com); no client button, developer toolbar or AI
 * agent (they talk to scalar.com).
 */
const SETTINGS = JSON.stringify({
  withDefaultFonts: false,
  hideClientButton: true,
  showDeveloperTools: 'never',
  agent: { disabled: true },
});

/**
 * zod, inside the bundle, probes for eval (`Function('')`) to compile its validators; the CSP
 * refuses it and the browser reports the refusal as a violation. Jitless, zod skips the probe
 * and interprets instead. It must run before the bundle, and inline scripts are not allowed.
 */
const ZOD_JITLESS = 'globalThis.__zod_globalConfig = { jitless: true };\n';

/**
 * The scripts' URLs carry a version (`?v=`), so browsers may keep them for a year: the bundle is
 * fixed by the installed Scalar release, the helper by its text. The page itself is never cached,
 * so an upgrade reaches the next visit. A script asked for without the current version is cached
 * for an hour only.
 */
const SCALAR_VERSION = (
  JSON.parse(
    readFileSync(
      new URL('../package.json', import.meta.resolve('@scalar/fastify-api-reference')),
      'utf8',
    ),
  ) as { version: string }
).version;
const ZOD_JITLESS_VERSION = createHash('sha256').update(ZOD_JITLESS).digest('hex').slice(0, 16);
const SCRIPTS: Record<string, string> = {
  '/docs/js/scalar.js': SCALAR_VERSION,
  '/docs/js/zod-jitless.js': ZOD_JITLESS_VERSION,
};
const SCALAR_URL = `/docs/js/scalar.js?v=${encodeURIComponent(SCALAR_VERSION)}`;
const ZOD_JITLESS_URL = `/docs/js/zod-jitless.js?v=${ZOD_JITLESS_VERSION}`;
const IMMUTABLE = 'public, max-age=31536000, immutable';
const UNVERSIONED = 'public, max-age=3600';

function scriptCacheControl(request: FastifyRequest, path: string): string {
  const version = (request.query as { v?: unknown } | undefined)?.v;
  return version === SCRIPTS[path] ? IMMUTABLE : UNVERSIONED;
}

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>Keyward API</title></head>
<body>
<script id="api-reference" data-url="/openapi.json" data-configuration='${SETTINGS}'></script>
<script src="${ZOD_JITLESS_URL}"></script>
<script src="${SCALAR_URL}"></script>
</body>
</html>
`;

const PAGE_PATHS = new Set(['/docs', '/docs/']);

/** The HTML is ours (no inline script, no other host); the plugin serves its bundle. */
async function docsHeaders(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('content-security-policy', DOCS_CSP).header('x-frame-options', 'DENY');
  const path = request.url.split('?')[0] ?? '';
  if (PAGE_PATHS.has(path)) await reply.type('text/html; charset=utf-8').send(PAGE);
  else if (SCRIPTS[path] !== undefined)
    reply.header('cache-control', scriptCacheControl(request, path));
}

export async function docsRoutes(app: App): Promise<void> {
  app.get('/docs/js/zod-jitless.js', { schema: { hide: true } }, async (request, reply) => {
    reply
      .header('content-security-policy', DOCS_CSP)
      .header('cache-control', scriptCacheControl(request, '/docs/js/zod-jitless.js'));
    return reply.type('text/javascript; charset=utf-8').send(ZOD_JITLESS);
  });
  await app.register(scalar, {
    routePrefix: '/docs',
    configuration: { url: '/openapi.json' },
    hooks: { onRequest: docsHeaders },
  });
}
