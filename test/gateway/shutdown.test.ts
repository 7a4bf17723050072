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
});
