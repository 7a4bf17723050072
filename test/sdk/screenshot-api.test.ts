import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyward } from '../../sdk/dist/index.js';
import { freePort } from '../helpers/cluster.ts';
import { type KeywardServer, startKeyward } from './keyward-server.ts';

const SERVER = join(import.meta.dirname, '..', '..', 'examples', 'screenshot-api', 'server.ts');

/** examples/screenshot-api/server.ts as its README runs it, against a real Keyward. */
describe('examples/screenshot-api', () => {
  let k: KeywardServer;
  let keyward: Keyward;
  let child: ChildProcess;
  let api: string;
  let output = '';
  beforeAll(async () => {
    k = await startKeyward();
    keyward = new Keyward({ baseUrl: k.url, token: k.token });
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [SERVER], {
      env: {
        PATH: process.env.PATH ?? '',
        KEYWARD_URL: k.url,
        KEYWARD_TOKEN: k.token,
        PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += String(chunk);
        if (output.includes('screenshot API on')) resolve();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.on('exit', (code) => reject(new Error(`server.ts exited ${code}: ${output}`)));
    });
  });
  afterAll(async () => {
    child?.kill('SIGTERM');
    await k.close();
  });

  const post = (path: string, key: string, body: unknown) =>
    fetch(api + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('charges per call by size, reads back for free, and answers refusals as Keyward does', async () => {
    const customer = await keyward.keys.create({
      name: 'customer',
      permissions: ['screenshots:create', 'screenshots:read'],
      credits: { remaining: 4 },
    });
    expect((await fetch(`${api}/health`)).status).toBe(200);

    const small = await post('/screenshots', customer.key, { url: 'https://example.com' });
    expect(small.status).toBe(201);
    const shot = (await small.json()) as { id: string; image: string; credits_remaining: number };
    expect(shot.credits_remaining).toBe(3);
    expect(shot.image).toContain('<svg');
    const large = await post('/screenshots', customer.key, {
      url: 'https://example.com/big',
      width: 2560,
      height: 1440,
    });
    expect(((await large.json()) as { credits_remaining: number }).credits_remaining).toBe(1);

    // Validated before the key is charged.
    const bad = await post('/screenshots', customer.key, { url: 'javascript:alert(1)' });
    expect(bad.status).toBe(400);
    const read = await fetch(`${api}/screenshots/${shot.id}`, {
      headers: { 'x-api-key': customer.key },
    });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { id: string }).id).toBe(shot.id);

    const forbidden = await post('/exports/pdf', customer.key, { url: 'https://example.com' });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { code: string } }).error.code).toBe('forbidden');

    const broke = await post('/screenshots', customer.key, {
      url: 'https://example.com',
      width: 4000,
      height: 4000,
    });
    expect(broke.status).toBe(402);
    const unauthenticated = await post('/screenshots', '', { url: 'https://example.com' });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect((await keyward.verify({ key: customer.key, cost: 0 })).credits?.remaining).toBe(1);
  });

  it('reserves 20 credits for a PDF export and settles the pages it rendered', async () => {
    const metered = await keyward.keys.create({
      name: 'metered',
      permissions: ['exports:create'],
      billing: 'usage',
      credits: { remaining: 100 },
    });
    const answer = await post('/exports/pdf', metered.key, { url: 'https://example.com' });
    expect(answer.status).toBe(201);
    const pdf = (await answer.json()) as {
      pages: number;
      billed: number;
      credits_remaining: number;
    };
    expect(pdf.billed).toBe(pdf.pages);
    expect(pdf.pages).toBeGreaterThan(0);
    expect(pdf.credits_remaining).toBe(100 - pdf.pages);
    expect((await keyward.keys.get(metered.id)).credits.remaining).toBe(100 - pdf.pages);
  });
});
