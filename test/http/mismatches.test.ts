import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_PAGES } from '../../src/http/routes/dashboard.ts';
import { DATABASES, type DatabaseKind } from '../helpers/databases.ts';
import { type Account, createHarness, createKey, type Harness } from '../helpers/harness.ts';
import { LIMITER_BACKENDS } from '../helpers/redis.ts';

describe.each(DATABASES)('issue 16 mismatches on $name', (kind) => {
  let h: Harness;
  let owner: Account;

  beforeAll(async () => {
    h = await createHarness(kind);
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  const rotate = (id: string, headers: Record<string, string>, payload?: string) =>
    h.app.inject({
      method: 'POST',
      url: `/v1/keys/${id}/rotate`,
      headers: { cookie: owner.cookie, 'x-csrf-token': owner.csrf, ...headers },
      ...(payload !== undefined && { payload }),
    });

  it('rotates with no body, with no Content-Type, or with an empty JSON body: grace 0', async () => {
    for (const [headers, payload] of [
      [{}, undefined],
      [{ 'content-type': 'application/json' }, undefined],
      [{ 'content-type': 'application/json' }, ''],
    ] as const) {
      const { id, key } = await createKey(h, owner);
      const response = await rotate(id, headers, payload);
      expect(response.statusCode, JSON.stringify(headers)).toBe(201);
      expect(response.json().rotated_from).toBe(id);
      // Grace 0: the old key stops at once.
      expect((await h.request({ method: 'GET', url: '/v1/key', bearer: key })).statusCode).toBe(
        401,
      );
    }
    const { id } = await createKey(h, owner);
    const withGrace = await rotate(
      id,
      { 'content-type': 'application/json' },
      '{"grace_period":"1h"}',
    );
    expect(withGrace.statusCode).toBe(201);
    expect((await rotate(id, { 'content-type': 'application/json' }, '{"grace')).statusCode).toBe(
      400,
    );
    expect(
      (await rotate(id, { 'content-type': 'application/json' }, '{"nope":1}')).json().error.code,
    ).toBe('unknown_field');
    // Every other route still refuses an empty JSON body.
    const empty = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: {
        cookie: owner.cookie,
        'x-csrf-token': owner.csrf,
        'content-type': 'application/json',
      },
      payload: '',
    });
    expect(empty.json().error.code).toBe('invalid_json');
  });

  it('answers unknown paths outside /v1 with a JSON 404 to API clients, the app to browsers', async () => {
    const get = (url: string, accept?: string) =>
      h.app.inject({ method: 'GET', url, headers: accept === undefined ? {} : { accept } });
    for (const accept of [undefined, 'application/json', '*/*', 'application/json, text/html']) {
      const response = await get('/api/keys', accept);
      expect(response.statusCode, accept).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.json().error.code).toBe('not_found');
    }
    const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    const page = await get('/api/keys', browser);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    // The dashboard's own pages load whatever the client asks for.
    for (const path of ['/', '/keys', '/keys/key_abc', '/account', '/admin/users', '/login/']) {
      const response = await get(path, 'application/json');
      expect(response.statusCode, path).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
    }
    expect((await get('/v1/nothing', browser)).statusCode).toBe(404);
  });
});

describe.each(LIMITER_BACKENDS)('rate_limit_reset_at with the $name limiter', (backend) => {
  let h: Harness;
  let owner: Account;

  beforeAll(async () => {
    h = await createHarness(DATABASES[0] as DatabaseKind, backend.env());
    owner = await h.signup();
  });
  afterAll(async () => {
    await h.close();
  });

  it('lists the next rate-limit reset of each key with a rate rule', async () => {
    const limited = await createKey(h, owner, {
      name: 'limited',
      limits: {
        rate: [
          { limit: 10, window: '1m' },
          { limit: 100, window: '1h' },
        ],
      },
    });
    const free = await createKey(h, owner, { name: 'free' });
    const list = async () => {
      const response = await h.request({ method: 'GET', url: '/v1/keys?limit=100', as: owner });
      const data = response.json().data as { id: string; rate_limit_reset_at: string | null }[];
      return (id: string) => data.find((k) => k.id === id)?.rate_limit_reset_at;
    };
    const now = h.clock.now();
    let reset = await list();
    expect(reset(free.id)).toBeNull();
    expect(reset(limited.id)).toBe(new Date(now).toISOString());
    for (let i = 0; i < 3; i++)
      expect(
        (await h.request({ method: 'GET', url: '/v1/key', bearer: limited.key })).statusCode,
      ).toBe(200);
    reset = await list();
    // 3 units of 100/h take 3 × 36 s to replenish; of 10/min 3 × 6 s: the later one counts.
    expect(reset(limited.id)).toBe(new Date(now + 108_000).toISOString());
    // Listing charged nothing: 7 more of the 10 a minute still pass, the 11th does not.
    for (let i = 0; i < 7; i++)
      expect(
        (await h.request({ method: 'GET', url: '/v1/key', bearer: limited.key })).statusCode,
      ).toBe(200);
    expect(
      (await h.request({ method: 'GET', url: '/v1/key', bearer: limited.key })).statusCode,
    ).toBe(429);
  });
});

describe('dashboard pages', () => {
  it('DASHBOARD_PAGES covers every page the dashboard routes to', () => {
    const app = readFileSync(join(import.meta.dirname, '../../dashboard/src/App.tsx'), 'utf8');
    const body = app;
    const paths = [...body.matchAll(/path === '([^']+)'/g)].map((m) => m[1] as string);
    const patterns = [...body.matchAll(/match\('([^']+)'/g)].map((m) =>
      (m[1] as string).replace(/:\w+/g, 'x'),
    );
    expect(paths.length).toBeGreaterThan(5);
    for (const path of [...paths, ...patterns]) expect(DASHBOARD_PAGES.test(path), path).toBe(true);
  });
});
