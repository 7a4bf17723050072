import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../helpers/databases.ts';
import {
  type Account,
  createHarness,
  createKey,
  type Harness,
  verifierToken,
} from '../helpers/harness.ts';

const sqlite = DATABASES.find((d) => d.name === 'sqlite');
if (sqlite === undefined) throw new Error('no sqlite database kind');

/**
 * The SDK's middleware answers refusals with the same RateLimit headers as the key-holder routes,
 * which list every rate rule of the key; POST /v1/verify's `ratelimit` names only the tightest,
 * so the answer also lists them all in `rate_limits`.
 */
describe('POST /v1/verify rate_limits', () => {
  let h: Harness;
  let owner: Account;
  let token: string;
  beforeAll(async () => {
    h = await createHarness(sqlite, { PLANS: 'free:unlimited' });
    owner = await h.signup();
    token = await verifierToken(h);
  });
  afterAll(async () => {
    await h.close();
  });

  it('lists each rule with the name, limit, remaining, window and reset the headers carry', async () => {
    const { key } = await createKey(h, owner, {
      limits: {
        rate: [
          { limit: 5, window: '1m' },
          { limit: 100, window: '90s' },
        ],
      },
    });
    const holder = await h.request({ method: 'GET', url: '/v1/key', bearer: key });
    expect(holder.headers.ratelimit).toBe('"minute";r=4;t=12, "w90s";r=99;t=1');
    const answer = (
      await h.request({ method: 'POST', url: '/v1/verify', bearer: token, body: { key } })
    ).json();
    expect(answer.rate_limits).toEqual([
      { name: 'minute', limit: 5, remaining: 3, window: 60, reset_after: 24 },
      { name: 'w90s', limit: 100, remaining: 98, window: 90, reset_after: 2 },
    ]);
    const unlimited = await createKey(h, owner);
    const plain = await h.request({
      method: 'POST',
      url: '/v1/verify',
      bearer: token,
      body: { key: unlimited.key },
    });
    expect(plain.json().rate_limits).toEqual([]);
  });
});
