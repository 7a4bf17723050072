import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS_DIR } from '../helpers/databases.ts';
import { type Stack, startStack } from './stack.ts';

/**
 * @fastify/reply-from's default undici options turn certificate checks off
 * (tls.rejectUnauthorized false): an https:// upstream with a certificate nobody issued would be
 * trusted, and a man in the middle could read every request with its identity headers.
 */
describe('gateway to an https:// upstream', () => {
  let server: Server;
  let stack: Stack;
  const dir = join(ARTIFACTS_DIR, `tls-${randomBytes(6).toString('hex')}`);

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    execFileSync(
      'openssl',
      [
        ...[
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
        ],
        ...['-addext', 'subjectAltName=IP:127.0.0.1'],
        ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      ],
      { stdio: 'ignore' },
    );
    server = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (_request, response) => response.end('secret upstream answer'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    stack = await startStack(`https://127.0.0.1:${port}`, {
      routes: [{ path: '/*', public: true }],
    });
  });
  afterAll(async () => {
    await stack.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a self-signed certificate: 502, nothing forwarded', async () => {
    const response = await fetch(`${stack.gateway}/x`);
    expect(response.status).toBe(502);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'upstream_unavailable',
    );
  });
});
