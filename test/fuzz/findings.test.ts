import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import { createHarness, type Harness } from '../helpers/harness.ts';

const sqlite = DATABASES.filter((d) => d.name === 'sqlite');

/** What the fuzz suite found, each pinned by the smallest request that showed it. */
describe.each(sqlite)('fuzz findings on $name', (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(kind);
  });
  afterAll(async () => {
    await h.close();
  });

  it.each(['/v1/keys/%zz', '/v1/keys/%E0%A4%A', '/v1/keys/%/rotate', '/v1/tokens/%ED%A0%80'])(
    'a path that is not valid percent-encoding (%s) → 400 in the error shape',
    async (url) => {
      const response = await h.app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(400);
      const body = response.json() as {
        error: { code: string; message: string; request_id: string };
      };
      expect(body.error.code).toBe('validation_error');
      expect(body.error.message).toMatch(/URL/);
      expect(body.error.request_id).toMatch(/^req_/);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    },
  );

  it.each([
    ['DELETE', '/v1/keys/{id}'],
    ['POST', '/v1/keys/{id}/revoke'],
    ['PATCH', '/v1/admin/users/{id}'],
  ] as const)(
    '%s %s with an id over the router limit (210 characters) → 400 in the error shape',
    async (method, route) => {
      const url = route.replace('{id}', 'a'.repeat(210));
      const response = await h.app.inject({ method, url });
      expect(response.statusCode).toBe(400);
      const body = response.json() as { error: { code: string; message: string } };
      expect(body.error.code).toBe('validation_error');
      expect(body.error.message).toMatch(/too long/);
    },
  );

  // Scalar's own page parsed `protocol://Host` with new URL() and threw (a 500) on a malformed
  // Host; the reference page is now Keyward's own (src/http/routes/docs.ts) and reads no header.
  it.each(['a b', '%', '[::1', 'exa mple.com:80'])(
    'GET /docs with a malformed Host header (%j) still serves the reference, never a 500',
    async (host) => {
      for (const url of ['/docs', '/docs/']) {
        const response = await h.app.inject({ method: 'GET', url, headers: { host } });
        expect(response.statusCode).toBe(200);
        expect(response.body).toContain('/openapi.json');
      }
    },
  );
});
