/**
 * A stand-in for an OpenAI-style API: `POST /v1/chat/completions` answers (or streams, with
 * `"stream": true`) a canned reply and reports the tokens it "used" in the `x-usage-tokens`
 * header, which Keyward's gateway charges to the key. `GET /v1/models` lists the models.
 * It trusts the X-Keyward-* headers: only the gateway can reach it (it listens on 127.0.0.1).
 *
 *   node examples/chat-gateway/upstream.ts [port]   (default 3000)
 */
import { createServer } from 'node:http';

const MODELS = ['gpt-4o-mini', 'gpt-4o'];
const port = Number(process.argv[2] ?? 3000);

/** A rough token count: one per word, at least one. */
function tokens(text: string): number {
  return Math.max(1, text.split(/\s+/).filter(Boolean).length);
}

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/v1/models') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({ object: 'list', data: MODELS.map((id) => ({ id, object: 'model' })) }),
    );
    return;
  }
  if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error: { message: 'not found' } }));
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    let body: { model?: string; messages?: { content?: string }[]; stream?: boolean };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      response.writeHead(400, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { message: 'invalid JSON' } }));
      return;
    }
    const prompt = (body.messages ?? []).map((m) => m.content ?? '').join(' ');
    const reply = `Hello from ${body.model}! You are key ${request.headers['x-keyward-key-id']}.`;
    const usage = { prompt_tokens: tokens(prompt), completion_tokens: tokens(reply) };
    const total = usage.prompt_tokens + usage.completion_tokens;
    const id = `chatcmpl-${Date.now()}`;
    if (body.stream === true) {
      response.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'x-usage-tokens': String(total),
      });
      for (const word of reply.split(' ')) {
        const delta = {
          id,
          object: 'chat.completion.chunk',
          model: body.model,
          choices: [{ index: 0, delta: { content: `${word} ` } }],
        };
        response.write(`data: ${JSON.stringify(delta)}\n\n`);
      }
      response.end('data: [DONE]\n\n');
      return;
    }
    response.writeHead(200, {
      'content-type': 'application/json',
      'x-usage-tokens': String(total),
    });
    response.end(
      JSON.stringify({
        id,
        object: 'chat.completion',
        model: body.model,
        choices: [
          { index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' },
        ],
        usage: { ...usage, total_tokens: total },
      }),
    );
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`mock chat API listening on http://127.0.0.1:${port}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => server.close(() => process.exit(0)));
