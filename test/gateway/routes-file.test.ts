import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { matchRoute } from '../../src/gateway/match.ts';
import { checkRoutes, parseRoutesFile } from '../../src/gateway/routes-file.ts';

function routes(document: unknown) {
  const result = checkRoutes(document);
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.routes;
}

function problems(document: unknown): string[] {
  const result = checkRoutes(document);
  return result.ok ? [] : result.problems;
}

describe('routes file validation', () => {
  it('accepts every documented form and fills the defaults', () => {
    const [a, b, c, d] = routes({
      routes: [
        {
          method: 'GET',
          path: '/screenshots/:id',
          permission: 'screenshots:read',
          resource: { from: 'path', name: 'id' },
          cost: 2,
        },
        {
          method: ['POST', 'PUT'],
          path: '/v1/*',
          resource: { from: 'body', field: 'model' },
          cost: { from: 'response_header', name: 'X-Usage-Tokens' },
        },
        { path: '/health', public: true },
        { method: '*', path: '/q', resource: { from: 'header', name: 'X-Model' } },
      ],
    });
    expect(a?.methods).toEqual(new Set(['GET']));
    expect(a?.cost).toEqual({ from: 'fixed', value: 2 });
    expect(b?.rest).toBe(true);
    expect(b?.cost).toEqual({ from: 'response_header', name: 'x-usage-tokens', estimate: 1 });
    expect(c?.public).toBe(true);
    expect(c?.methods).toBeNull();
    expect(c?.cost).toEqual({ from: 'fixed', value: 1 });
    expect(d?.resource).toEqual({ from: 'header', name: 'x-model' });
  });

  it('reports every problem with its JSON path', () => {
    expect(
      problems({
        routes: [
          { method: 'FETCH', path: 'screenshots' },
          { path: '/a/*/b', public: true, permission: 'x:y' },
          { path: '/a/:id', resource: { from: 'path', name: 'other' }, cost: -1 },
          { path: '/b', resource: { from: 'body' }, cost: { from: 'response_header' }, extra: 1 },
          { path: '/c/:id/:id' },
          { path: '/d', public: true, cost: 3 },
          'not a rule',
        ],
        version: 2,
      }),
    ).toEqual([
      '$.version: unknown field (only "routes" is allowed)',
      '$.routes[0].method: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or "*" (got "FETCH")',
      '$.routes[0].path: must be a path starting with "/", such as "/screenshots/:id" or "/v1/*"',
      '$.routes[1].path: "*" may only be the last segment (got "/a/*/b")',
      '$.routes[1].permission: a public rule takes no key, so it cannot have a permission',
      '$.routes[2].resource.name: the path has no parameter ":other"',
      '$.routes[2].cost: must be a whole number from 0 to 1000000000000',
      '$.routes[3].extra: unknown field (allowed: method, path, public, permission, resource, cost, description)',
      '$.routes[3].resource.field: must name a top-level field of the JSON body, e.g. "model"',
      '$.routes[3].cost.name: must be the response header that carries the cost, e.g. "x-usage-tokens"',
      '$.routes[4].path: parameter ":id" appears twice',
      '$.routes[5].cost: a public rule takes no key, so it cannot have a cost',
      '$.routes[6]: must be an object with at least "path"',
    ]);
    expect(problems([])).toEqual(['$: must be an object {"routes": [...]}']);
    expect(problems({ routes: [] })).toEqual([
      '$.routes: needs at least one rule (nothing would be served)',
    ]);
    expect(parseRoutesFile('{"routes": [').ok).toBe(false);
  });
});

describe('route matching', () => {
  const table = routes({
    routes: [
      { method: 'GET', path: '/', public: true },
      { method: 'GET', path: '/items/:id' },
      { method: ['GET', 'POST'], path: '/items/:id/parts/:part' },
      { path: '/v1/*' },
      { method: 'DELETE', path: '/items/:id' },
    ],
  });

  it('takes the first rule whose method and path match', () => {
    expect(matchRoute(table, 'GET', '/')).toMatchObject({ route: { index: 0 } });
    expect(matchRoute(table, 'GET', '/items/42')).toEqual({
      route: table[1],
      params: { id: '42' },
    });
    expect(matchRoute(table, 'GET', '/items/42/')).toMatchObject({ route: { index: 1 } });
    expect(matchRoute(table, 'POST', '/items/a%20b/parts/7')).toEqual({
      route: table[2],
      params: { id: 'a b', part: '7' },
    });
    expect(matchRoute(table, 'PATCH', '/v1')).toMatchObject({ route: { index: 3 } });
    expect(matchRoute(table, 'PATCH', '/v1/a/b/c')).toMatchObject({ route: { index: 3 } });
    expect(matchRoute(table, 'DELETE', '/items/42')).toMatchObject({ route: { index: 4 } });
  });

  it('denies by default and refuses ambiguous paths', () => {
    expect(matchRoute(table, 'POST', '/items/42')).toBeNull();
    expect(matchRoute(table, 'GET', '/items')).toBeNull();
    expect(matchRoute(table, 'GET', '/v2/x')).toBeNull();
    for (const path of [
      '/v1/../admin',
      '/v1/%2E%2E/admin',
      '/v1/a%2fb',
      '/v1//a',
      '/v1/a%5cb',
      '/v1/%zz',
      'v1',
    ])
      expect(matchRoute(table, 'GET', path), path).toBe('bad_path');
  });
});

describe('gateway settings', () => {
  const files: Record<string, string> = {
    'good.json': JSON.stringify({ routes: [{ path: '/*' }] }),
    'bad.json': JSON.stringify({ routes: [{ path: 'x' }] }),
  };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Error('ENOENT: no such file');
    return text;
  };

  it('is off by default and on with an upstream and a routes file', () => {
    expect(loadConfig({}).gateway).toBeNull();
    const config = loadConfig(
      { GATEWAY_UPSTREAM: 'http://127.0.0.1:3000/', GATEWAY_ROUTES: 'good.json' },
      readFile,
    );
    expect(config.gateway).toMatchObject({
      upstream: 'http://127.0.0.1:3000',
      port: 8081,
      timeoutMs: 60_000,
    });
    expect(config.gateway?.routes).toHaveLength(1);
  });

  it('lists every gateway problem at start', () => {
    expect(() => loadConfig({ GATEWAY_UPSTREAM: 'http://127.0.0.1:3000' }, readFile)).toThrow(
      /needs both GATEWAY_UPSTREAM \(--upstream\) and GATEWAY_ROUTES/,
    );
    let message = '';
    try {
      loadConfig(
        {
          GATEWAY_UPSTREAM: 'ftp://x/y',
          GATEWAY_ROUTES: 'bad.json',
          GATEWAY_PORT: '8080',
          GATEWAY_TIMEOUT: 'soon',
        },
        readFile,
      );
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('GATEWAY_UPSTREAM must be an http:// or https:// origin');
    expect(message).toContain('GATEWAY_PORT must differ from PORT');
    expect(message).toContain('GATEWAY_TIMEOUT must be a duration');
    expect(message).toContain('GATEWAY_ROUTES bad.json: $.routes[0].path: must be a path');
    expect(() =>
      loadConfig({ GATEWAY_UPSTREAM: 'http://a:1', GATEWAY_ROUTES: 'missing.json' }, readFile),
    ).toThrow(/GATEWAY_ROUTES "missing.json" could not be read/);
  });
});
