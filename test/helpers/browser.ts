// Shared set-up for the browser suites: the real server (startServer on an ephemeral port, a temp
// SQLite database) and Debian's Chromium driven by playwright-core, plus axe-core's checks.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { buildDashboard } from '../../scripts/build-dashboard.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningServer, startServer } from '../../src/server.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];
/** Locally a browser suite may skip when Chromium is missing; in CI it must run (and so fail). */
export const SKIP_BROWSER = !existsSync(CHROMIUM) && process.env.CI !== 'true';
export const SCREENSHOTS = join(process.cwd(), '.test-artifacts', 'screenshots');
export const DESKTOP = { width: 1440, height: 900 };
export const PHONE = { width: 390, height: 844 };

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core'), 'utf8');

export interface Dashboard {
  base: string;
  server: RunningServer;
  browser: Browser;
  /** Page errors and unexpected console errors seen on any page. */
  problems: string[];
  newPage(viewport?: { width: number; height: number }): Promise<{
    context: BrowserContext;
    page: Page;
  }>;
  close(): Promise<void>;
}

/** Starts a server with the built dashboard and a Chromium to drive it. */
export async function startDashboard(env: Record<string, string> = {}): Promise<Dashboard> {
  buildDashboard({ quiet: true });
  mkdirSync(SCREENSHOTS, { recursive: true });
  const workDir = mkdtempSync(join(tmpdir(), 'keyward-browser-'));
  const config = loadConfig({
    DATABASE_URL: `sqlite:${join(workDir, 'keyward.db')}`,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const server = await startServer(config, createLogger('silent'));
  const base = server.address.replace('[::1]', '127.0.0.1');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  return {
    base,
    server,
    browser,
    problems,
    async newPage(viewport = DESKTOP) {
      const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC' });
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        // Refusals (4xx) and a stopped server (connection refused) are shown by the app.
        if (
          message.type() === 'error' &&
          !/^Failed to load resource: (the server responded with a status of 4\d\d|net::ERR_CONNECTION_REFUSED)/.test(
            message.text(),
          )
        )
          problems.push(`console: ${message.text()}`);
      });
      return { context, page };
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {});
      await browser.close();
      await server.close().catch(() => {});
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

export async function signUp(
  base: string,
  page: Page,
  address: string,
  password = 'violet harbour lantern seven',
): Promise<void> {
  await page.goto(`${base}/signup`);
  await page.getByLabel('Email').fill(address);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
}

export async function signIn(page: Page, address: string, password: string): Promise<void> {
  await page.getByLabel('Email').fill(address);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The session cookie and CSRF token of a signed-in browser context, for API calls from the test. */
export async function apiSession(base: string, context: BrowserContext) {
  const cookies = await context.cookies(base);
  const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  const me = (await (await fetch(`${base}/v1/auth/me`, { headers: { cookie } })).json()) as {
    csrf_token: string;
    user: { id: string };
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        cookie,
        'x-csrf-token': me.csrf_token,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? null : JSON.parse(text) };
  };
  return { call, userId: me.user.id };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core (all its rules but the experimental ones) on the page as it is now, open dialogs
 * included, and returns the violations. Evaluated over the DevTools protocol, which the page's
 * Content-Security-Policy does not govern.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const result = (await page.evaluate(`(async () => {
    const r = await globalThis.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ') + ' :: ' + (n.failureSummary || '').slice(0, 200)),
    }));
  })()`)) as AxeViolation[];
  return result;
}
