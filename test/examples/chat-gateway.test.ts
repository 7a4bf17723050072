import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARTIFACTS_DIR } from '../helpers/databases.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const README = join(ROOT, 'examples', 'chat-gateway', 'README.md');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Runs the README's shell blocks as written, in one bash, with three changes so it can run beside
 * other tests: free ports instead of 3000/8080/8081, a database under .test-artifacts, and no
 * `npm install` (the suite runs in an installed tree).
 */
describe('examples/chat-gateway', () => {
  it('works as its README says', async () => {
    const blocks = [...readFileSync(README, 'utf8').matchAll(/```sh\n([\s\S]*?)```/g)].map(
      (m) => m[1] ?? '',
    );
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    const [upstreamPort, apiPort, gatewayPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    // A directory that does not exist yet, as ./data does not in a fresh clone.
    const dir = join(ARTIFACTS_DIR, `chat-gateway-${randomBytes(6).toString('hex')}`);
    const database = join(dir, 'data', 'chat-gateway.db');
    const script = blocks
      .join('\n')
      .replace(/^npm install$/m, 'true')
      .replaceAll('sqlite:./data/chat-gateway.db', `sqlite:${database}`)
      .replaceAll(':3000', `:${upstreamPort}`)
      .replaceAll('upstream.ts 3000', `upstream.ts ${upstreamPort}`)
      .replaceAll(':8080', `:${apiPort}`)
      .replaceAll(':8081', `:${gatewayPort}`);
    const child = spawn('bash', ['-c', `set -e\n${script}\nwait`], {
      cwd: ROOT,
      detached: true,
      env: {
        ...process.env,
        PORT: String(apiPort),
        GATEWAY_PORT: String(gatewayPort),
        LOG_LEVEL: 'warn',
        SHUTDOWN_DRAIN_DELAY: '0s',
      },
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += String(chunk);
    });
    child.stderr.on('data', (chunk) => {
      out += String(chunk);
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        // Our own process group only: bash and the servers it started.
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      }, 90_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    // Whatever the README left running (npx does not pass its kill on to the server it started)
    // goes with the process group.
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
    rmSync(dir, { recursive: true, force: true });
    expect(out).toContain(`OK: examples/chat-gateway/routes.json has 2 rules`);
    expect(out).toContain('{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}');
    expect(out).toMatch(/"content":"Hello from gpt-4o-mini! You are key key_\w+\."/);
    expect(out).toContain('"usage":{"prompt_tokens":2,"completion_tokens":7,"total_tokens":9}');
    expect(out).toContain('data: [DONE]');
    expect(out).toContain('"code":"forbidden"');
    expect(out).toContain('"code":"key_not_found"');
    expect(out).toContain('"code":"route_not_found"');
    expect(out).toContain('"credits":{"remaining":983');
    expect(out).not.toContain('"code":"internal_error"');
    expect(code, out).toBe(0);
  }, 120_000);
});
