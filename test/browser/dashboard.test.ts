// End-to-end tests of the dashboard: the real server (startServer on an ephemeral port, a temp
// SQLite database) and Debian's Chromium driven by playwright-core. Screenshots of the main pages
// go to .test-artifacts/screenshots/.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { addRollups } from '../../src/storage/usage-repository.ts';
import {
  type Dashboard,
  apiSession as dashboardSession,
  PHONE,
  SCREENSHOTS,
  SKIP_BROWSER,
  signIn,
  signUp as signUpAt,
  startDashboard,
} from '../helpers/browser.ts';
import { startSmtpServer } from '../helpers/smtp.ts';

const DESKTOP = { width: 1280, height: 860 };

let d: Dashboard;
let server: RunningServer;
let base: string;
let workDir: string;

/** Every run has its own database, so a readable address (shown in screenshots) is unique. */
function email(name: string): string {
  return `${name}@example.com`;
}

function newPage(viewport = DESKTOP): Promise<{ context: BrowserContext; page: Page }> {
  return d.newPage(viewport);
}

async function shot(
  page: Page,
  name: string,
  options: { fullPage?: boolean; locator?: Locator } = {},
) {
  // Let fonts, the chart and transitions settle; hide notifications that would cover the page.
  await page.waitForTimeout(150);
  await page.evaluate(
    "for (const toast of document.querySelectorAll('.toast')) toast.style.visibility = 'hidden'",
  );
  const path = join(SCREENSHOTS, `${name}.png`);
  if (options.locator) await options.locator.screenshot({ path });
  else await page.screenshot({ path, fullPage: options.fullPage ?? false });
}

function signUp(page: Page, address: string, password?: string): Promise<void> {
  return signUpAt(base, page, address, password);
}

/** The session cookie and CSRF token of a signed-in browser context, for API calls from the test. */
function apiSession(context: BrowserContext) {
  return dashboardSession(base, context);
}

async function callWithKey(secret: string): Promise<number> {
  const response = await fetch(`${base}/v1/key`, {
    headers: { authorization: `Bearer ${secret}` },
  });
  await response.arrayBuffer();
  return response.status;
}

function masked(secret: string): string {
  const start = secret.slice(0, secret.lastIndexOf('_') + 5);
  return `${start}…${secret.slice(-4)}`;
}

interface Rows {
  length: number;
  [index: number]: { textContent: string | null } | undefined;
}

/** Waits until the table shows `count` rows (and, if given, the first contains `text`). */
async function waitForRows(page: Page, count: number, text?: string): Promise<void> {
  await page.waitForFunction(
    ([n, t]) => {
      // Runs in the page; typed just enough, as this file is checked without the DOM types.
      const page = globalThis as unknown as {
        document: { querySelectorAll(selector: string): Rows };
      };
      const rows = page.document.querySelectorAll('tbody tr');
      return rows.length === n && (t === null || (rows[0]?.textContent ?? '').includes(t));
    },
    [count, text ?? null] as const,
  );
}

/** Retries `check` (which may reload) until it holds: usage reaches the database about once a second. */
async function eventually(page: Page, check: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt += 1) {
    if (await check()) return;
    await page.waitForTimeout(250);
  }
  throw new Error('the page never showed what was expected');
}

function row(page: Page, text: string): Locator {
  return page.locator('tbody tr', { hasText: text });
}

describe.skipIf(SKIP_BROWSER)('dashboard in Chromium', () => {
  beforeAll(async () => {
    d = await startDashboard({ PLANS: 'free:2,pro:50', DEFAULT_PLAN: 'free' });
    server = d.server;
    base = d.base;
    // For the second server, with mail, of the notifications test.
    workDir = mkdtempSync(join(tmpdir(), 'keyward-dashboard-'));
  });

  afterAll(async () => {
    await d?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  let firstKeyId = '';

  it('sign up → create a key → copy it → use it → "Last used" → rotate → revoke', async () => {
    const { page } = await newPage();
    await page.goto(base);
    await page.getByRole('heading', { name: 'Sign in to Keyward' }).waitFor();
    await shot(page, 'login');
    await signUp(page, email('ada'));

    // The empty state says what to do first.
    await page.getByRole('heading', { name: 'No API keys yet' }).waitFor();
    expect(await page.getByText('0 of 2 keys used').count()).toBe(1);
    await shot(page, 'keys-empty');

    await page.getByRole('button', { name: 'Create your first key' }).click();
    const create = page.getByRole('dialog', { name: 'Create API key' });
    // Inline validation: an empty name is refused before anything is sent.
    await create.getByRole('button', { name: 'Create key' }).click();
    await create.getByText('Give the key a name').waitFor();
    await create.getByLabel('Name').fill('Production server');
    expect(await create.getByLabel('Expiration').inputValue()).toBe('90d');
    await create.getByRole('button', { name: /Add my IP address \(127\.0\.0\.1\)/ }).waitFor();
    await create.getByRole('button', { name: /Rate limits and quotas/ }).click();
    await create.getByRole('button', { name: 'Add a rate limit' }).click();
    await create.getByLabel('Rule 1: requests').fill('600');
    // Folded again, the section sums up what was set.
    await create.getByRole('button', { name: /Rate limits and quotas/ }).click();
    await create.getByRole('button', { name: /Rate limits and quotas 600 per minute/ }).waitFor();
    await shot(page, 'create-dialog');
    await create.getByRole('button', { name: 'Create key' }).click();

    // Show once: the key, a copy button and the warning.
    const once = page.getByRole('dialog', { name: 'Save your API key' });
    await once.getByText('You will not see it again').waitFor();
    const shown = await once.getByLabel('Your new key').inputValue();
    expect(shown).toMatch(/^sk_live_[0-9a-f]{40}$/);
    await once.getByRole('button', { name: 'Copy' }).click();
    await once.getByRole('button', { name: 'Copied' }).waitFor();
    const copied = await page.evaluate<string>('navigator.clipboard.readText()');
    expect(copied).toBe(shown);
    await shot(page, 'show-once-dialog');
    await once.getByRole('button', { name: 'Done' }).click();
    await once.waitFor({ state: 'detached' });

    const first = row(page, masked(copied));
    expect(await first.locator('.badge').textContent()).toBe('Not used');
    expect(await first.locator('.cell-last-used').textContent()).toBe('Never');
    firstKeyId = (await first.getAttribute('data-key-id')) ?? '';
    expect(firstKeyId).toMatch(/^key_/);

    // The copied key works against the API …
    expect(await callWithKey(copied)).toBe(200);
    // … and the table shows it was used (usage is flushed about once a second).
    await eventually(page, async () => {
      await page.reload();
      await first.waitFor();
      return (await first.locator('.cell-last-used').textContent()) !== 'Never';
    });
    expect(await first.locator('.cell-last-used').textContent()).toBe('just now');
    expect(await first.locator('.badge').textContent()).toBe('Active');

    // Rotate with a grace period: a new secret, shown once; the old key keeps working.
    await first.getByRole('button', { name: 'Rotate Production server' }).click();
    const rotate = page.getByRole('dialog', { name: 'Rotate “Production server”' });
    await rotate.getByLabel('Grace period for the old key').selectOption('1h');
    await rotate.getByRole('button', { name: 'Rotate key' }).click();
    const rotated = page.getByRole('dialog', { name: 'Your new key' });
    const second = await rotated.getByLabel('Your new key').inputValue();
    expect(second).toMatch(/^sk_live_[0-9a-f]{40}$/);
    expect(second).not.toBe(copied);
    await rotated.getByRole('button', { name: 'Done' }).click();
    expect(await callWithKey(second)).toBe(200);
    expect(await callWithKey(copied)).toBe(200);

    // Revoke the new key: the confirmation names it; afterwards the badge says Revoked.
    const newRow = row(page, masked(second));
    await newRow.getByRole('button', { name: 'Revoke Production server' }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke “Production server”?' });
    expect(await confirm.textContent()).toContain(masked(second));
    await confirm.getByRole('button', { name: 'Revoke key' }).click();
    await confirm.waitFor({ state: 'detached' });
    await newRow.locator('.badge', { hasText: 'Revoked' }).waitFor();
    expect(await newRow.getByRole('button', { name: /^Rotate/ }).count()).toBe(0);
    expect(await callWithKey(second)).toBe(401);

    // The status filter finds it.
    await page.getByLabel('Status').selectOption('revoked');
    await page.locator('tbody tr').first().waitFor();
    await waitForRows(page, 1);
    expect(await page.locator('tbody tr .badge').textContent()).toBe('Revoked');
  }, 90_000);

  it('works from the keyboard alone', async () => {
    const { page } = await newPage();
    await signUp(page, email('keys'));
    // Tab to "Create your first key" and open it with Enter.
    let found = false;
    for (let i = 0; i < 25 && !found; i += 1) {
      await page.keyboard.press('Tab');
      found = await page.evaluate<boolean>(
        "document.activeElement?.textContent === 'Create your first key'",
      );
    }
    expect(found).toBe(true);
    await page.keyboard.press('Enter');
    const create = page.getByRole('dialog', { name: 'Create API key' });
    await create.waitFor();
    // Focus starts in the name field; Enter submits the form.
    await page.keyboard.type('Typed without a mouse');
    await page.keyboard.press('Enter');
    const once = page.getByRole('dialog', { name: 'Save your API key' });
    await once.waitFor();
    await page.keyboard.press('Escape');
    await once.waitFor({ state: 'detached' });
    await row(page, 'Typed without a mouse').waitFor();
    // Every form control on the page has an accessible name.
    const unlabelled = await page.evaluate<string[]>(`
      [...document.querySelectorAll('input, select, textarea, button')]
        .filter((el) => !(
          el.getAttribute('aria-label') ||
          el.getAttribute('aria-labelledby') ||
          el.labels?.length ||
          (el.tagName === 'BUTTON' && el.textContent.trim()) ||
          el.type === 'hidden' ||
          el.hidden
        ))
        .map((el) => el.outerHTML.slice(0, 80))
    `);
    expect(unlabelled).toEqual([]);
  }, 60_000);

  it('says so when the plan limit is reached', async () => {
    const { page, context } = await newPage();
    await signUp(page, email('limit'));
    const { call } = await apiSession(context);
    for (const name of ['one', 'two'])
      expect((await call('POST', '/v1/keys', { name })).status).toBe(201);
    await page.reload();
    await page.getByText('2 of 2 keys used').waitFor();
    await page.getByText('You have used every key your plan allows').waitFor();
    // At the limit the button is off and says why, before anyone fills a form in vain.
    const create = page.getByRole('button', { name: 'Create key' });
    expect(await create.isDisabled()).toBe(true);
    const describedBy = (await create.getAttribute('aria-describedby')) ?? '';
    expect(await page.locator(`#${describedBy}`).textContent()).toContain(
      'Creating a key is off until you revoke or delete a key',
    );
    await shot(page, 'plan-limit');
  }, 60_000);

  it("shows another account's key as not found, and sends an expired session to sign-in", async () => {
    expect(firstKeyId).toMatch(/^key_/);
    const { page, context } = await newPage();
    const address = email('eve');
    await signUp(page, address, 'eve has a long password');
    await page.goto(`${base}/keys/${firstKeyId}`);
    await page.getByRole('heading', { level: 1, name: 'Key not found' }).waitFor();
    expect(await page.locator('main').textContent()).toMatch(/not found/i);
    await shot(page, 'key-not-found');

    // The session ends (here: the cookie is gone) while a form is half filled: a sign-in dialog
    // covers the page, and the form is still there afterwards.
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'API keys' })
      .click();
    await page.getByRole('button', { name: 'Create your first key' }).click();
    const create = page.getByRole('dialog', { name: 'Create API key' });
    await create.getByLabel('Name').fill('Half-filled key');
    await context.clearCookies();
    await create.getByRole('button', { name: 'Create key' }).click();
    const reauth = page.getByRole('dialog', { name: 'Your session has ended' });
    await reauth.waitFor();
    expect(await reauth.getByLabel('Email').inputValue()).toBe(address);
    await reauth.getByLabel('Password').fill('eve has a long password');
    await reauth.getByRole('button', { name: 'Sign in' }).click();
    await reauth.waitFor({ state: 'detached' });
    expect(await create.getByLabel('Name').inputValue()).toBe('Half-filled key');
    await create.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('dialog', { name: 'Save your API key' }).waitFor();
    await page.keyboard.press('Escape');

    // Leaving instead goes to the sign-in page, which keeps the email and the page to return to.
    await context.clearCookies();
    await page.getByRole('link', { name: 'Management tokens' }).click();
    await reauth.waitFor();
    await reauth.getByRole('button', { name: 'Go to the sign-in page' }).click();
    await page.getByRole('heading', { name: 'Sign in to Keyward' }).waitFor();
    await page.getByText('Your session has ended. Sign in again to continue.').waitFor();
    expect(new URL(page.url()).searchParams.get('next')).toBe('/tokens');
    expect(await page.getByLabel('Email').inputValue()).toBe(address);
    await page.getByLabel('Password').fill('eve has a long password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Management tokens' }).waitFor();
  }, 60_000);

  it('shows a key page with the usage chart and request log, tokens, audit log, account and admin pages', async () => {
    // A well-used admin account on the pro plan, for the screenshots.
    const address = email('ops');
    const password = 'a long admin password';
    await server.services.accounts.createUser(CLI_ACTOR, {
      email: address,
      password,
      role: 'admin',
      plan: 'pro',
    });
    const { page, context } = await newPage();
    await page.goto(`${base}/login`);
    await signIn(page, address, password);
    await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    const { call, userId } = await apiSession(context);

    const make = async (body: Record<string, unknown>) => {
      const answer = await call('POST', '/v1/keys', body);
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      return answer.body as { id: string; key: string };
    };
    const old = await make({ name: 'Old mobile app', expiration: '1y' });
    await call('POST', `/v1/keys/${old.id}/revoke`);
    const paused = await make({ name: 'Analytics export', permission_preset: 'read_only' });
    await call('PATCH', `/v1/keys/${paused.id}`, { enabled: false });
    await make({ name: 'Staging', environment: 'test', expiration: '30d' });
    const ci = await make({
      name: 'CI pipeline',
      permission_preset: 'read_only',
      expiration: '6m',
    });
    const production = await make({
      name: 'Production server',
      expiration: '1y',
      ip_allowlist: ['127.0.0.1', '10.0.0.0/8'],
      limits: {
        rate: [{ limit: 10, window: '1m' }],
        daily: { requests: 5000 },
        monthly: { requests: 100000 },
      },
      credits: { remaining: 25000, refill: { amount: 25000, interval: 'monthly' } },
    });
    await make({ name: 'Partner integration', expiration: 'never' });

    // Real traffic: 14 calls against a limit of 10 a minute (4 are refused), and a few on CI.
    for (let i = 0; i < 14; i += 1) await callWithKey(production.key);
    for (let i = 0; i < 3; i += 1) await callWithKey(ci.key);
    // A month of history before today, written where the usage recorder writes it.
    const day = 86_400_000;
    const deltas = [];
    for (let back = 29; back >= 1; back -= 1) {
      const at = Date.now() - back * day;
      const date = new Date(at).toISOString().slice(0, 10);
      const hour = at - (at % 3_600_000);
      const valid = 1800 + Math.round(900 * Math.sin(back / 2)) + (back % 3) * 250;
      const base = { keyId: production.id, ownerId: userId, day: date, hour };
      deltas.push({ ...base, outcome: 'VALID' as const, requests: valid, amount: valid });
      deltas.push({
        ...base,
        outcome: 'RATE_LIMITED' as const,
        requests: 40 + (back % 4) * 35,
        amount: 0,
      });
      if (back % 5 === 0)
        deltas.push({ ...base, outcome: 'IP_NOT_ALLOWED' as const, requests: 60, amount: 0 });
    }
    await addRollups(server.services.store.db, deltas);

    // Tokens: two management tokens and a service token.
    await call('POST', '/v1/tokens', {
      name: 'Deploy script',
      scopes: ['keys:read', 'keys:write'],
      expires_in: '90d',
    });
    await call('POST', '/v1/tokens', { name: 'Usage dashboard', scopes: ['usage:read'] });
    await call('POST', '/v1/tokens', { name: 'API servers', scopes: ['keys:verify'] });

    // Wait for the usage flush, then the keys table.
    await eventually(page, async () => {
      await page.reload();
      await row(page, 'Production server').waitFor();
      return (await row(page, 'Production server').locator('.badge').textContent()) === 'Active';
    });
    await shot(page, 'keys-table');

    // Filters and search.
    await page.getByLabel('Search keys by name').fill('prod');
    await waitForRows(page, 1, 'Production server');
    await page.getByLabel('Search keys by name').fill('');
    await waitForRows(page, 6);
    await page.getByLabel('Environment').selectOption('test');
    await waitForRows(page, 1, 'Staging');
    await page.getByLabel('Environment').selectOption('');
    await waitForRows(page, 6);

    // The key page: chart, amounts, quotas and the request log.
    await row(page, 'Production server').getByRole('link', { name: 'Production server' }).click();
    await page.getByRole('heading', { level: 1, name: /Production server/ }).waitFor();
    await page.locator('.chart-canvas canvas').waitFor();
    await eventually(page, async () => {
      const rows = await page.locator('.log-table tbody tr').count();
      if (rows < 14) await page.getByRole('button', { name: 'Refresh' }).click();
      return rows === 14;
    });
    const main = (await page.locator('main').textContent()) ?? '';
    expect(main).toContain('Rate limited');
    expect(main).toContain('Credits remaining');
    expect(main).toContain('Daily quota');
    expect(main).toContain('25,000');
    expect(await page.locator('.log-table tbody tr').count()).toBe(14);
    await shot(page, 'key-detail', { fullPage: true });

    // Edit: rename, then see the new name.
    await page.getByRole('button', { name: 'Edit Production server' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit “Production server”' });
    await edit.getByLabel('Name').fill('Production API server');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { level: 1, name: /Production API server/ }).waitFor();

    await page.getByRole('link', { name: 'Management tokens' }).click();
    await row(page, 'Deploy script').waitFor();
    await shot(page, 'tokens');
    await page.getByRole('button', { name: 'Create token' }).click();
    const tokenDialog = page.getByRole('dialog', { name: 'Create management token' });
    await tokenDialog.getByLabel('Name').fill('Nightly backup');
    await tokenDialog.getByRole('button', { name: 'Create token' }).click();
    const tokenSecret = page.getByRole('dialog', { name: 'Save your token' });
    expect(await tokenSecret.getByLabel('Your new token').inputValue()).toMatch(/^kwm_/);
    await tokenSecret.getByRole('button', { name: 'Done' }).click();
    await row(page, 'Nightly backup').waitFor();

    await page.getByRole('link', { name: 'Audit log' }).click();
    await row(page, 'Created key').first().waitFor();
    await shot(page, 'audit-log');

    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByTestId('plan-usage').waitFor();
    expect(await page.getByTestId('plan-usage').textContent()).toBe('5 of 50 keys used');
    await shot(page, 'account');
    // A wrong current password is refused in plain words.
    await page.getByLabel('Current password').fill('not my password');
    await page.getByLabel('New password', { exact: true }).fill('a brand new long password');
    await page.getByLabel('Repeat the new password').fill('a brand new long password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('alert').getByText('Your current password is not correct.').waitFor();

    await page.getByRole('link', { name: 'Users' }).click();
    await row(page, address).waitFor();
    await shot(page, 'admin-users');
    // Move the user who hit the limit to the pro plan.
    await page.getByLabel('Plan of limit@example.com').selectOption('pro');
    await page.getByText('limit@example.com is now on the pro plan.').waitFor();
    await page.getByRole('link', { name: 'Service tokens' }).click();
    await row(page, 'API servers').waitFor();
    await shot(page, 'admin-service-tokens');

    // Phone width: the table becomes cards, the navigation a menu.
    const phone = await newPage(PHONE);
    await phone.page.goto(`${base}/login`);
    await signIn(phone.page, address, password);
    await row(phone.page, 'Production API server').waitFor();
    await shot(phone.page, 'keys-phone');
    const overflow = await phone.page.evaluate<boolean>(
      'document.documentElement.scrollWidth > window.innerWidth',
    );
    expect(overflow).toBe(false);
    await phone.page.getByRole('button', { name: 'Menu' }).click();
    await phone.page.getByRole('link', { name: 'Audit log' }).click();
    await phone.page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
  }, 120_000);

  it('flags keys expiring within 7 days, and shows the email switches (off without mail)', async () => {
    const { page, context } = await newPage();
    await signUp(page, email('expiry'));
    const { call } = await apiSession(context);
    const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
    const soon = await call('POST', '/v1/keys', { name: 'soon', expires_at: inDays(3.1) });
    expect(soon.status).toBe(201);
    expect((await call('POST', '/v1/keys', { name: 'later', expires_at: inDays(30) })).status).toBe(
      201,
    );
    await page.reload();
    await row(page, 'later').waitFor();
    await row(page, 'soon').getByText('Expires in 3 days').waitFor();
    expect(await row(page, 'later').textContent()).not.toContain('Expires in');
    await shot(page, 'keys-expiring');
    await page.getByRole('link', { name: 'soon' }).click();
    await page
      .getByRole('heading', { level: 1, name: /soon/ })
      .getByText('Expires in 3 days')
      .waitFor();

    await page.goto(`${base}/account`);
    await page.getByRole('heading', { name: 'Email notifications' }).waitFor();
    const expiring = page.getByRole('checkbox', { name: /A key is about to expire/ });
    await expiring.waitFor();
    expect(await expiring.isDisabled()).toBe(true);
    await page.getByText('This server does not send email').waitFor();
  }, 60_000);

  it('switches email notifications off and on when the server sends mail', async () => {
    const smtp = await startSmtpServer();
    const config = loadConfig({
      DATABASE_URL: `sqlite:${join(workDir, 'mail.db')}`,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      SMTP_URL: smtp.url,
      MAIL_FROM: 'keyward@example.com',
    });
    const mailServer = await startServer(config, createLogger('silent'));
    try {
      const mailBase = mailServer.address.replace('[::1]', '127.0.0.1');
      const { page } = await newPage();
      await signUpAt(mailBase, page, email('mailer'));
      await page.goto(`${mailBase}/account`);
      const threshold = page.getByRole('checkbox', { name: /80 % or 100 %/ });
      await threshold.waitFor();
      expect(await threshold.isChecked()).toBe(true);
      expect(await threshold.isDisabled()).toBe(false);
      expect(await page.getByText('This server does not send email').count()).toBe(0);
      // From the keyboard: focus the switch and press Space.
      await threshold.focus();
      await page.keyboard.press('Space');
      await page.getByRole('status').getByText('Switched off.').waitFor();
      await shot(page, 'account-notifications');
      await page.reload();
      await threshold.waitFor();
      expect(await threshold.isChecked()).toBe(false);
      expect(await page.getByRole('checkbox', { name: /about to expire/ }).isChecked()).toBe(true);
    } finally {
      await mailServer.close();
      await smtp.close();
    }
  }, 60_000);

  it("an admin sets an account's own limits and credits; the account page shows them, read-only", async () => {
    const address = email('balances-admin');
    const password = 'a long admin password';
    await server.services.accounts.createUser(CLI_ACTOR, {
      email: address,
      password,
      role: 'admin',
    });
    await server.services.accounts.createUser(CLI_ACTOR, {
      email: email('shared'),
      password: 'the shared account password',
      role: 'user',
    });
    const { page } = await newPage();
    await page.goto(`${base}/login`);
    await signIn(page, address, password);
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('button', { name: 'Account limits of shared@example.com' }).click();
    const dialog = page.getByRole('dialog', { name: 'Account limits of shared@example.com' });
    await dialog.getByLabel('Requests per day').fill('1000');
    await dialog.getByLabel('Credits').fill('4200');
    await dialog.getByLabel('Refill to').fill('5000');
    await dialog.getByRole('button', { name: 'Save limits' }).click();
    await page.getByText('Account limits of shared@example.com saved.').waitFor();
    const summary = '1,000 requests/day shared by all keys, 4,200 of 5,000 credits left';
    await row(page, 'shared@example.com').getByText(summary).waitFor();
    await shot(page, 'admin-users-limits');

    const user = await newPage();
    await user.page.goto(`${base}/login`);
    await signIn(user.page, email('shared'), 'the shared account password');
    await user.page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    await user.page.getByRole('link', { name: 'Account' }).click();
    expect(await user.page.getByTestId('account-limits').textContent()).toBe(
      `Account limits: ${summary}`,
    );
    // Read-only for the account itself: nothing on the page edits them.
    expect(await user.page.getByRole('button', { name: /limits/i }).count()).toBe(0);
  }, 60_000);

  it('raised no page errors or console errors (a CSP violation would be one)', () => {
    expect(d.problems).toEqual([]);
  });
});
