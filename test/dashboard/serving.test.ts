// How the server serves the dashboard: files, SPA fallback, cache headers, CSP, and the page it
// answers when the dashboard has not been built. Uses a small fake build, not vite's output.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/http/app.ts';
import { DASHBOARD_CSP } from '../../src/http/routes/dashboard.ts';
import { DOCS_CSP } from '../../src/http/routes/docs.ts';
import { DATABASES } from '../helpers/databases.ts';
import { createHarness, type Harness } from '../helpers/harness.ts';

const sqlite = DATABASES.find((d) => d.name === 'sqlite');
if (sqlite === undefined) throw new Error('no sqlite');

const INDEX =
  '<!doctype html><html><head><script type="module" src="/assets/app-1a2b3c4d.js"></script></head><body><div id="root"></div></body></html>';

describe('serving the dashboard', () => {
  let h: Harness;
  let app: App;
  let missing: App;
  let dir: string;

  beforeAll(async () => {
    h = await createHarness(sqlite);
    dir = mkdtempSync(join(tmpdir(), 'keyward-dist-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), INDEX);
    writeFileSync(join(dir, 'assets', 'app-1a2b3c4d.js'), 'console.log("app");\n');
    writeFileSync(join(dir, 'assets', 'app-5e6f7a8b.css'), 'body{margin:0}\n');
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(tmpdir(), 'keyward-secret.txt'), 'outside');
    app = await buildApp(h.services, { logger: false, dashboardDir: dir });
    missing = await buildApp(h.services, { logger: false, dashboardDir: join(dir, 'nope') });
  });

  afterAll(async () => {
    await app?.close();
    await missing?.close();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(tmpdir(), 'keyward-secret.txt'), { force: true });
  });

  const get = (target: App, url: string, method: 'GET' | 'HEAD' = 'GET') =>
    target.inject({ method, url });

  it('answers index.html at / and at every client-side route, never cached, with a strict CSP', async () => {
    for (const url of [
      '/',
      '/keys',
      '/keys/key_abc123',
      '/audit-log?x=1',
      '/admin/users',
      '/login',
    ]) {
      const response = await get(app, url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type'], url).toMatch(/^text\/html/);
      expect(response.body, url).toBe(INDEX);
      expect(response.headers['cache-control'], url).toBe('no-store');
      expect(response.headers['content-security-policy'], url).toBe(DASHBOARD_CSP);
      expect(response.headers['x-content-type-options'], url).toBe('nosniff');
      expect(response.headers['referrer-policy'], url).toBe('no-referrer');
      expect(response.headers['x-frame-options'], url).toBe('DENY');
    }
    expect(DASHBOARD_CSP).toContain("script-src 'self'");
    expect(DASHBOARD_CSP).not.toContain('unsafe-inline');
    expect(DASHBOARD_CSP).toContain("frame-ancestors 'none'");
  });

  it('serves hashed assets with long cache headers, other files briefly', async () => {
    const js = await get(app, '/assets/app-1a2b3c4d.js');
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body).toBe('console.log("app");\n');
    const css = await get(app, '/assets/app-5e6f7a8b.css');
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    const icon = await get(app, '/favicon.svg');
    expect(icon.statusCode).toBe(200);
    expect(icon.headers['content-type']).toBe('image/svg+xml');
    expect(icon.headers['cache-control']).toBe('public, max-age=3600');
    const head = await get(app, '/assets/app-1a2b3c4d.js', 'HEAD');
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
  });

  it('answers 404 for a missing asset, not the app', async () => {
    for (const url of ['/assets/app-00000000.js', '/favicon.ico', '/robots.txt']) {
      const response = await get(app, url);
      expect(response.statusCode, url).toBe(404);
      expect(response.json().error.code, url).toBe('not_found');
    }
  });

  it('never serves a file outside the build directory', async () => {
    for (const url of [
      '/..%2fkeyward-secret.txt',
      '/assets/..%2f..%2fkeyward-secret.txt',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/assets/%00.js',
    ]) {
      const response = await get(app, url);
      expect(response.statusCode, url).not.toBe(500);
      expect(response.body, url).not.toContain('outside');
      expect(response.body, url).not.toContain('root:');
    }
  });

  it('leaves the API, the docs, the OpenAPI document and the health checks alone', async () => {
    const unknown = await get(app, '/v1/nothing-here');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('not_found');
    expect((await get(app, '/v1')).statusCode).toBe(404);
    expect((await get(app, '/v1/keys')).statusCode).toBe(401);
    expect((await get(app, '/healthz')).json()).toMatchObject({ status: 'ok' });
    expect((await get(app, '/readyz')).json()).toEqual({ status: 'ready' });
    const spec = (await get(app, '/openapi.json')).json() as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths).some((p) => p === '/' || p.includes('*'))).toBe(false);
    const docs = await get(app, '/docs/');
    expect(docs.statusCode).toBe(200);
    // The reference has its own policy (routes/docs.ts), not the dashboard's.
    expect(docs.headers['content-security-policy']).toBe(DOCS_CSP);
    expect((await app.inject({ method: 'POST', url: '/keys' })).statusCode).toBe(404);
  });

  it('says how to build the dashboard when it is missing, and does not crash', async () => {
    for (const url of ['/', '/keys/key_abc']) {
      const response = await get(missing, url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      expect(response.body).toContain('npm run build:dashboard');
      expect(response.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    }
    expect((await get(missing, '/assets/app-1a2b3c4d.js')).statusCode).toBe(404);
    expect((await get(missing, '/healthz')).statusCode).toBe(200);
  });
});
