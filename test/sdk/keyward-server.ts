import type { AddressInfo } from 'node:net';
import { DATABASES } from '../helpers/databases.ts';
import { createHarness, type Harness, promoteToAdmin } from '../helpers/harness.ts';

const sqlite = DATABASES.find((d) => d.name === 'sqlite');
if (sqlite === undefined) throw new Error('no sqlite database kind');

export interface KeywardServer {
  h: Harness;
  url: string;
  /** A service token with keys:verify and keys:manage. */
  token: string;
  close(): Promise<void>;
}

/**
 * A real Keyward (SQLite, manual clock) listening on a loopback port, and a service token for
 * the SDK: what the SDK's tests talk to over HTTP.
 */
export async function startKeyward(env: Record<string, string> = {}): Promise<KeywardServer> {
  const h = await createHarness(sqlite as (typeof DATABASES)[number], {
    PLANS: 'free:unlimited',
    SESSION_IDLE_TIMEOUT: '400d',
    SESSION_ABSOLUTE_TIMEOUT: '400d',
    ...env,
  });
  const admin = await h.signup();
  await promoteToAdmin(h, admin);
  const created = await h.request({
    method: 'POST',
    url: '/v1/tokens',
    as: admin,
    body: { name: 'sdk', scopes: ['keys:verify', 'keys:manage'] },
  });
  if (created.statusCode !== 201) throw new Error(`token: ${created.statusCode} ${created.body}`);
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = h.app.server.address() as AddressInfo;
  return {
    h,
    url: `http://127.0.0.1:${port}`,
    token: created.json().token,
    close: () => h.close(),
  };
}
