/**
 * The operator app in a real browser (Debian's chromium through playwright-core): the shell the views
 * hang in. Per-view journeys live in the other app-*.test.ts files.
 */
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { accessibilityViolations, launchBrowser, screenshot } from '../test-support/browser/browser.ts';
import { startTestCloud, type TestCloud } from '../test-support/cloud/test-cloud.ts';

describe('operator app: the shell in a real browser', function () {
  this.timeout(60_000);
  let t: TestCloud;
  let browser: Browser;
  let base: string;

  before(async () => {
    t = await startTestCloud();
    base = t.cloud.apiUrl.replace('/api/v1', '');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('signed out: shows the sign-in form, loads nothing from elsewhere, passes axe, fits 400 px', async () => {
    const ctx = await browser.newContext({ viewport: { width: 400, height: 800 } });
    const page = await ctx.newPage();
    const foreign: string[] = [];
    const csp: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
    });
    await page.goto(`${base}/`);
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    assert.ok(await page.getByLabel('User').isVisible());
    assert.ok(await page.getByLabel('Password').isVisible());
    assert.deepEqual(foreign, []);
    assert.deepEqual(csp, []);
    const overflow = await page.evaluate(() => {
      const w = globalThis as any;
      return w.document.documentElement.scrollWidth - w.innerWidth;
    });
    assert.ok(overflow <= 0, `scrolls sideways by ${overflow} px at 400 px`);
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'sign-in');
    await ctx.close();
  });
});
