import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, type Harness } from '../helpers/harness.ts';

const sqlite = DATABASES.filter((d) => d.name === 'sqlite');

describe.each(sqlite)('HTTP input handling on $name', (kind) => {
  let h: Harness;
  let owner: Account;
  beforeAll(async () => {
    h = await createHarness(kind, { BODY_LIMIT: '4096' });
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  const expectError = (
    response: { statusCode: number; json(): unknown },
    status: number,
    code: string,
  ) => {
    expect(response.statusCode).toBe(status);
    const body = response.json() as {
      error: { code: string; message: string; request_id: string };
    };
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(0);
    expect(body.error.request_id).toMatch(/^req_[0-9a-f]{32}$/);
  };

  it('malformed JSON → 400 invalid_json', async () => {
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"email":',
    });
    expectError(response, 400, 'invalid_json');
  });

  it('a body over BODY_LIMIT → 413 payload_too_large, nothing written', async () => {
    const response = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: owner,
      body: { name: 'big', metadata: { blob: 'x'.repeat(5000) } },
    });
    expectError(response, 413, 'payload_too_large');
    const list = await h.request({ method: 'GET', url: '/v1/keys', as: owner });
    expect(list.json().data).toHaveLength(0);
  });

  it('a body that is not JSON → 415', async () => {
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expectError(response, 415, 'unsupported_media_type');
  });

  it('wrong types and missing fields → 400 validation_error; extra fields → 400 unknown_field', async () => {
    expectError(
      await h.request({ method: 'POST', url: '/v1/keys', as: owner, body: { name: 5 } }),
      400,
      'validation_error',
    );
    expectError(
      await h.request({ method: 'POST', url: '/v1/keys', as: owner, body: {} }),
      400,
      'validation_error',
    );
    expectError(
      await h.request({
        method: 'POST',
        url: '/v1/keys',
        as: owner,
        body: { name: 'x', admin: true },
      }),
      400,
      'unknown_field',
    );
    expectError(
      await h.request({ method: 'GET', url: '/v1/keys?limit=abc', as: owner }),
      400,
      'validation_error',
    );
    expectError(
      await h.request({ method: 'GET', url: '/v1/keys?unknown=1', as: owner }),
      400,
      'unknown_field',
    );
  });

  it('NUL bytes, long ids and odd Unicode never cause a 5xx', async () => {
    const ids = ['key_\u0000', 'x'.repeat(64), '%00', '..%2F..%2Fetc', 'key_😀', "key_' or 1=1 --"];
    for (const id of ids) {
      const response = await h.request({
        method: 'GET',
        url: `/v1/keys/${encodeURIComponent(id)}`,
        as: owner,
      });
      expect(response.statusCode, id).toBeLessThan(500);
    }
    // PostgreSQL text cannot hold NUL, so it is refused on every database alike.
    const nul = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: owner,
      body: { name: 'nul\u0000name' },
    });
    expectError(nul, 400, 'validation_error');
    const named = await h.request({
      method: 'POST',
      url: '/v1/keys',
      as: owner,
      body: { name: 'name 😀 ключ' },
    });
    expect(named.statusCode).toBe(201);
    expect(named.json().name).toBe('name 😀 ключ');
    const huge = await h.request({
      method: 'GET',
      url: '/v1/key',
      headers: { authorization: `Bearer ${'a'.repeat(8000)}` },
    });
    expectError(huge, 401, 'key_not_found');
  });

  it('unknown routes → 404 not_found in the error shape', async () => {
    expectError(await h.request({ method: 'GET', url: '/v1/nothing-here' }), 404, 'not_found');
    expectError(
      await h.request({ method: 'GET', url: '/v1/keys/key_x/revoke', as: owner }),
      404,
      'not_found',
    );
  });

  it('management routes without credentials → 401 unauthorized', async () => {
    expectError(await h.request({ method: 'GET', url: '/v1/keys' }), 401, 'unauthorized');
    expectError(
      await h.request({ method: 'GET', url: '/v1/keys', bearer: 'kwm_nope' }),
      401,
      'unauthorized',
    );
  });

  it('health checks answer; readiness fails once the app is closing', async () => {
    expect((await h.request({ method: 'GET', url: '/healthz' })).json()).toMatchObject({
      status: 'ok',
    });
    expect((await h.request({ method: 'GET', url: '/readyz' })).json()).toEqual({
      status: 'ready',
    });
  });

  it('serves the OpenAPI document and the docs page', async () => {
    const docs = await h.request({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
    const spec = (await h.request({ method: 'GET', url: '/openapi.json' })).json();
    expect(spec.openapi).toBe('3.1.0');
  });
});

describe('the OpenAPI document', () => {
  it('describes every route with responses, and request schemas where a route takes input', async () => {
    const kind = sqlite[0];
    if (kind === undefined) throw new Error('no sqlite');
    const h = await createHarness(kind);
    try {
      const spec = (await h.request({ method: 'GET', url: '/openapi.json' })).json() as {
        paths: Record<
          string,
          Record<
            string,
            { responses?: Record<string, unknown>; requestBody?: unknown; summary?: string }
          >
        >;
      };
      const expected = [
        'get /v1/keys',
        'post /v1/keys',
        'post /v1/keys/import',
        'get /v1/keys/{id}',
        'patch /v1/keys/{id}',
        'delete /v1/keys/{id}',
        'post /v1/keys/{id}/revoke',
        'post /v1/keys/{id}/rotate',
        'post /v1/auth/signup',
        'post /v1/auth/login',
        'post /v1/auth/logout',
        'get /v1/auth/me',
        'post /v1/auth/password',
        'get /v1/auth/options',
        'post /v1/auth/forgot-password',
        'post /v1/auth/password-reset',
        'post /v1/auth/invitations/lookup',
        'post /v1/auth/invitations/accept',
        'post /v1/tokens',
        'get /v1/tokens',
        'delete /v1/tokens/{id}',
        'get /v1/audit-log',
        'post /v1/verify',
        'get /v1/key',
        'get /v1/usage',
        'get /v1/keys/{id}/usage',
        'get /v1/keys/{id}/logs',
        'post /v1/usage',
        'get /v1/admin/users',
        'patch /v1/admin/users/{id}',
        'delete /v1/admin/users/{id}',
        'get /v1/account/export',
        'get /v1/admin/plans',
        'post /v1/admin/invitations',
        'get /v1/admin/invitations',
        'delete /v1/admin/invitations/{id}',
        'get /v1/account/notifications',
        'patch /v1/account/notifications',
        'post /v1/leaks',
        'post /v1/webhooks',
        'get /v1/webhooks',
        'get /v1/webhooks/{id}',
        'patch /v1/webhooks/{id}',
        'delete /v1/webhooks/{id}',
        'post /v1/webhooks/{id}/rotate-secret',
        'get /v1/webhooks/{id}/deliveries',
        'get /v1/webhooks/{id}/deliveries/{delivery_id}',
        'post /v1/webhooks/{id}/deliveries/{delivery_id}/retry',
        'post /v1/webhooks/{id}/test',
        'get /healthz',
        'get /readyz',
      ];
      const documented = Object.entries(spec.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m} ${path}`),
      );
      expect(documented.sort()).toEqual(expected.sort());
      for (const [path, ops] of Object.entries(spec.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          expect(op.summary, `${method} ${path}`).toBeTruthy();
          expect(Object.keys(op.responses ?? {}).length, `${method} ${path}`).toBeGreaterThan(0);
          if (
            ['post', 'patch'].includes(method) &&
            !path.endsWith('/revoke') &&
            !path.endsWith('/retry') &&
            !path.endsWith('/test') &&
            path !== '/v1/auth/logout'
          ) {
            expect(op.requestBody, `${method} ${path}`).toBeDefined();
          }
        }
      }
    } finally {
      await h.close();
    }
  });
});

describe.each(DATABASES)('database unavailable on $name', (kind) => {
  it('management answers 503 service_unavailable and readiness fails, never a 500', async () => {
    const h = await createHarness(kind);
    const owner = await h.signup();
    try {
      const db = h.services.store.db;
      const failing = () =>
        Promise.reject(
          Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
        );
      const originalSelect = db.selectFrom.bind(db);
      (db as { selectFrom: unknown }).selectFrom = () => ({
        selectAll: () => ({ where: () => ({ executeTakeFirst: failing }) }),
      });
      const response = await h.request({
        method: 'GET',
        url: `/v1/keys/key_${'a'.repeat(24)}`,
        as: owner,
      });
      (db as { selectFrom: unknown }).selectFrom = originalSelect;
      expect(response.statusCode).toBe(503);
      expect(response.json().error.code).toBe('service_unavailable');
    } finally {
      await h.close();
    }
  });
});
