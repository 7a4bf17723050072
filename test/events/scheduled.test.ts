import { afterEach, describe, expect, it } from 'vitest';
import { SCAN_BATCH } from '../../src/events/scheduled.ts';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  sessionCookie,
  verifierToken,
} from '../helpers/harness.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Envelope {
  type: string;
  data: Record<string, unknown> & { key: { id: string; status: string } };
}

describe.each(DATABASES)('scheduled events on $name', (kind) => {
  let h: Harness;
  let owner: Account;
  const open = async (env: Record<string, string> = {}) => {
    h = await createHarness(kind, env);
    owner = await h.signup();
  };
  afterEach(async () => {
    await h.close();
  });

  const eventsOf = async (type: string, keyId?: string): Promise<Envelope[]> => {
    let q = h.services.store.db.selectFrom('events').select('payload').where('type', '=', type);
    if (keyId !== undefined) q = q.where('key_id', '=', keyId);
    return (await q.orderBy('seq').execute()).map((r) => JSON.parse(r.payload) as Envelope);
  };
  const runJobs = async () => {
    // Every job, as one tick of the runner does (and twice: a second run must raise nothing new).
    for (const name of h.services.jobs.names) await h.services.jobs.run(name);
  };
  const at = (ms: number) => new Date(ms).toISOString();
  /** Signs in again: the clock moved past the session's idle timeout. */
  const relogin = async () => {
    const r = await h.request({
      method: 'POST',
      url: '/v1/auth/login',
      body: { email: owner.email, password: owner.password },
    });
    owner = { ...owner, cookie: sessionCookie(r), csrf: r.json().csrf_token };
  };

  it('key.expiring fires 7 days and 1 day before, only the nearest notice inside a window, again for a new expiry', async () => {
    await open();
    const now = h.clock.now();
    const soon = await createKey(h, owner, { name: 'soon', expires_at: at(now + 20 * HOUR) });
    const week = await createKey(h, owner, { name: 'week', expires_at: at(now + 6 * DAY) });
    const far = await createKey(h, owner, { name: 'far', expires_at: at(now + 30 * DAY) });
    await runJobs();
    await runJobs();
    const soonEvents = await eventsOf('key.expiring', soon.id);
    expect(soonEvents.map((e) => e.data.notice)).toEqual(['1d']);
    expect(soonEvents[0]?.data.expires_at).toBe(at(now + 20 * HOUR));
    expect(soonEvents[0]?.data.key.id).toBe(soon.id);
    expect((await eventsOf('key.expiring', week.id)).map((e) => e.data.notice)).toEqual(['7d']);
    expect(await eventsOf('key.expiring', far.id)).toEqual([]);

    h.clock.advance(5 * DAY + HOUR);
    await runJobs();
    await runJobs();
    expect((await eventsOf('key.expiring', week.id)).map((e) => e.data.notice)).toEqual([
      '7d',
      '1d',
    ]);

    // Extended to a new date inside the 7-day window: noticed again, for the new date only.
    const extended = h.clock.now() + 3 * DAY;
    await relogin();
    const patched = await h.request({
      method: 'PATCH',
      url: `/v1/keys/${week.id}`,
      as: owner,
      body: { expires_at: at(extended) },
    });
    expect(patched.statusCode).toBe(200);
    await runJobs();
    const all = await eventsOf('key.expiring', week.id);
    expect(all.map((e) => [e.data.notice, e.data.expires_at])).toEqual([
      ['7d', at(now + 6 * DAY)],
      ['1d', at(now + 6 * DAY)],
      ['7d', at(extended)],
    ]);
  });

  it('key.expired fires once per key and expiry, and not for a revoked key', async () => {
    await open();
    const now = h.clock.now();
    const a = await createKey(h, owner, { name: 'a', expires_at: at(now + HOUR) });
    const b = await createKey(h, owner, { name: 'b', expires_at: at(now + HOUR) });
    await h.request({ method: 'POST', url: `/v1/keys/${b.id}/revoke`, as: owner });
    h.clock.advance(2 * HOUR);
    await runJobs();
    await runJobs();
    const expired = await eventsOf('key.expired');
    expect(expired.map((e) => e.data.key.id)).toEqual([a.id]);
    expect(expired[0]?.data.key.status).toBe('expired');
  });

  it('key.idle with IDLE_KEY_ACTION=disable disables the key through the key service, once', async () => {
    await open({ IDLE_KEY_DAYS: '30', IDLE_KEY_ACTION: 'disable' });
    const verifier = await verifierToken(h);
    const idle = await createKey(h, owner, { name: 'idle' });
    const used = await createKey(h, owner, { name: 'used' });
    const verify = (key: string) =>
      h.request({ method: 'POST', url: '/v1/verify', bearer: verifier, body: { key } });
    h.clock.advance(20 * DAY);
    expect((await verify(used.key)).json().valid).toBe(true);
    await h.services.usage.flush();
    h.clock.advance(11 * DAY);
    await runJobs();
    await runJobs();
    // The cache had nothing for the idle key (never used); the refusal shows the disabled row.
    expect((await verify(idle.key)).json().code).toBe('DISABLED');
    expect((await verify(used.key)).json().valid).toBe(true);
    const events = await eventsOf('key.idle');
    expect(events.map((e) => e.data.key.id)).toEqual([idle.id]);
    expect(events[0]?.data).toMatchObject({
      idle_days: 30,
      last_used_at: null,
      action: 'disabled',
    });
    const updated = await eventsOf('key.updated', idle.id);
    expect(updated.map((e) => e.data.changed)).toEqual([['enabled']]);
    await relogin();
    const key = await h.request({ method: 'GET', url: `/v1/keys/${idle.id}`, as: owner });
    expect(key.json().status).toBe('disabled');
    const audit = await h.services.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('target_id', '=', idle.id)
      .where('action', '=', 'key.updated')
      .execute();
    expect(audit.map((a) => [a.actor_type, a.actor_id])).toEqual([['system', 'jobs']]);
  });

  it('key.idle with the notify policy fires once per idle stretch and leaves the key enabled', async () => {
    await open({ IDLE_KEY_DAYS: '10' });
    const verifier = await verifierToken(h);
    const key = await createKey(h, owner, { name: 'quiet' });
    const verify = () =>
      h.request({ method: 'POST', url: '/v1/verify', bearer: verifier, body: { key: key.key } });
    h.clock.advance(9 * DAY);
    await runJobs();
    expect(await eventsOf('key.idle')).toEqual([]);
    h.clock.advance(2 * DAY);
    await runJobs();
    await runJobs();
    expect((await eventsOf('key.idle')).map((e) => e.data.action)).toEqual(['none']);
    // Used again, then idle again: a new stretch.
    expect((await verify()).json().valid).toBe(true);
    await h.services.usage.flush();
    await runJobs();
    expect(await eventsOf('key.idle')).toHaveLength(1);
    h.clock.advance(10 * DAY);
    await runJobs();
    const events = await eventsOf('key.idle');
    expect(events).toHaveLength(2);
    expect(events[1]?.data.last_used_at).toBe(at(h.clock.now() - 10 * DAY));
    expect(events[1]?.data.key.status).toBe('active');
  });

  it('usage.threshold fires at 80 % and 100 % of a daily quota and of credits, once each', async () => {
    await open();
    const verifier = await verifierToken(h);
    const quota = await createKey(h, owner, {
      name: 'quota',
      limits: { daily: { requests: 10 } },
    });
    const credits = await createKey(h, owner, { name: 'credits', credits: { remaining: 10 } });
    const verify = async (key: string, cost = 1) => {
      const r = await h.request({
        method: 'POST',
        url: '/v1/verify',
        bearer: verifier,
        body: { key, cost },
      });
      expect(r.json().valid).toBe(true);
    };
    for (let i = 0; i < 8; i += 1) await verify(quota.key);
    await verify(credits.key, 8);
    await h.services.usage.flush();
    await runJobs();
    await runJobs();
    const first = await eventsOf('usage.threshold');
    expect(first.map((e) => [e.data.key.id, e.data.threshold, e.data.quota])).toEqual([
      [
        quota.id,
        80,
        { name: 'daily.requests', period: '2026-06-01', limit: 10, used: 8, percent: 80 },
      ],
      [
        credits.id,
        80,
        {
          name: 'credits',
          period: expect.stringMatching(/^set:\d+$/),
          limit: 10,
          used: 8,
          percent: 80,
        },
      ],
    ]);
    for (let i = 0; i < 2; i += 1) await verify(quota.key);
    await verify(credits.key, 2);
    await h.services.usage.flush();
    await runJobs();
    await runJobs();
    const all = await eventsOf('usage.threshold');
    expect(all.map((e) => [e.data.key.id, e.data.threshold])).toEqual([
      [quota.id, 80],
      [credits.id, 80],
      [quota.id, 100],
      [credits.id, 100],
    ]);
    // A new day is a new period for the daily quota.
    h.clock.advance(DAY);
    for (let i = 0; i < 10; i += 1) await verify(quota.key);
    await h.services.usage.flush();
    await runJobs();
    const next = (await eventsOf('usage.threshold', quota.id)).slice(2);
    // Straight to 100 %: only the highest threshold reached fires.
    expect(
      next.map((e) => [e.data.threshold, (e.data.quota as { period: string }).period]),
    ).toEqual([[100, '2026-06-02']]);
  });

  it('credits.refilled fires once per refill, not when the balance is set', async () => {
    await open();
    const verifier = await verifierToken(h);
    const key = await createKey(h, owner, {
      name: 'refill',
      credits: { remaining: 5, refill: { amount: 5, interval: 'daily' } },
    });
    await runJobs();
    expect(await eventsOf('credits.refilled')).toEqual([]);
    h.clock.advance(DAY);
    const r = await h.request({
      method: 'POST',
      url: '/v1/verify',
      bearer: verifier,
      body: { key: key.key },
    });
    expect(r.json().credits.remaining).toBe(4);
    await runJobs();
    await runJobs();
    const refilled = await eventsOf('credits.refilled', key.id);
    expect(refilled.map((e) => [e.data.period, e.data.amount, e.data.interval])).toEqual([
      ['2026-06-02', 5, 'daily'],
    ]);
  });

  it('pages through more candidates than one batch, each raised once', async () => {
    await open();
    const now = h.clock.now();
    const count = SCAN_BATCH * 2 + 1;
    const template = (await createKey(h, owner, { name: 'template' })).id;
    const base = (await h.services.store.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', template)
      .executeTakeFirstOrThrow()) as Record<string, unknown>;
    const rows = Array.from({ length: count }, (_, i) => ({
      ...base,
      id: `key_batch${String(i).padStart(15, '0')}`,
      hash: `batch-${i}`,
      name: `batch ${i}`,
      // Several keys share each expiry: the page boundary falls inside equal values.
      expires_at: now + 10 * HOUR + Math.floor(i / 7) * 1000,
    }));
    for (let i = 0; i < rows.length; i += 100)
      await h.services.store.db
        .insertInto('api_keys')
        .values(rows.slice(i, i + 100) as never)
        .execute();
    expect(await h.services.scheduled.expiring()).toBe(count);
    expect(await h.services.scheduled.expiring()).toBe(0);
    const raised = await h.services.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.count<number>('key_id').distinct().as('n'))
      .where('type', '=', 'key.expiring')
      .executeTakeFirstOrThrow();
    expect(Number(raised.n)).toBe(count);
  });
});
