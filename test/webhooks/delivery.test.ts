import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createServices } from '../../src/services/index.ts';
import { openStore } from '../../src/storage/database.ts';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS } from '../../src/webhooks/engine.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  promoteToAdmin,
} from '../helpers/harness.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.ts';
import { type Receiver, startReceiver, verifyHook } from '../helpers/webhook-receiver.ts';

interface Created {
  id: string;
  secret: string;
}

async function createEndpoint(
  h: Harness,
  as: Account,
  url: string,
  extra: Record<string, unknown> = {},
): Promise<Created> {
  const res = await h.request({
    method: 'POST',
    url: '/v1/webhooks',
    as,
    body: { url, events: ['*'], ...extra },
  });
  if (res.statusCode !== 201) throw new Error(`create webhook: ${res.statusCode} ${res.body}`);
  const json = res.json() as Created;
  return { id: json.id, secret: json.secret };
}

async function deliveries(h: Harness, as: Account, id: string) {
  const res = await h.request({ method: 'GET', url: `/v1/webhooks/${id}/deliveries`, as });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as Array<{
    id: string;
    event_id: string;
    status: string;
    attempts: number;
    next_attempt_at: string | null;
    last_status: number | null;
    last_error: string | null;
    last_response_excerpt: string | null;
  }>;
}

describe.each(DATABASES)('webhook delivery on $name', (kind) => {
  let h: Harness;
  let smtp: TestSmtpServer;
  const receivers: Receiver[] = [];
  const receiver = async (...args: Parameters<typeof startReceiver>) => {
    const r = await startReceiver(...args);
    receivers.push(r);
    return r;
  };

  beforeAll(async () => {
    smtp = await startSmtpServer();
    h = await createHarness(kind, {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      PLANS: 'free:unlimited',
      // The clock moves by days here: sessions must outlive it.
      SESSION_IDLE_TIMEOUT: '3650d',
      SESSION_ABSOLUTE_TIMEOUT: '3650d',
      WEBHOOK_DISABLE_AFTER: '5d',
      WEBHOOK_ENDPOINT_CONCURRENCY: '2',
      SMTP_URL: smtp.url,
      MAIL_FROM: 'Keyward <keyward@example.com>',
      // SQLite runs without it: the key file next to the database is made and used.
      ...(kind.name === 'postgres' && { SECRET_ENCRYPTION_KEY: randomBytes(32).toString('hex') }),
    });
  });
  afterEach(async () => {
    await h.services.webhookEngine.stop();
    for (const r of receivers.splice(0)) await r.close();
  });
  afterAll(async () => {
    await h.close();
    await smtp.close();
  });

  it('signs each event with the endpoint secret (verified by standardwebhooks); the secret is shown once and stored encrypted', async () => {
    const user = await h.signup();
    const r = await receiver();
    const endpoint = await createEndpoint(h, user, `${r.url}/hooks`);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const shown = await h.request({ method: 'GET', url: `/v1/webhooks/${endpoint.id}`, as: user });
    expect(shown.body).not.toContain(endpoint.secret);
    expect(shown.json()).toMatchObject({ enabled: true, events: ['*'], scope: 'account' });

    const key = await createKey(h, user, { name: 'signed' });
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(1);
    const hook = r.received[0];
    if (hook === undefined) throw new Error('no request');
    expect(hook.path).toBe('/hooks');
    const payload = verifyHook(endpoint.secret, hook) as {
      type: string;
      data: { key: { id: string; masked: string } };
    };
    expect(payload.type).toBe('key.created');
    expect(payload.data.key.id).toBe(key.id);
    expect(hook.body).not.toContain(key.key);
    const event = await h.services.store.db
      .selectFrom('events')
      .select(['id'])
      .where('key_id', '=', key.id)
      .executeTakeFirstOrThrow();
    expect(hook.headers['webhook-id']).toBe(event.id);
    expect(Number(hook.headers['webhook-timestamp'])).toBe(Math.floor(h.clock.now() / 1000));
    // A wrong secret does not verify.
    expect(() => verifyHook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', hook)).toThrow();

    const row = await h.services.store.db
      .selectFrom('webhook_endpoints')
      .select('secret')
      .where('id', '=', endpoint.id)
      .executeTakeFirstOrThrow();
    expect(row.secret).toMatch(/^v1:[0-9a-f]{8}:/);
    expect(row.secret).not.toContain(endpoint.secret.slice(6));
    for (const file of h.database.files.filter((f) => existsSync(f))) {
      const bytes = readFileSync(file);
      expect(bytes.includes(endpoint.secret)).toBe(false);
      expect(bytes.includes(endpoint.secret.slice(6))).toBe(false);
    }
    if (h.config.database.kind === 'sqlite') {
      const mode = statSync(`${h.config.database.path}.secret-key`).mode & 0o777;
      expect(mode).toBe(0o600);
    }
    const detail = await h.request({
      method: 'GET',
      url: `/v1/webhooks/${endpoint.id}/deliveries`,
      as: user,
    });
    const [delivery] = detail.json().data;
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 1, last_status: 204 });
    const one = await h.request({
      method: 'GET',
      url: `/v1/webhooks/${endpoint.id}/deliveries/${delivery.id}`,
      as: user,
    });
    expect(one.statusCode).toBe(200);
    expect(one.json().attempt_log).toHaveLength(1);
    expect(one.json().attempt_log[0].request_headers['webhook-signature']).toBe(
      hook.headers['webhook-signature'],
    );
    expect(one.body).not.toContain(endpoint.secret);
  });

  it('during a secret roll both secrets sign; after the overlap only the new one', async () => {
    const user = await h.signup();
    const r = await receiver();
    const endpoint = await createEndpoint(h, user, r.url);
    const rolled = await h.request({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/rotate-secret`,
      as: user,
      body: { overlap: '24h' },
    });
    expect(rolled.statusCode, rolled.body).toBe(200);
    const next = rolled.json().secret as string;
    expect(next).not.toBe(endpoint.secret);
    expect(rolled.json().previous_secret_expires_at).not.toBeNull();

    await createKey(h, user);
    await h.services.webhookEngine.runOnce();
    const during = r.received[0];
    if (during === undefined) throw new Error('no request');
    expect(during.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(verifyHook(next, during)).toBeTruthy();
    expect(verifyHook(endpoint.secret, during)).toBeTruthy();

    h.clock.advance(25 * 3_600_000);
    await createKey(h, user);
    await h.services.webhookEngine.runOnce();
    const after = r.received[1];
    if (after === undefined) throw new Error('no request');
    expect(after.headers['webhook-signature']?.split(' ')).toHaveLength(1);
    expect(verifyHook(next, after)).toBeTruthy();
    expect(() => verifyHook(endpoint.secret, after)).toThrow();
  });

  it('retries with backoff on failure, then succeeds; every attempt carries the same webhook-id', async () => {
    const user = await h.signup();
    const r = await receiver((_hook, i) =>
      i < 2 ? { status: 503, body: 'busy, try later' } : { status: 200 },
    );
    const endpoint = await createEndpoint(h, user, r.url);
    await createKey(h, user);
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(1);
    let [d] = await deliveries(h, user, endpoint.id);
    expect(d).toMatchObject({ status: 'pending', attempts: 1, last_status: 503 });
    expect(d?.last_response_excerpt).toBe('busy, try later');
    const wait = Date.parse(d?.next_attempt_at ?? '') - h.clock.now();
    expect(wait).toBeGreaterThanOrEqual((RETRY_DELAYS_MS[0] as number) * 0.8);
    expect(wait).toBeLessThanOrEqual((RETRY_DELAYS_MS[0] as number) * 1.2);

    // Not due yet: nothing is sent.
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(1);

    h.clock.advance((RETRY_DELAYS_MS[0] as number) * 1.2 + 1);
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(2);
    [d] = await deliveries(h, user, endpoint.id);
    const second = Date.parse(d?.next_attempt_at ?? '') - h.clock.now();
    expect(second).toBeGreaterThanOrEqual((RETRY_DELAYS_MS[1] as number) * 0.8);

    h.clock.advance((RETRY_DELAYS_MS[1] as number) * 1.2 + 1);
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(3);
    [d] = await deliveries(h, user, endpoint.id);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 3, last_status: 200 });
    expect(new Set(r.ids()).size).toBe(1);
    for (const hook of r.received) expect(verifyHook(endpoint.secret, hook)).toBeTruthy();
  });

  it('is dead after the whole schedule; a manual retry makes one more attempt with the same id', async () => {
    const user = await h.signup();
    let healthy = false;
    const r = await receiver(() => (healthy ? { status: 200 } : { status: 500 }));
    const endpoint = await createEndpoint(h, user, r.url);
    await createKey(h, user);
    for (let i = 0; i < MAX_ATTEMPTS + 2; i++) {
      await h.services.webhookEngine.runOnce();
      h.clock.advance(13 * 3_600_000);
    }
    expect(r.received).toHaveLength(MAX_ATTEMPTS);
    const [d] = await deliveries(h, user, endpoint.id);
    expect(d).toMatchObject({ status: 'dead', attempts: MAX_ATTEMPTS, next_attempt_at: null });

    healthy = true;
    const retried = await h.request({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/deliveries/${d?.id}/retry`,
      as: user,
    });
    expect(retried.statusCode, retried.body).toBe(202);
    expect(retried.json().status).toBe('pending');
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(MAX_ATTEMPTS + 1);
    expect(new Set(r.ids())).toEqual(new Set([d?.event_id]));
    const [after] = await deliveries(h, user, endpoint.id);
    expect(after).toMatchObject({ status: 'succeeded', attempts: MAX_ATTEMPTS + 1 });

    const again = await h.request({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/deliveries/${d?.id}/retry`,
      as: user,
    });
    expect(again.statusCode).toBe(409);
  });

  it('sends a test event to that endpoint only, signed like any other', async () => {
    const user = await h.signup();
    const r = await receiver();
    const other = await receiver();
    const endpoint = await createEndpoint(h, user, r.url);
    await createEndpoint(h, user, other.url);
    const res = await h.request({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/test`,
      as: user,
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ event_type: 'webhook.test', status: 'pending' });
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(1);
    expect(other.received).toHaveLength(0);
    const payload = verifyHook(endpoint.secret, r.received[0] as never) as {
      type: string;
      data: { webhook: { id: string } };
    };
    expect(payload.type).toBe('webhook.test');
    expect(payload.data.webhook.id).toBe(endpoint.id);
  });

  it('an endpoint deleted while its attempt is in flight does not lose the other results', async () => {
    const user = await h.signup();
    let doomed = '';
    const r = await receiver();
    const d = await receiver(() => 'hang');
    const kept = await createEndpoint(h, user, r.url);
    doomed = (await createEndpoint(h, user, d.url)).id;
    await createKey(h, user);
    const run = h.services.webhookEngine.runOnce();
    await d.waitFor(1);
    await r.waitFor(1);
    const deleted = await h.request({ method: 'DELETE', url: `/v1/webhooks/${doomed}`, as: user });
    expect(deleted.statusCode).toBe(204);
    // The hanging request is cut off by closing its receiver: a failed attempt for a deleted row.
    await d.close();
    await run;
    const [delivery] = await deliveries(h, user, kept.id);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 1 });
    const gone = await h.services.store.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('endpoint_id', '=', doomed)
      .execute();
    expect(gone).toEqual([]);
  });

  it('does not follow redirects: a 3xx is a failed attempt', async () => {
    const user = await h.signup();
    const target = await receiver();
    const r = await receiver(() => ({ status: 302, headers: { location: target.url } }));
    const endpoint = await createEndpoint(h, user, r.url);
    await createKey(h, user);
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(1);
    expect(target.received).toHaveLength(0);
    const [d] = await deliveries(h, user, endpoint.id);
    expect(d).toMatchObject({ status: 'pending', last_status: 302 });
    expect(d?.last_error).toContain('redirects are not followed');
  });

  it('disables an endpoint failing for longer than WEBHOOK_DISABLE_AFTER, audits it and mails the owner', async () => {
    const user = await h.signup();
    const r = await receiver(() => ({ status: 500 }));
    const endpoint = await createEndpoint(h, user, r.url);
    const mailsBefore = smtp.received.length;
    await createKey(h, user);
    await h.services.webhookEngine.runOnce();
    let shown = (
      await h.request({ method: 'GET', url: `/v1/webhooks/${endpoint.id}`, as: user })
    ).json();
    expect(shown.failing_since).not.toBeNull();
    expect(shown.enabled).toBe(true);

    // Five days of failures (every retry fails too), then one more failure past the limit.
    for (let day = 0; day < 6; day++) {
      h.clock.advance(86_400_000);
      await createKey(h, user);
      await h.services.webhookEngine.runOnce();
    }
    shown = (
      await h.request({ method: 'GET', url: `/v1/webhooks/${endpoint.id}`, as: user })
    ).json();
    expect(shown.enabled).toBe(false);
    expect(shown.disabled_reason).toContain('disabled automatically');
    const audit = await h.services.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('target_id', '=', endpoint.id)
      .where('action', '=', 'webhook.disabled')
      .execute();
    expect(audit).toHaveLength(1);
    const mails = await smtp.waitFor(mailsBefore + 1);
    const mail = mails.slice(mailsBefore).find((m) => m.to.includes(user.email));
    expect(mail?.subject).toContain('webhook endpoint was disabled');
    expect(mail?.text).toContain(endpoint.id);

    // Disabled: new events are not sent to it.
    const sent = r.received.length;
    await createKey(h, user);
    await h.services.webhookEngine.runOnce();
    expect(r.received).toHaveLength(sent);

    const enabled = await h.request({
      method: 'PATCH',
      url: `/v1/webhooks/${endpoint.id}`,
      as: user,
      body: { enabled: true },
    });
    expect(enabled.statusCode).toBe(200);
    expect(enabled.json()).toMatchObject({
      enabled: true,
      disabled_reason: null,
      failing_since: null,
    });
  });

  it("isolates accounts: another account's endpoint is not found, and gets none of its events", async () => {
    const alice = await h.signup();
    const bob = await h.signup();
    const ra = await receiver();
    const rb = await receiver();
    const a = await createEndpoint(h, alice, ra.url);
    await createEndpoint(h, bob, rb.url);
    for (const [method, url] of [
      ['GET', `/v1/webhooks/${a.id}`],
      ['PATCH', `/v1/webhooks/${a.id}`],
      ['DELETE', `/v1/webhooks/${a.id}`],
      ['GET', `/v1/webhooks/${a.id}/deliveries`],
      ['POST', `/v1/webhooks/${a.id}/test`],
      ['POST', `/v1/webhooks/${a.id}/rotate-secret`],
    ] as const) {
      const res = await h.request({
        method,
        url,
        as: bob,
        ...(method === 'PATCH' && { body: { description: 'x' } }),
        ...(url.endsWith('rotate-secret') && { body: {} }),
      });
      expect(res.statusCode, `${method} ${url} ${res.body}`).toBe(404);
    }
    const list = await h.request({ method: 'GET', url: '/v1/webhooks', as: bob });
    expect(list.json().data.map((e: { id: string }) => e.id)).not.toContain(a.id);

    const aliceKey = await createKey(h, alice);
    await createKey(h, bob);
    await h.services.webhookEngine.runOnce();
    expect(ra.received).toHaveLength(1);
    expect(rb.received).toHaveLength(1);
    expect(ra.received[0]?.body).toContain(aliceKey.id);
    expect(rb.received[0]?.body).not.toContain(aliceKey.id);
  });

  it('deployment scope: admins only, and such an endpoint gets every account’s events', async () => {
    const user = await h.signup();
    const admin = await h.signup();
    await promoteToAdmin(h, admin);
    const r = await receiver();
    const refused = await h.request({
      method: 'POST',
      url: '/v1/webhooks',
      as: user,
      body: { url: r.url, events: ['key.created'], scope: 'deployment' },
    });
    expect(refused.statusCode).toBe(403);
    const made = await createEndpoint(h, admin, r.url, {
      scope: 'deployment',
      events: ['key.created'],
    });
    const shown = await h.request({ method: 'GET', url: `/v1/webhooks/${made.id}`, as: admin });
    expect(shown.json()).toMatchObject({ scope: 'deployment', owner_id: null });
    expect(
      (await h.request({ method: 'GET', url: `/v1/webhooks/${made.id}`, as: user })).statusCode,
    ).toBe(404);
    const k1 = await createKey(h, user);
    const k2 = await createKey(h, admin);
    await h.request({ method: 'POST', url: `/v1/keys/${k1.id}/revoke`, as: user });
    await h.services.webhookEngine.runOnce();
    // key.created only: two events, the revocation is filtered out.
    const bodies = r.received.map((x) => x.body);
    expect(bodies.filter((b) => b.includes(k1.id) || b.includes(k2.id))).toHaveLength(2);
    expect(bodies.every((b) => b.includes('"key.created"'))).toBe(true);
    await h.request({ method: 'DELETE', url: `/v1/webhooks/${made.id}`, as: admin });
  });

  it('needs webhooks:manage for tokens; validates events, URLs and the endpoint limit', async () => {
    const user = await h.signup();
    const made = async (scopes: string[]) =>
      (
        await h.request({
          method: 'POST',
          url: '/v1/tokens',
          as: user,
          body: { name: scopes.join(','), scopes },
        })
      ).json().token as string;
    const keysOnly = await made(['keys:write']);
    const hooks = await made(['webhooks:manage']);
    expect(
      (await h.request({ method: 'GET', url: '/v1/webhooks', bearer: keysOnly })).statusCode,
    ).toBe(403);
    expect(
      (await h.request({ method: 'GET', url: '/v1/webhooks', bearer: hooks })).statusCode,
    ).toBe(200);
    const bad = async (body: unknown) =>
      h.request({ method: 'POST', url: '/v1/webhooks', bearer: hooks, body });
    expect((await bad({ url: 'http://127.0.0.1:1/', events: ['key.nope'] })).statusCode).toBe(400);
    expect((await bad({ url: 'http://127.0.0.1:1/', events: [] })).statusCode).toBe(400);
    const ftp = await bad({ url: 'ftp://example.com/', events: ['*'] });
    expect(ftp.json().error.code).toBe('url_not_allowed');
    const creds = await bad({ url: 'https://u:p@example.com/', events: ['*'] });
    expect(creds.json().error.code).toBe('url_not_allowed');
    const first = await bad({ url: 'http://127.0.0.1:1/', events: ['key.created', '*'] });
    expect(first.statusCode).toBe(201);
    expect(first.json().events).toEqual(['*']);
    const count = await h.services.store.db
      .selectFrom('webhook_endpoints')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('owner_id', '=', user.id)
      .executeTakeFirstOrThrow();
    for (let i = Number(count.n); i < h.config.webhooks.maxEndpoints; i++)
      expect((await bad({ url: 'http://127.0.0.1:1/', events: ['*'] })).statusCode).toBe(201);
    const over = await bad({ url: 'http://127.0.0.1:1/', events: ['*'] });
    expect(over.statusCode).toBe(403);
    expect(over.json().error.code).toBe('plan_limit_reached');
  });

  it('a slow endpoint does not hold up the others', async () => {
    const user = await h.signup();
    const slow = await receiver(() => 'hang');
    const fast = await receiver();
    await createEndpoint(h, user, slow.url);
    await createEndpoint(h, user, fast.url);
    h.services.webhookEngine.start();
    const n = 30;
    for (let i = 0; i < n; i++) await createKey(h, user, { name: `burst ${i}` });
    await fast.waitFor(n, 60_000);
    expect(new Set(fast.ids()).size).toBe(n);
    // The hanging endpoint never held more than its share (WEBHOOK_ENDPOINT_CONCURRENCY=2),
    // and none of its requests was answered while every event reached the other endpoint.
    expect(slow.maxOpen()).toBeLessThanOrEqual(2);
    expect(slow.received.length).toBeLessThan(n);
  });

  it('two service instances on one database deliver each event exactly once', async () => {
    const user = await h.signup();
    const r = await receiver();
    await createEndpoint(h, user, r.url);
    const second = openStore(h.config.database);
    // The second instance polls every 10 ms, so it competes for every event and attempt.
    const fastPoll = { ...h.config, webhooks: { ...h.config.webhooks, pollIntervalMs: 10 } };
    const other = createServices(fastPoll, second, { clock: h.clock });
    h.services.webhookEngine.start();
    other.webhookEngine.start();
    try {
      const n = 60;
      for (let i = 0; i < n; i += 10) {
        await Promise.all(
          Array.from({ length: 10 }, (_, j) => createKey(h, user, { name: `both ${i + j}` })),
        );
      }
      await r.waitFor(n, 60_000);
      await h.services.webhookEngine.runOnce();
      await other.webhookEngine.runOnce();
      expect(new Set(r.ids()).size).toBe(n);
      expect(r.received).toHaveLength(n);
    } finally {
      await other.webhookEngine.stop();
      await second.close();
    }
  });
});

describe('webhook settings', () => {
  it('are checked at start', () => {
    const base = { DATABASE_URL: 'sqlite::memory:' };
    expect(loadConfig({ ...base, WEBHOOK_POLL_INTERVAL: '250ms' }).webhooks.pollIntervalMs).toBe(
      250,
    );
    expect(loadConfig(base).webhooks).toMatchObject({
      allowPrivate: false,
      pollIntervalMs: 1000,
      endpointConcurrency: 8,
      disableAfterMs: 5 * 86_400_000,
      maxEndpoints: 10,
    });
    expect(() => loadConfig({ ...base, WEBHOOK_POLL_INTERVAL: '5ms' })).toThrow(
      /WEBHOOK_POLL_INTERVAL/,
    );
    expect(() => loadConfig({ ...base, WEBHOOK_ALLOW_PRIVATE: 'yes' })).toThrow(
      /WEBHOOK_ALLOW_PRIVATE/,
    );
    expect(() => loadConfig({ ...base, WEBHOOK_ENDPOINT_CONCURRENCY: '0' })).toThrow(
      /WEBHOOK_ENDPOINT_CONCURRENCY/,
    );
  });
});

describe('SECRET_ENCRYPTION_KEY', () => {
  it('is checked at start: 32 bytes, base64 or hex', () => {
    const base = { DATABASE_URL: 'sqlite::memory:' };
    expect(() => loadConfig({ ...base, SECRET_ENCRYPTION_KEY: 'short' })).toThrow(
      /SECRET_ENCRYPTION_KEY/,
    );
    expect(
      loadConfig({ ...base, SECRET_ENCRYPTION_KEY: 'ab'.repeat(32) }).secretEncryptionKey,
    ).not.toBeNull();
    expect(
      loadConfig({ ...base, SECRET_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') })
        .secretEncryptionKey,
    ).not.toBeNull();
  });
});
