import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusedAddress } from '../../src/webhooks/ssrf.ts';
import { DATABASES } from '../helpers/databases.ts';
import { type Account, createHarness, createKey, type Harness } from '../helpers/harness.ts';
import { type Receiver, startReceiver } from '../helpers/webhook-receiver.ts';

describe('refusedAddress (R18)', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '169.254.1.1',
    '100.64.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd00:ec2::254',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '::127.0.0.1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::1',
    '[::1]',
  ])('refuses %s', (address) => {
    expect(refusedAddress(address)).not.toBeNull();
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:93.184.216.34'])(
    'allows the public address %s',
    (address) => {
      expect(refusedAddress(address)).toBeNull();
    },
  );
});

describe.each(DATABASES)('webhook SSRF rules on $name (R18)', (kind) => {
  let h: Harness;
  let user: Account;
  let r: Receiver;
  /** What the test DNS answers; a name missing here does not resolve. */
  const dns = new Map<string, string[]>();

  beforeAll(async () => {
    h = await createHarness(
      kind,
      { SECRET_ENCRYPTION_KEY: 'cd'.repeat(32), PLANS: 'free:unlimited' },
      {
        resolver: async (hostname) => {
          const found = dns.get(hostname);
          if (found === undefined)
            throw Object.assign(new Error(`${hostname} not found`), { code: 'ENOTFOUND' });
          return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
        },
      },
    );
    user = await h.signup();
    r = await startReceiver();
    dns.set('private.test', ['10.1.2.3']);
    dns.set('mixed.test', ['93.184.216.34', '127.0.0.1']);
    dns.set('mapped.test', ['::ffff:169.254.169.254']);
    dns.set('loopback.test', ['127.0.0.1']);
  });
  afterAll(async () => {
    await h.services.webhookEngine.stop();
    await r.close();
    await h.close();
  });

  const create = (url: string) =>
    h.request({ method: 'POST', url: '/v1/webhooks', as: user, body: { url, events: ['*'] } });

  it.each([
    'http://127.0.0.1/hook',
    'http://10.0.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[fd00:ec2::254]/',
    'http://100.64.0.1/',
    'http://0x7f.1/',
    'http://localhost:8080/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://private.test/',
    'http://mixed.test/',
    'http://mapped.test/',
    'http://nowhere.test/',
    'ftp://example.com/',
    'https://user:secret@hooks.test/',
  ])('refuses %s at creation', async (url) => {
    const res = await create(url);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe('url_not_allowed');
  });

  it('refuses at delivery a name that resolved to a public address at creation and to loopback now (DNS rebinding)', async () => {
    dns.set('rebind.test', ['93.184.216.34']);
    const made = await create(`http://rebind.test:${r.port}/hook`);
    expect(made.statusCode, made.body).toBe(201);
    const id = made.json().id as string;
    // The name now answers with the loopback address where a receiver listens.
    dns.set('rebind.test', ['127.0.0.1']);
    await createKey(h, user);
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(0);
    const list = await h.request({ method: 'GET', url: `/v1/webhooks/${id}/deliveries`, as: user });
    const [delivery] = list.json().data;
    expect(delivery.status).toBe('pending');
    expect(delivery.last_error).toContain('refused');
    expect(delivery.last_error).toContain('127.0.0.1');
    await h.request({ method: 'DELETE', url: `/v1/webhooks/${id}`, as: user });
  });

  it('refuses at delivery an IP literal that is not allowed, even if stored', async () => {
    dns.set('public.test', ['93.184.216.34']);
    const made = await create('http://public.test/');
    expect(made.statusCode).toBe(201);
    const id = made.json().id as string;
    // As if the row had been written around the API: the address is checked again anyway.
    await h.services.store.db
      .updateTable('webhook_endpoints')
      .set({ url: `http://127.0.0.1:${r.port}/` })
      .where('id', '=', id)
      .execute();
    await createKey(h, user);
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(0);
    const list = await h.request({ method: 'GET', url: `/v1/webhooks/${id}/deliveries`, as: user });
    expect(list.json().data[0].last_error).toContain('refused: address 127.0.0.1');
  });
});

describe.each(DATABASES.filter((d) => d.name === 'postgres'))(
  'webhooks on $name without SECRET_ENCRYPTION_KEY',
  (kind) => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness(kind, { WEBHOOK_ALLOW_PRIVATE: 'true' });
    });
    afterAll(async () => {
      await h.close();
    });

    it('answers 503 encryption_key_missing when an endpoint is created', async () => {
      const user = await h.signup();
      const res = await h.request({
        method: 'POST',
        url: '/v1/webhooks',
        as: user,
        body: { url: 'http://127.0.0.1:9/', events: ['*'] },
      });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('encryption_key_missing');
      const rows = await h.services.store.db.selectFrom('webhook_endpoints').selectAll().execute();
      expect(rows).toHaveLength(0);
    });

    it('answers 404 for rolling the secret of an endpoint that does not exist, key or no key', async () => {
      const user = await h.signup();
      const res = await h.request({
        method: 'POST',
        url: '/v1/webhooks/whk_aaaaaaaaaaaaaaaaaaaaaaaa/rotate-secret',
        as: user,
        body: {},
      });
      expect(res.statusCode).toBe(404);
    });
  },
);
