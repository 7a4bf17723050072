// The API reference at /docs in Chromium: it renders, every request it makes stays on this
// server (fonts included), and its Content-Security-Policy reports no violation.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningServer, startServer } from '../../src/server.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) && process.env.CI !== 'true';

describe.skipIf(skip)('/docs in Chromium (issue 11.7)', () => {
  let server: RunningServer;
  let browser: Browser;
  let base: string;
  let workDir: string;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'keyward-docs-'));
    const config = loadConfig({
      DATABASE_URL: `sqlite:${join(workDir, 'keyward.db')}`,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    });
    server = await startServer(config, createLogger('silent'));
    base = server.address.replace('[::1]', '127.0.0.1');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('renders the reference, loads nothing from another host and breaks no CSP rule', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(90_000);
    const requested: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content Security Policy/i.test(message.text()))
        problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.addInitScript(
      "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))",
    );
    await page.goto(`${base}/docs`, { waitUntil: 'networkidle' });
    // The reference rendered the document: an operation of the API is on the page.
    await page.getByText('Verify an API key').first().waitFor();
    // Fonts are requested once text is laid out; this settles when they have loaded or failed.
    await page.evaluate('document.fonts.ready.then(() => document.fonts.size)');
    await context.close();
    expect(requested.length).toBeGreaterThan(1);
    const foreign = requested.filter(
      (url) => !url.startsWith(`${base}/`) && !url.startsWith('data:'),
    );
    expect(foreign).toEqual([]);
    expect(problems).toEqual([]);
    // Parsing the 4.9 MB bundle takes seconds on a busy machine.
  }, 120_000);
});
