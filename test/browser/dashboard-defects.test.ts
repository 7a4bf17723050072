// The defects a careful walk through the dashboard found (issue 17), each shown fixed in real
// Chromium, and axe-core on every page and dialog.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { addRollups } from '../../src/storage/usage-repository.ts';
import {
  apiSession,
  axeViolations,
  type Dashboard,
  DESKTOP,
  PHONE,
  SKIP_BROWSER,
  signUp,
  startDashboard,
} from '../helpers/browser.ts';

let d: Dashboard;

async function noViolations(page: Page, where: string): Promise<void> {
  const violations = await axeViolations(page);
  expect(
    violations.map(
      (v) => `${where}: ${v.id} (${v.impact}) ${v.help}\n    ${v.nodes.join('\n    ')}`,
    ),
  ).toEqual([]);
}

describe.skipIf(SKIP_BROWSER)('dashboard defects (issue 17) in Chromium', () => {
  beforeAll(async () => {
    d = await startDashboard({ PLANS: 'free:40', DEFAULT_PLAN: 'free' });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('keeps the phone header to its own height on short pages', async () => {
    const { page } = await d.newPage(PHONE);
    await signUp(d.base, page, 'phone@example.com');
    const headerHeight = () =>
      page.locator('header.sidebar').evaluate((el) => el.getBoundingClientRect().height);
    // The empty keys list, the tokens page and a missing key: all short pages.
    expect(await headerHeight()).toBeLessThan(80);
    await page.goto(`${d.base}/tokens`);
    await page.getByRole('heading', { level: 1, name: 'Management tokens' }).waitFor();
    expect(await headerHeight()).toBeLessThan(80);
    await page.goto(`${d.base}/keys/key_aaaaaaaaaaaaaaaaaaaaaaaa`);
    await page.getByRole('heading', { level: 1, name: 'Key not found' }).waitFor();
    expect(await headerHeight()).toBeLessThan(80);
  }, 60_000);

  it('after a failed page fetch, shows the page it has with a matching counter and a retry', async () => {
    const { page, context } = await d.newPage();
    await signUp(d.base, page, 'pages@example.com');
    const { call } = await apiSession(d.base, context);
    for (let i = 1; i <= 25; i += 1)
      expect(
        (await call('POST', '/v1/keys', { name: `key ${String(i).padStart(2, '0')}` })).status,
      ).toBe(201);
    await page.reload();
    await page.getByText('1–20 of 25 keys').waitFor();

    // The next page's request fails as if the server had stopped.
    await page.route('**/v1/keys?*cursor=*', (route) => route.abort('connectionrefused'));
    await page.getByRole('button', { name: 'Next' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'The keys could not be loaded' });
    await alert.waitFor();
    expect(await page.locator('tbody tr').count()).toBe(20);
    expect(await page.locator('tbody tr').first().textContent()).toContain('key 25');
    expect(await page.getByText('1–20 of 25 keys').count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Previous' }).isDisabled()).toBe(true);
    // The failure is where the eye is: beside the pagination, inside the viewport.
    const box = await alert.boundingBox();
    expect(box).not.toBeNull();
    expect(box?.y ?? -1).toBeGreaterThanOrEqual(0);
    expect((box?.y ?? 0) + (box?.height ?? 0)).toBeLessThanOrEqual(DESKTOP.height);

    await page.unroute('**/v1/keys?*cursor=*');
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.getByText('21–25 of 25 keys').waitFor();
    expect(await page.locator('tbody tr').first().textContent()).toContain('key 05');
    // The page is in the URL: Back returns to page 1, reload keeps page 2.
    expect(page.url()).toContain('after=');
    await page.goBack();
    await page.getByText('1–20 of 25 keys').waitFor();
    await page.goForward();
    await page.getByText('21–25 of 25 keys').waitFor();
    await page.reload();
    await page.getByText('21–25 of 25 keys').waitFor();

    // Filters live in the URL too, and search finds a key by its id and by its visible start.
    await page.goto(`${d.base}/keys?status=active&q=key%2001`);
    await page.getByText('1–1 of 1 key').waitFor();
    expect(await page.getByLabel('Status').inputValue()).toBe('active');
    const list = await call('GET', '/v1/keys?search=key%2007');
    const seventh = list.body.data[0] as { id: string; start: string };
    await page.getByRole('searchbox').fill(seventh.id);
    await page.getByText('1–1 of 1 key').waitFor();
    await page.getByRole('searchbox').fill(seventh.start);
    await page.locator('tbody tr', { hasText: 'key 07' }).waitFor();
  }, 90_000);

  it('moves focus to the key page heading when a key is opened from the keyboard', async () => {
    const { page, context } = await d.newPage();
    await signUp(d.base, page, 'focus@example.com');
    const { call } = await apiSession(d.base, context);
    const created = await call('POST', '/v1/keys', { name: 'Keyboard key' });
    await page.reload();
    // The key's own request is held back, so the page is seen while it loads.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route(`**/v1/keys/${created.body.id}`, async (route) => {
      await held;
      await route.continue();
    });
    const link = page.getByRole('link', { name: 'Keyboard key' });
    await link.focus();
    await page.keyboard.press('Enter');
    const focused = () =>
      page.evaluate(
        `(() => { const el = document.activeElement; return el === null ? '' : el.tagName + ':' + (el.textContent ?? ''); })()`,
      ) as Promise<string>;
    await page.getByRole('heading', { level: 1, name: 'API key' }).waitFor();
    await expect.poll(focused).toBe('H1:API key');
    release();
    await page.getByRole('heading', { level: 1, name: /Keyboard key/ }).waitFor();
    expect(await focused()).toMatch(/^H1:Keyboard key/);
  }, 60_000);

  it('draws a focus ring in forced-colors (high-contrast) mode', async () => {
    const { page } = await d.newPage();
    await page.emulateMedia({ forcedColors: 'active' });
    await signUp(d.base, page, 'contrast@example.com');
    await page.keyboard.press('Tab');
    const ring = (await page.evaluate(`(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { tag: el.tagName, style: style.outlineStyle, width: Number.parseFloat(style.outlineWidth) };
    })()`)) as { tag: string; style: string; width: number };
    expect(ring.tag).not.toBe('BODY');
    expect(ring.style).not.toBe('none');
    expect(ring.width).toBeGreaterThanOrEqual(2);
    // A form field too.
    await page.goto(`${d.base}/account`);
    const field = page.getByLabel('Current password');
    await field.focus();
    const fieldRing = await page.evaluate('getComputedStyle(document.activeElement).outlineStyle');
    expect(fieldRing).not.toBe('none');
  }, 60_000);

  it('labels each day of the usage chart once, reads out a day on hover, and says when there is no traffic', async () => {
    const { page, context } = await d.newPage();
    await signUp(d.base, page, 'chart@example.com');
    const { call, userId } = await apiSession(d.base, context);
    const busy = await call('POST', '/v1/keys', { name: 'Busy key' });
    const quiet = await call('POST', '/v1/keys', { name: 'Quiet key' });
    const day = 86_400_000;
    const deltas = [];
    for (let back = 6; back >= 0; back -= 1) {
      const at = Date.now() - back * day;
      const base = {
        keyId: busy.body.id as string,
        ownerId: userId,
        day: new Date(at).toISOString().slice(0, 10),
        hour: at - (at % 3_600_000),
      };
      deltas.push({ ...base, outcome: 'VALID' as const, requests: 100 + back, amount: 100 + back });
      deltas.push({ ...base, outcome: 'RATE_LIMITED' as const, requests: 5, amount: 0 });
    }
    await addRollups(d.server.services.store.db, deltas);

    await page.goto(`${d.base}/keys/${busy.body.id}`);
    await page.getByRole('button', { name: '7 days' }).click();
    const canvas = page.locator('.chart-canvas');
    await canvas.locator('canvas').waitFor();
    await expect
      .poll(async () => ((await canvas.getAttribute('data-x-labels')) ?? '').split('|').length)
      .toBe(7);
    const labels = ((await canvas.getAttribute('data-x-labels')) ?? '').split('|');
    expect(new Set(labels).size).toBe(labels.length);

    const over = canvas.locator('.u-over');
    const box = await over.boundingBox();
    if (box === null) throw new Error('no chart');
    await over.hover({ position: { x: box.width - 10, y: box.height / 2 } });
    await expect
      .poll(() => page.locator('.chart-readout').textContent())
      .toMatch(/\d+ allowed, 5 rate limited/);

    await page.goto(`${d.base}/keys/${quiet.body.id}`);
    await page.getByText('No requests in this period.').waitFor();
    expect(await page.locator('.chart-canvas').count()).toBe(0);
  }, 60_000);

  it('passes axe-core on every page and dialog', async () => {
    const { page, context } = await d.newPage();
    await page.goto(`${d.base}/login`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await noViolations(page, 'sign-in');
    await page.goto(`${d.base}/signup`);
    await page.getByRole('button', { name: 'Create account' }).waitFor();
    await noViolations(page, 'sign-up');

    await signUp(d.base, page, 'axe@example.com');
    await noViolations(page, 'keys (empty)');
    const { call, userId } = await apiSession(d.base, context);
    // An admin sees every page.
    await d.server.services.store.db
      .updateTable('users')
      .set({ role: 'admin' })
      .where('id', '=', userId)
      .execute();
    const made = await call('POST', '/v1/keys', {
      name: 'Axe key',
      limits: { rate: [{ limit: 10, window: '1m' }], daily: { requests: 1000 } },
    });
    await call('POST', '/v1/keys', { name: 'Second key', environment: 'test' });
    await page.goto(`${d.base}/keys`);
    await page.locator('tbody tr').first().waitFor();
    await noViolations(page, 'keys');

    const dialogs: Array<[string, string]> = [
      ['Create key', 'create dialog'],
      [`Edit Axe key (${made.body.masked})`, 'edit dialog'],
      [`Rotate Axe key (${made.body.masked})`, 'rotate dialog'],
      [`Revoke Axe key (${made.body.masked})`, 'revoke dialog'],
      [`Delete Axe key (${made.body.masked})`, 'delete dialog'],
    ];
    for (const [button, where] of dialogs) {
      await page.getByRole('button', { name: button, exact: true }).click();
      await page.getByRole('dialog').waitFor();
      await noViolations(page, where);
      await page.keyboard.press('Escape');
      await page.getByRole('dialog').waitFor({ state: 'detached' });
    }
    // The show-once dialog of a new key.
    await page.getByRole('button', { name: 'Create key', exact: true }).click();
    await page.getByRole('dialog').getByLabel('Name').fill('Shown once');
    await page.getByRole('dialog').getByRole('button', { name: 'Create key' }).click();
    await page.getByTestId('secret').waitFor();
    await noViolations(page, 'show-once dialog');
    await page.keyboard.press('Escape');

    await page.goto(`${d.base}/keys/${made.body.id}`);
    await page.getByRole('heading', { level: 1, name: /Axe key/ }).waitFor();
    await noViolations(page, 'key page');

    const pages: Array<[string, string | RegExp]> = [
      ['/tokens', 'Management tokens'],
      ['/audit-log', 'Audit log'],
      ['/account', 'Account'],
      ['/admin/users', 'Users'],
      ['/admin/service-tokens', 'Service tokens'],
      ['/no-such-page', /not found/i],
      ['/keys/key_aaaaaaaaaaaaaaaaaaaaaaaa', 'Key not found'],
    ];
    for (const [path, heading] of pages) {
      await page.goto(`${d.base}${path}`);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.waitForTimeout(200);
      await noViolations(page, path);
    }
    // Webhooks: the list and its create dialog (an endpoint's page is checked in webhooks.test.ts).
    await page.goto(`${d.base}/webhooks`);
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    await noViolations(page, '/webhooks');
    await page.getByRole('button', { name: 'Add endpoint' }).first().click();
    await page.getByRole('dialog', { name: 'Add a webhook endpoint' }).waitFor();
    await noViolations(page, 'add endpoint dialog');
    await page.keyboard.press('Escape');
    // Invitations and their dialog; an account's limits dialog.
    await page.goto(`${d.base}/admin/invitations`);
    await page.getByRole('heading', { level: 1, name: 'Invitations' }).waitFor();
    await noViolations(page, '/admin/invitations');
    await page.getByRole('button', { name: 'Invite someone' }).first().click();
    await page.getByRole('dialog', { name: 'Invite someone' }).waitFor();
    await noViolations(page, 'invite dialog');
    await page.keyboard.press('Escape');
    await page.goto(`${d.base}/admin/users`);
    await page.getByRole('button', { name: 'Account limits of axe@example.com' }).click();
    await page.getByRole('dialog', { name: 'Account limits of axe@example.com' }).waitFor();
    await noViolations(page, 'account limits dialog');
    await page.keyboard.press('Escape');
    // The pages a one-time link opens, and "Forgot password?", signed out.
    const invitation = await d.server.services.invitations.create(CLI_ACTOR, {});
    const reset = await d.server.services.passwordResets.createLink(CLI_ACTOR, 'axe@example.com');
    const anonymous = await d.newPage();
    for (const [path, where] of [
      [new URL(invitation.url).pathname, 'invitation page'],
      [new URL(reset.url).pathname, 'reset page'],
      ['/forgot-password', 'forgot-password page'],
    ] as const) {
      await anonymous.page.goto(`${d.base}${path}`);
      await anonymous.page.getByRole('heading', { level: 1 }).waitFor();
      await anonymous.page.waitForTimeout(200);
      await noViolations(anonymous.page, where);
    }

    // The token dialogs.
    await page.goto(`${d.base}/tokens`);
    await page
      .getByRole('button', { name: /Create token/ })
      .first()
      .click();
    await page.getByRole('dialog').waitFor();
    await noViolations(page, 'create token dialog');
    await page.keyboard.press('Escape');

    // At phone width too.
    const phone = await d.newPage(PHONE);
    await phone.context.addCookies(await context.cookies(d.base));
    for (const path of ['/keys', `/keys/${made.body.id}`, '/account']) {
      await phone.page.goto(`${d.base}${path}`);
      await phone.page.getByRole('heading', { level: 1 }).waitFor();
      await phone.page.waitForTimeout(200);
      await noViolations(phone.page, `phone ${path}`);
    }
  }, 120_000);

  it('raised no page errors or console errors', () => {
    expect(d.problems).toEqual([]);
  });
});
