// The dashboard's Webhooks pages in Chromium against a real receiver on loopback: create with the
// event picker, the secret shown once, deliveries with status and response, a test event, retry,
// disable and enable (issue 14, point 7).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiSession,
  axeViolations,
  type Dashboard,
  SKIP_BROWSER,
  signUp,
  startDashboard,
} from '../helpers/browser.ts';

interface Received {
  id: string;
  type: string;
  signature: string;
}

describe.skipIf(SKIP_BROWSER)('webhooks pages in Chromium', () => {
  let d: Dashboard;
  let receiver: Server;
  let receiverUrl: string;
  const received: Received[] = [];
  /** How many requests the receiver still refuses with a 500 before it accepts. */
  let failNext = 0;

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        if (failNext > 0) {
          failNext -= 1;
          response.writeHead(500, { 'content-type': 'text/plain' }).end('receiver is down');
          return;
        }
        received.push({
          id: String(request.headers['webhook-id']),
          type: (JSON.parse(body) as { type: string }).type,
          signature: String(request.headers['webhook-signature']),
        });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    d = await startDashboard({ WEBHOOK_ALLOW_PRIVATE: 'true' });
  });
  afterAll(async () => {
    await d?.close();
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
  });

  it('creates an endpoint, shows its secret once, lists deliveries, sends a test event, retries, disables', async () => {
    const { page, context } = await d.newPage();
    await signUp(d.base, page, 'hooks@example.com');
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Webhooks' })
      .click();
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);

    await page.getByRole('button', { name: 'Add your first endpoint' }).click();
    const create = page.getByRole('dialog', { name: 'Add a webhook endpoint' });
    // A private address would be refused without WEBHOOK_ALLOW_PRIVATE; a non-URL is refused here.
    await create.getByLabel('Endpoint URL').fill('not a url');
    await create.getByRole('button', { name: 'Add endpoint' }).click();
    await create.getByText('Enter the full http:// or https:// address').waitFor();
    await create.getByLabel('Endpoint URL').fill(receiverUrl);
    await create.getByLabel('Description').fill('Billing service');
    await create.getByLabel('All events').uncheck();
    await create.getByRole('button', { name: 'Add endpoint' }).click();
    await create.getByText('Choose at least one event').waitFor();
    await create.getByLabel('key.created').check();
    await create.getByLabel('key.revoked').check();
    expect(await axeViolations(page)).toEqual([]);
    await create.getByRole('button', { name: 'Add endpoint' }).click();

    const once = page.getByRole('dialog', { name: 'Save your signing secret' });
    await once.getByText('You will not see it again').waitFor();
    const secret = await once.getByTestId('secret').inputValue();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{32,}$/);
    await once.getByRole('button', { name: 'Copy' }).click();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(secret);
    await once.getByRole('button', { name: 'Done' }).click();
    const row = page.locator('tbody tr', { hasText: receiverUrl });
    await row.waitFor();
    expect(await row.textContent()).toContain('key.created, key.revoked');
    expect(await page.locator('main').textContent()).not.toContain(secret);

    // A key change is delivered; the endpoint page shows it as delivered.
    const { call } = await apiSession(d.base, context);
    const key = await call('POST', '/v1/keys', { name: 'Hooked key' });
    await row.getByRole('link', { name: receiverUrl }).click();
    await page
      .getByRole('heading', { level: 1, name: new RegExp(receiverUrl.replace(/[/.]/g, '\\$&')) })
      .waitFor();
    const deliveries = page.locator('.deliveries-table tbody tr[data-delivery-id]');
    for (
      let i = 0;
      i < 40 &&
      !(await page
        .getByText('Delivered')
        .first()
        .isVisible()
        .catch(() => false));
      i += 1
    ) {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.waitForTimeout(250);
    }
    expect(await deliveries.first().textContent()).toContain('key.created');
    expect(received.map((r) => r.type)).toEqual(['key.created']);

    // A test event through the same path.
    await page.getByRole('button', { name: 'Send test event' }).click();
    await expect.poll(() => received.map((r) => r.type)).toContain('webhook.test');

    // The receiver fails: the delivery shows the answer, then a manual retry delivers it with
    // the same webhook-id.
    failNext = 1;
    await call('POST', `/v1/keys/${key.body.id}/revoke`);
    let failed = page.locator('.deliveries-table tbody tr', { hasText: 'key.revoked' });
    for (
      let i = 0;
      i < 40 && !((await failed.textContent().catch(() => '')) ?? '').includes('HTTP 500');
      i += 1
    ) {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.waitForTimeout(250);
      failed = page.locator('.deliveries-table tbody tr', { hasText: 'key.revoked' });
    }
    expect(await failed.textContent()).toContain('Retrying');
    expect(await failed.textContent()).toContain('receiver is down');
    await failed.getByRole('button', { name: /^Attempts/ }).click();
    await page.locator('.attempts li').first().waitFor();
    expect(await page.locator('.attempts').textContent()).toContain('HTTP 500');
    await failed.getByRole('button', { name: /^Retry/ }).click();
    await expect.poll(() => received.filter((r) => r.type === 'key.revoked').length).toBe(1);
    const revokedId = received.find((r) => r.type === 'key.revoked')?.id;
    expect(await failed.textContent()).toContain(revokedId);
    expect(await axeViolations(page)).toEqual([]);

    // Disable, then enable again.
    await page.getByRole('button', { name: 'Disable', exact: true }).click();
    await page.locator('.badge', { hasText: 'Disabled' }).waitFor();
    await page.getByRole('button', { name: 'Enable', exact: true }).click();
    await page.locator('.badge', { hasText: 'Enabled' }).waitFor();
  }, 120_000);

  it('raised no page errors or console errors', () => {
    expect(d.problems).toEqual([]);
  });
});
