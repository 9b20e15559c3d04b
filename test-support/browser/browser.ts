/**
 * A real browser for the operator app's tests: Debian's chromium (installed by the pretest step),
 * driven by playwright-core over CDP. Nothing downloads a browser; a missing chromium fails the suite.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axe from 'axe-core';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.GRIDLAYER_CHROMIUM ?? '/usr/bin/chromium';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOTS = join(root, 'test-results', 'screenshots');

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no chromium at ${CHROMIUM}: run deploy/ci/ensure-test-servers.sh (Debian's chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/**
 * Saves a screenshot of the page as a test artifact (test-results/, git-ignored); with
 * GRIDLAYER_DOC_SCREENSHOTS=1 also as docs/img/app-<name>.png for docs/operator-app.md.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  if (process.env.GRIDLAYER_DOC_SCREENSHOTS === '1') {
    mkdirSync(join(root, 'docs', 'img'), { recursive: true });
    await page.screenshot({ path: join(root, 'docs', 'img', `app-${name}.png`), fullPage: true });
  }
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** Runs axe-core (WCAG 2 A/AA rules) in the page; returns the violations, empty when it passes. */
export async function accessibilityViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated over CDP, which the app's CSP (no inline scripts) does not govern: the page stays as served.
  await page.evaluate(axe.source);
  return page.evaluate(async () => {
    const w = globalThis as any;
    const r: { violations: any[] } = await w.axe.run(w.document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] },
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n: { target: string[] }) => n.target.join(' ')),
    }));
  });
}
