import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyward, KeywardError } from '../../sdk/dist/index.js';
import { freePort } from '../helpers/cluster.ts';
import { type KeywardServer, startKeyward } from './keyward-server.ts';

/** A fetch that counts the attempts the client makes. */
function countingFetch() {
  const counter = {
    calls: 0,
    fetch: ((input: string | URL | Request, init?: RequestInit) => {
      counter.calls += 1;
      return fetch(input, init);
    }) as typeof fetch,
  };
  return counter;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('@keyward/sdk client against a real Keyward', () => {
  let k: KeywardServer;
  let client: Keyward;
  beforeAll(async () => {
    k = await startKeyward();
    client = new Keyward({ baseUrl: k.url, token: k.token });
  });
  afterAll(async () => {
    await k.close();
  });

  it('verify resolves for valid and refused keys alike, and throws only when Keyward cannot be asked', async () => {
    const created = await client.keys.create({ name: 'sdk verify', permissions: ['docs:read'] });
    const valid = await client.verify({ key: created.key, permission: 'docs:read' });
    expect(valid).toMatchObject({ valid: true, code: 'VALID', key_id: created.id });
    const forbidden = await client.verify({ key: created.key, permission: 'docs:write' });
    expect(forbidden).toMatchObject({ valid: false, code: 'FORBIDDEN' });
    const unknown = await client.verify({ key: `${created.key.slice(0, -4)}zzzz` });
    expect(unknown).toMatchObject({ valid: false, code: 'NOT_FOUND' });
    await client.keys.revoke(created.id);
    expect((await client.verify({ key: created.key })).code).toBe('REVOKED');

    const badToken = new Keyward({ baseUrl: k.url, token: 'kws_not_a_token' });
    const error = await badToken.verify({ key: created.key }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeywardError);
    expect(error).toMatchObject({ status: 401, code: 'unauthorized' });
    expect((error as KeywardError).requestId).toMatch(/^req_/);
  });

  it('manages keys: create, get, update, rotate, revoke, delete, with Keyward errors as KeywardError', async () => {
    const created = await client.keys.create({ name: 'managed', environment: 'test' });
    expect(created.key.startsWith('sk_test_') || created.key.length > 20).toBe(true);
    expect((await client.keys.get(created.id)).name).toBe('managed');
    const updated = await client.keys.update(created.id, { name: 'renamed', metadata: { a: 1 } });
    expect(updated).toMatchObject({ name: 'renamed', metadata: { a: 1 } });
    const rotated = await client.keys.rotate(created.id, { grace_period: '1h' });
    expect(rotated.id).not.toBe(created.id);
    expect((await client.verify({ key: rotated.key })).valid).toBe(true);
    expect((await client.keys.revoke(rotated.id)).status).toBe('revoked');
    await client.keys.delete(created.id);
    const missing = await client.keys.get(created.id).catch((e: unknown) => e);
    expect(missing).toMatchObject({ name: 'KeywardError', status: 404, code: 'not_found' });
    const invalid = await client.keys.create({ name: '' }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ status: 400, code: 'validation_error' });
  });

  it('keys.list walks every cursor page as an async iterator', async () => {
    const environment = 'test';
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++)
      ids.add((await client.keys.create({ name: `paged-${i}`, environment })).id);
    const counter = countingFetch();
    const paging = new Keyward({ baseUrl: k.url, token: k.token, fetch: counter.fetch });
    const seen: string[] = [];
    for await (const key of paging.keys.list({ search: 'paged-', limit: 2 })) seen.push(key.id);
    expect(new Set(seen)).toEqual(ids);
    expect(seen).toHaveLength(5);
    expect(counter.calls).toBe(3);
  });

  it('usage.settle refunds the difference of a usage-billed verification', async () => {
    const created = await client.keys.create({
      name: 'metered',
      billing: 'usage',
      credits: { remaining: 100 },
    });
    const verification = await client.verify({ key: created.key, cost: 10 });
    expect(verification.credits?.remaining).toBe(90);
    const settled = await client.usage.settle({
      verification_id: verification.verification_id,
      amount: 3,
    });
    expect(settled).toMatchObject({
      reserved: 10,
      amount: 3,
      adjusted: 7,
      credits: { remaining: 97 },
    });
    const again = await client.usage
      .settle({ verification_id: verification.verification_id, amount: 3 })
      .catch((e: unknown) => e);
    expect(again).toMatchObject({ status: 404 });
  });

  it('retries every call while the connection is refused, then says Keyward could not be reached', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    for (const call of [
      (c: Keyward) => c.verify({ key: 'sk_live_x' }),
      (c: Keyward) => c.keys.create({ name: 'x' }),
      (c: Keyward) => c.keys.get('key_x'),
    ]) {
      const counter = countingFetch();
      const c = new Keyward({ baseUrl: closed, token: k.token, fetch: counter.fetch, retries: 2 });
      const error = await call(c).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'KeywardError', code: 'network_error', status: null });
      expect(counter.calls).toBe(3);
    }
  });

  it('retries reads on 503 and a dropped connection, never a write that may have arrived', async () => {
    // In front of Keyward: the first two requests get a 503 (or a reset connection), then
    // requests pass through to the real server.
    const front = (mode: '503' | 'reset') => {
      let seen = 0;
      const server = createServer((req, res) => {
        seen += 1;
        if (seen <= 2) {
          if (mode === 'reset') {
            req.socket.destroy();
            return;
          }
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              error: { code: 'service_unavailable', message: 'down', request_id: 'req_x' },
            }),
          );
          return;
        }
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', async () => {
          const upstream = await fetch(k.url + (req.url ?? '/'), {
            method: req.method,
            headers: req.headers as Record<string, string>,
            ...(chunks.length > 0 && { body: Buffer.concat(chunks) }),
          });
          res.writeHead(upstream.status, { 'content-type': 'application/json' });
          res.end(await upstream.text());
        });
      });
      return server;
    };
    const created = await client.keys.create({ name: 'retried' });
    for (const mode of ['503', 'reset'] as const) {
      const read = front(mode);
      const readUrl = await listen(read);
      const reader = new Keyward({ baseUrl: readUrl, token: k.token, retries: 2 });
      expect((await reader.keys.get(created.id)).id).toBe(created.id);
      read.close();

      const write = front(mode);
      const writeUrl = await listen(write);
      const counter = countingFetch();
      const writer = new Keyward({ baseUrl: writeUrl, token: k.token, fetch: counter.fetch });
      const error = await writer.verify({ key: created.key }).catch((e: unknown) => e);
      expect(error).toMatchObject({
        name: 'KeywardError',
        code: mode === '503' ? 'service_unavailable' : 'network_error',
      });
      expect(counter.calls).toBe(1);
      write.closeAllConnections();
      write.close();
    }
  });

  it('gives up at the overall timeout, with no further attempt', async () => {
    const silent = createServer(() => {});
    const url = await listen(silent);
    const counter = countingFetch();
    const c = new Keyward({ baseUrl: url, token: k.token, timeoutMs: 300, fetch: counter.fetch });
    const error = await c.keys.get('key_x').catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'KeywardError', code: 'timeout', status: null });
    expect(counter.calls).toBe(1);
    silent.closeAllConnections();
    silent.close();
  });

  it('refuses bad options at construction', () => {
    expect(() => new Keyward({ baseUrl: 'ftp://x', token: 't' })).toThrow(/baseUrl/);
    expect(() => new Keyward({ baseUrl: k.url, token: '' })).toThrow(/token/);
    expect(() => new Keyward({ baseUrl: k.url, token: 't', retries: -1 })).toThrow(/retries/);
    expect(() => new Keyward({ baseUrl: k.url, token: 't', timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
