import { request as httpRequest, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type Stack, startStack, startUpstream, type Upstream } from './stack.ts';

const ROUTES = {
  routes: [
    { method: 'GET', path: '/events' },
    { method: 'GET', path: '/download' },
    { method: 'PUT', path: '/upload' },
    { method: 'GET', path: '/hang' },
    { method: 'GET', path: '/forever' },
  ],
};

const MB = 1024 * 1024;
const DOWNLOAD_BYTES = 50 * MB;

/** A promise with its resolve function, to let the upstream go on when the test says so. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

/** Writes `bytes` of a repeating pattern, respecting backpressure. */
async function writeBytes(response: ServerResponse, bytes: number, offset: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  while (sent < bytes) {
    const size = Math.min(chunk.length, bytes - sent);
    for (let i = 0; i < size; i++) chunk[i] = (offset + sent + i) % 251;
    if (!response.write(size === chunk.length ? chunk : chunk.subarray(0, size)))
      await new Promise((resolve) => response.once('drain', resolve));
    sent += size;
  }
}

describe('gateway streaming', () => {
  let upstream: Upstream;
  let stack: Stack;
  let key: string;
  let sseGate = gate();
  let downloadGate = gate();
  let uploadFirstChunk = gate();
  const hanging: ServerResponse[] = [];
  let foreverClosed = false;

  beforeAll(async () => {
    upstream = await startUpstream((request, response) => {
      if (request.url === '/events') {
        response.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
        });
        response.write('data: first\n\n');
        void sseGate.wait.then(() => response.end('data: last\n\n'));
        return;
      }
      if (request.url === '/download') {
        response.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': DOWNLOAD_BYTES,
        });
        void (async () => {
          await writeBytes(response, DOWNLOAD_BYTES / 2, 0);
          await downloadGate.wait;
          await writeBytes(response, DOWNLOAD_BYTES / 2, DOWNLOAD_BYTES / 2);
          response.end();
        })();
        return;
      }
      if (request.url === '/upload') {
        let received = 0;
        request.on('data', (chunk: Buffer) => {
          if (received === 0) uploadFirstChunk.open();
          received += chunk.length;
        });
        request.on('end', () => {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ received, chunked: request.headers['transfer-encoding'] }));
        });
        return;
      }
      if (request.url === '/forever') {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write('data: tick\n\n');
        response.once('close', () => {
          foreverClosed = true;
        });
        return;
      }
      // /hang: headers never come.
      hanging.push(response);
    });
    stack = await startStack(upstream.url, ROUTES, { GATEWAY_TIMEOUT: '1s' });
    key = (await stack.createKey()).key;
  });
  afterAll(async () => {
    for (const response of hanging) response.destroy();
    await stack.close();
    await upstream.close();
  });

  it('streams server-sent events: the first event arrives before the upstream ends the stream', async () => {
    sseGate = gate();
    const response = await fetch(`${stack.gateway}/events`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    // The upstream's own keep-alive terms (Node's 5 s) are not the gateway's.
    expect(response.headers.get('keep-alive')).not.toBe('timeout=5');
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: first\n\n');
    // Only now may the upstream finish: had the gateway buffered, the read above would never end.
    sseGate.open();
    let rest = '';
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      rest += new TextDecoder().decode(next.value);
    }
    expect(rest).toBe('data: last\n\n');
  });

  it('ends the upstream request when the client goes away mid-stream', async () => {
    const url = new URL(stack.gateway);
    const request = httpRequest({
      host: url.hostname,
      port: url.port,
      path: '/forever',
      agent: false,
      headers: { authorization: `Bearer ${key}` },
    });
    const first = await new Promise<string>((resolve, reject) => {
      request.on('response', (response) =>
        response.once('data', (chunk) => resolve(String(chunk))),
      );
      request.on('error', reject);
      request.end();
    });
    expect(first).toBe('data: tick\n\n');
    expect(foreverClosed).toBe(false);
    request.on('error', () => {});
    request.destroy();
    await eventually(async () => foreverClosed, 'the upstream saw its request end');
  });

  it('streams a 50 MB download: half of it arrives while the upstream still holds the rest', async () => {
    downloadGate = gate();
    const response = await fetch(`${stack.gateway}/download`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(DOWNLOAD_BYTES));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let received = 0;
    let mismatches = 0;
    const check = (bytes: Uint8Array) => {
      for (let i = 0; i < bytes.length; i += 4099)
        if (bytes[i] !== (received + i) % 251) mismatches += 1;
      received += bytes.length;
    };
    while (received < DOWNLOAD_BYTES / 2) {
      const next = await reader.read();
      if (next.done) break;
      check(next.value);
    }
    // 25 MB went through while the upstream had not sent the second half yet.
    expect(received).toBe(DOWNLOAD_BYTES / 2);
    downloadGate.open();
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      check(next.value);
    }
    expect(received).toBe(DOWNLOAD_BYTES);
    expect(mismatches).toBe(0);
  });

  it('streams a chunked upload: the upstream has the first chunk before the client sends the last', async () => {
    uploadFirstChunk = gate();
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(stack.gateway);
      const req = httpRequest({
        host: url.hostname,
        port: url.port,
        path: '/upload',
        method: 'PUT',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/octet-stream',
          'transfer-encoding': 'chunked',
        },
      });
      req.on('response', (response) => {
        let body = '';
        response.on('data', (chunk) => {
          body += String(chunk);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(MB, 1));
      // The rest is sent only once the upstream has seen the start: a buffering gateway would hang here.
      void uploadFirstChunk.wait.then(() => {
        req.write(Buffer.alloc(MB, 2));
        req.end(Buffer.alloc(MB, 3));
      });
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ received: 3 * MB, chunked: 'chunked' });
  });

  it('answers 504 upstream_timeout when the upstream sends no headers within GATEWAY_TIMEOUT', async () => {
    const response = await fetch(`${stack.gateway}/hang`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(504);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('upstream_timeout');
    expect(body.error.message).toContain('1 s');
  });
});

describe('gateway with its upstream down', () => {
  let stack: Stack;

  beforeAll(async () => {
    const gone = await startUpstream((_request, response) => response.end());
    await gone.close();
    stack = await startStack(gone.url, { routes: [{ path: '/*' }] });
  });
  afterAll(async () => {
    await stack.close();
  });

  it('answers 502 upstream_unavailable, and still refuses a bad key first', async () => {
    const { key } = await stack.createKey();
    const response = await fetch(`${stack.gateway}/anything`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: 'x',
    });
    expect(response.status).toBe(502);
    const body = (await response.json()) as { error: { code: string; request_id: string } };
    expect(body.error.code).toBe('upstream_unavailable');
    expect(body.error.request_id).toMatch(/^req_/);
    const refused = await fetch(`${stack.gateway}/anything`);
    expect(refused.status).toBe(401);
  });
});
