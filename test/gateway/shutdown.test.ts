import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type Stack, startStack, startUpstream, type Upstream } from './stack.ts';

describe('gateway in the graceful shutdown', () => {
  let upstream: Upstream | undefined;
  let stack: Stack | undefined;

  afterAll(async () => {
    await stack?.database.drop();
    await upstream?.close();
  });

  it('lets an in-flight streamed answer finish, then stops listening', async () => {
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    upstream = await startUpstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: first\n\n');
      void released.then(() => response.end('data: last\n\n'));
    });
    stack = await startStack(upstream.url, { routes: [{ path: '/*', public: true }] });
    const gateway = stack.gateway;
    const response = await fetch(`${gateway}/events`);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: first\n\n');

    const lines: string[] = [];
    let finished = false;
    const stopping = stack.server
      .shutdown((line) => lines.push(line), { drain: false })
      .then((outcome) => {
        finished = true;
        return outcome;
      });
    // While the stream is open the shutdown waits for it (and names it).
    for (let i = 0; i < 20 && !lines.some((l) => l.includes('in flight')); i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(lines.join('\n')).toContain('1 request in flight (GET /events)');
    expect(finished).toBe(false);
    release();
    let rest = '';
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      rest += new TextDecoder().decode(next.value);
    }
    expect(rest).toBe('data: last\n\n');
    const outcome = await stopping;
    expect(outcome).toEqual({ clean: true, unfinished: [] });
    await expect(fetch(`${gateway}/events`)).rejects.toThrow();
  });

  it('answers a request still arriving when it closes 503 in the API error shape', async () => {
    const local = await startUpstream((_request, response) => response.end('ok'));
    const closing = await startStack(local.url, { routes: [{ path: '/*', public: true }] });
    try {
      const { hostname, port } = new URL(closing.gateway);
      const socket = connect(Number(port), hostname);
      let raw = '';
      socket.on('data', (chunk) => {
        raw += String(chunk);
      });
      const closed = new Promise((resolve) => socket.once('close', resolve));
      await new Promise((resolve) => socket.once('connect', resolve));
      // Headers in transit: not idle, so closing the server does not drop the connection.
      socket.write('GET /x HTTP/1.1\r\nHost: x\r\n');
      let waiting: () => void = () => {};
      const printed = new Promise<void>((resolve) => {
        waiting = resolve;
      });
      const stopping = closing.server.shutdown(
        (line) => {
          if (line.startsWith('closing: waiting for')) waiting();
        },
        { drain: false },
      );
      await printed;
      socket.write('\r\n');
      await closed;
      expect((await stopping).clean).toBe(true);
      expect(raw).toMatch(/^HTTP\/1\.1 503 /);
      expect(raw.toLowerCase()).toContain('connection: close');
      const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
      expect(body.error.code).toBe('service_unavailable');
    } finally {
      await closing.database.drop();
      await local.close();
    }
  });
});
