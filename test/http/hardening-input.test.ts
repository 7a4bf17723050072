import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  verifierToken,
} from '../helpers/harness.ts';

/** `[[[…]]]` nested `depth` arrays deep. */
function nestedArrays(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

describe.each(DATABASES)('hostile input on $name (security issue 11.3, 11.4, 11.6)', (kind) => {
  let h: Harness;
  let owner: Account;
  let serviceToken: string;
  let keyId: string;
  beforeAll(async () => {
    h = await createHarness(kind, { TRUSTED_PROXIES: '10.0.0.1', PLANS: 'free:unlimited' });
    owner = await h.signup();
    serviceToken = await verifierToken(h);
    keyId = (await createKey(h, owner)).id;
  });
  afterAll(async () => {
    await h.close();
  });

  const refused = (response: { statusCode: number; json(): { error: { code: string } } }) => {
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('validation_error');
  };

  describe('NUL characters are refused with 400 before any query (11.3)', () => {
    it('in sign-up and sign-in emails and passwords', async () => {
      for (const url of ['/v1/auth/signup', '/v1/auth/login']) {
        refused(
          await h.request({
            method: 'POST',
            url,
            body: { email: 'nul\u0000@example.com', password: 'a long password 1' },
          }),
        );
        refused(
          await h.request({
            method: 'POST',
            url,
            body: { email: 'nul@example.com', password: 'a long\u0000password 1' },
          }),
        );
      }
    });

    it('in key names, search, ids, nested metadata and object keys', async () => {
      refused(
        await h.request({ method: 'POST', url: '/v1/keys', as: owner, body: { name: 'a\u0000b' } }),
      );
      refused(
        await h.request({
          method: 'PATCH',
          url: `/v1/keys/${keyId}`,
          as: owner,
          body: { name: 'a\u0000b' },
        }),
      );
      refused(
        await h.request({
          method: 'PATCH',
          url: `/v1/keys/${keyId}`,
          as: owner,
          body: { metadata: { deep: [{ text: 'x\u0000' }] } },
        }),
      );
      refused(
        await h.request({
          method: 'PATCH',
          url: `/v1/keys/${keyId}`,
          as: owner,
          body: { metadata: { 'key\u0000': 1 } },
        }),
      );
      refused(await h.request({ method: 'GET', url: '/v1/keys?search=a%00b', as: owner }));
      refused(await h.request({ method: 'GET', url: '/v1/keys/key_%00abc', as: owner }));
      refused(
        await h.request({ method: 'GET', url: '/v1/audit-log?target_id=key_%00', as: owner }),
      );
      // The key is unchanged.
      const key = await h.request({ method: 'GET', url: `/v1/keys/${keyId}`, as: owner });
      expect(key.json().name).toBe('test key');
    });
  });

  it('a raw NUL in a header never reaches the app: the HTTP parser answers 400 (11.3)', async () => {
    const server = await createHarness(kind);
    try {
      await server.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = server.app.server.address() as AddressInfo;
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write('GET /v1/auth/me HTTP/1.1\r\nHost: x\r\nUser-Agent: a\u0000b\r\n\r\n');
        });
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk;
        });
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    } finally {
      await server.close();
    }
  });

  it('cursors beyond the safe integers are refused with 400 (11.3)', async () => {
    for (const cursor of ['1e300', '1e400', '9007199254740993']) {
      refused(await h.request({ method: 'GET', url: `/v1/audit-log?cursor=${cursor}`, as: owner }));
      refused(
        await h.request({
          method: 'GET',
          url: `/v1/keys/${keyId}/logs?cursor=${cursor}`,
          as: owner,
        }),
      );
    }
    const page = await h.request({ method: 'GET', url: '/v1/audit-log?cursor=12', as: owner });
    expect(page.statusCode).toBe(200);
  });

  it('a verification with NUL in permission or resource is answered without harm, and NUL in ip is 400 (11.3)', async () => {
    const { key } = await createKey(h, owner, { permissions: ['models:invoke'] });
    const verify = (body: Record<string, unknown>) =>
      h.request({ method: 'POST', url: '/v1/verify', bearer: serviceToken, body });
    const permission = await verify({ key, permission: 'models\u0000:invoke' });
    expect(permission.statusCode).toBe(200);
    expect(permission.json()).toMatchObject({ valid: false, code: 'FORBIDDEN' });
    const resource = await verify({ key, resource: 'gpt\u0000' });
    expect(resource.statusCode).toBe(200);
    refused(await verify({ key, ip: '10.0.0.1\u0000' }));
    const nulKey = await verify({ key: `${key}\u0000` });
    expect(nulKey.json()).toMatchObject({ valid: false, code: 'NOT_FOUND' });
    // What was recorded is written without error.
    await h.services.usage.flush();
  });

  describe('deep JSON (11.4)', () => {
    // Sent as text: JSON.stringify itself cannot write nesting this deep.
    const raw = (method: 'POST' | 'PATCH', url: string, payload: string) =>
      h.app.inject({
        method,
        url,
        headers: {
          cookie: owner.cookie,
          'x-csrf-token': owner.csrf,
          'content-type': 'application/json',
        },
        payload,
      });
    const arrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

    it('metadata nested 5,000 arrays deep is 400, not a stack overflow', async () => {
      refused(await raw('POST', '/v1/keys', `{"name":"deep","metadata":{"a":${arrays(5000)}}}`));
      refused(await raw('PATCH', `/v1/keys/${keyId}`, `{"metadata":{"a":${arrays(5000)}}}`));
    });

    it('metadata may nest 20 levels, not 21', async () => {
      // The metadata object itself is level 1.
      const ok = await h.request({
        method: 'PATCH',
        url: `/v1/keys/${keyId}`,
        as: owner,
        body: { metadata: { a: nestedArrays(19) } },
      });
      expect(ok.statusCode).toBe(200);
      refused(
        await h.request({
          method: 'PATCH',
          url: `/v1/keys/${keyId}`,
          as: owner,
          body: { metadata: { a: nestedArrays(20) } },
        }),
      );
    });

    it('any body nested as deep as the body limit allows is 400', async () => {
      refused(await raw('POST', '/v1/keys', `{"name":"x","metadata":{"a":${arrays(30_000)}}}`));
      expect((await raw('POST', '/v1/tokens', `{"name":${arrays(30_000)}}`)).statusCode).toBe(400);
    });
  });

  describe('strict IP parsing (11.6)', () => {
    it('verify refuses non-dotted-quad IPv4 forms instead of matching them to 10.0.0.0/8', async () => {
      const { key } = await createKey(h, owner, { ip_allowlist: ['10.0.0.0/8'] });
      const verify = (ip: string) =>
        h.request({ method: 'POST', url: '/v1/verify', bearer: serviceToken, body: { key, ip } });
      for (const ip of [
        '012.1.1.1',
        '0xa.1.1.1',
        '10.1',
        '167772161',
        '::ffff:0xa.1.1.1',
        '10.1.1.1%eth0',
      ]) {
        refused(await verify(ip));
      }
      expect((await verify('10.1.1.1')).json()).toMatchObject({ valid: true });
      expect((await verify('::ffff:10.1.1.1')).json()).toMatchObject({ valid: true });
      expect((await verify('::FFFF:a01:101')).json()).toMatchObject({ valid: true });
      expect((await verify('11.1.1.1')).json()).toMatchObject({ code: 'IP_NOT_ALLOWED' });
    });

    it('allowlist entries are parsed by the same rules', async () => {
      for (const entry of [
        '012.1.1.1',
        '0xa.0.0.0/8',
        '::ffff:0xa.1.1.1',
        'fe80::1%eth0',
        '10.1',
      ]) {
        refused(
          await h.request({
            method: 'PATCH',
            url: `/v1/keys/${keyId}`,
            as: owner,
            body: { ip_allowlist: [entry] },
          }),
        );
      }
    });

    it('a trusted proxy forwarding a garbage address is refused with 400; a valid one is used', async () => {
      const me = (forwarded: string) =>
        h.request({
          method: 'GET',
          url: '/v1/auth/me',
          as: owner,
          ip: '10.0.0.1',
          headers: { 'x-forwarded-for': forwarded },
        });
      for (const forwarded of ['garbage', '0xa.0.0.2', '10.1', '203.0.113.7:443']) {
        refused(await me(forwarded));
      }
      expect((await me('203.0.113.7')).json().ip).toBe('203.0.113.7');
      // A client's own junk left of the address the proxy appended is never reached.
      expect((await me('garbage, 203.0.113.7')).json().ip).toBe('203.0.113.7');
      // From an untrusted peer the header is ignored, garbage or not.
      const direct = await h.request({
        method: 'GET',
        url: '/v1/auth/me',
        as: owner,
        ip: '198.51.100.1',
        headers: { 'x-forwarded-for': 'garbage' },
      });
      expect(direct.json().ip).toBe('198.51.100.1');
      const { key } = await createKey(h, owner, { ip_allowlist: ['203.0.113.7'] });
      const holder = await h.request({
        method: 'GET',
        url: '/v1/key',
        bearer: key,
        ip: '10.0.0.1',
        headers: { 'x-forwarded-for': 'garbage' },
      });
      refused(holder);
    });
  });
});
