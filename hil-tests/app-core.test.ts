/**
 * The operator app's core views in a real browser (Debian's chromium through playwright-core) against a
 * real cloud process and real simulated sites with their edge agents (MQTT, Modbus): the fleet, a site
 * with live values and charts, the audit log, users and tokens, per role; a participant refused another
 * participant's site; axe-core on every view; no sideways scroll at phone width; screenshots per view.
 */
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations, launchBrowser, screenshot } from '../test-support/browser/browser.ts';
import { BOOTSTRAP_TOKEN, startTestCloud, type TestCloud } from '../test-support/cloud/test-cloud.ts';
import { HilCloud, type HilSite, hilDir, startSite, waitUntil } from './harness.ts';

type Latest = { device: string; point: string; ts: number; value: number }[];

describe('operator app: fleet, site, audit and users in a real browser', function () {
  this.timeout(180_000);
  const tmp = hilDir();
  const cloud = new HilCloud(tmp.dir);
  let a: HilSite;
  let b: HilSite;
  let browser: Browser;
  let base: string;
  const tokens: Record<string, string> = {};
  const PASSWORD = (id: string) => `pw-${id}-correct-horse`;

  /**
   * A user of the role with the scopes, its password (for the sign-in form) and an API token (for the
   * API-level checks), made through the API as an operator would.
   */
  async function user(id: string, name: string, role: string, scopes: { kind: string; target?: string }[]) {
    await cloud.ok('POST', '/users', { id, name, role, scopes, password: PASSWORD(id) });
    const t = await cloud.ok<{ token: string }>('POST', `/users/${id}/tokens`, { label: `${id} test` });
    tokens[id] = t.token;
  }

  /** A browser context signed in as `id` through the sign-in form (password, or the token exchange). */
  async function signedIn(
    id: string,
    viewport = { width: 1280, height: 900 },
    via: 'password' | 'token' = 'password',
  ): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport });
    const page = await ctx.newPage();
    await page.goto(`${base}/#/fleet`);
    const form = page.getByRole('form', { name: 'Sign in' });
    if (via === 'token') {
      await form.getByRole('button', { name: 'Sign in with an API token' }).click();
      await form.getByLabel('API token').fill(tokens[id] as string);
    } else {
      await form.getByLabel('User').fill(id);
      await form.getByLabel('Password').fill(PASSWORD(id));
    }
    await form.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    return { ctx, page };
  }

  async function noAxeViolations(page: Page, view: string) {
    const v = await accessibilityViolations(page);
    assert.deepEqual(v, [], `${view}: ${JSON.stringify(v, null, 1)}`);
  }

  const sidewaysOverflow = (page: Page) =>
    page.evaluate(() => {
      const w = globalThis as any;
      return w.document.documentElement.scrollWidth - w.innerWidth;
    });

  before(async () => {
    await cloud.start();
    base = cloud.apiUrl.replace('/api/v1', '');
    a = await startSite(cloud, tmp.dir, 'site-a');
    b = await startSite(cloud, tmp.dir, 'site-b');
    await user('olga', 'Olga Operator', 'operator', [{ kind: 'all' }]);
    await user('pia', 'Pia Participant', 'participant', [{ kind: 'site', target: 'site-a' }]);
    await user('vic', 'Vic Viewer', 'viewer', [{ kind: 'site', target: 'site-b' }]);
    // Both sites report every device (the gateways registered them from their capabilities).
    for (const s of ['site-a', 'site-b'])
      await waitUntil(
        `${s} telemetry`,
        async () => {
          const r = await cloud.ok<Latest>('GET', `/sites/${s}/telemetry/latest`);
          return ['pv', 'battery', 'meter'].every((d) => r.some((x) => x.device === d && x.point === 'w')) &&
            r.some((x) => x.point === 'soc_pct')
            ? r
            : undefined;
        },
        60_000,
      );
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await a?.stop();
    await b?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  it('operator: the fleet lists both sites with counts and units; the navigation offers every core view', async () => {
    const { ctx, page } = await signedIn('olga');
    await page.goto(`${base}/#/fleet`);
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
    await page.locator('[data-site="site-a"]').waitFor();
    await page.locator('[data-site="site-b"]').waitFor();
    assert.equal(await page.locator('.site-row[data-site]').count(), 2);
    assert.equal(await page.locator('.count.status-all').textContent(), '2 sites');
    // Each row carries the site's power summary with units (from the fleet API, kept live by events).
    await waitUntil(
      'site-a SoC in its row',
      async () =>
        /^SoC \d+(\.\d)? %$/.test((await page.locator('[data-site="site-a"] .soc').textContent()) ?? '') ||
        undefined,
    );
    const nav = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts();
    for (const v of ['Fleet', 'Audit', 'Users']) assert.ok(nav.includes(v), `nav ${nav}`);
    // Searching narrows the list (the filter travels in the URL, so it is bookmarkable).
    await page.getByLabel('Search').fill('site-b');
    await waitUntil('filtered list', async () =>
      (await page.locator('.site-row[data-site]').count()) === 1 ? true : undefined,
    );
    assert.ok(await page.locator('[data-site="site-b"]').isVisible());
    assert.match(page.url(), /q=site-b/);
    await page.getByLabel('Search').fill('');
    await page.locator('[data-site="site-a"]').waitFor();
    await noAxeViolations(page, 'fleet');
    await screenshot(page, 'fleet');
    await ctx.close();
  });

  it('operator: a site shows its devices with live values and units, four history charts and its commands', async () => {
    // A command first, so the site page has one to show with its lifecycle.
    const sent = await cloud.ok<{ id: string }>('POST', '/sites/site-a/commands', {
      type: 'battery_power',
      device: 'battery',
      w: -1500,
      ttlSeconds: 60,
    });
    const done = await cloud.ok<{ status: string }>('GET', `/commands/${sent.id}?waitMs=20000`);
    assert.equal(done.status, 'acknowledged');
    // The installer's commissioning report (as gridlayer commission --upload stores it).
    await cloud.ok('PUT', '/sites/site-a/commissioning', {
      at: '2026-06-21T09:30:00.000Z',
      endpoint: 'modbus-tcp 192.168.1.50:502',
      unitsScanned: [1, 2, 3],
      devices: [
        {
          unit: 1,
          kind: 'pv',
          manufacturer: 'Acme Solar',
          model: 'PV-8000',
          serial: 'SN-4711',
          firmware: '1.2.3',
          models: [1, 103, 120],
          testWrite: { ok: true, detail: 'WMaxLimPct 100 → 90 → 100, read back' },
          errors: [],
        },
      ],
    });
    const { ctx, page } = await signedIn('olga');
    await page.goto(`${base}/#/fleet`);
    await page.locator('[data-site="site-a"] a').click();
    await page.getByRole('heading', { name: 'site-a', level: 1 }).waitFor();
    // Focus moved to the new view's heading (keyboard and screen-reader users land on the content).
    await waitUntil('focus on the heading', () =>
      page.evaluate(() => (globalThis as any).document.activeElement?.tagName === 'H1' || undefined),
    );
    // The battery's SoC with its unit, as the API has it (the value moves slowly: within 1 %).
    const socCell = page.locator('[data-point="battery.soc_pct"] .value');
    await socCell.waitFor();
    const socText = (await socCell.textContent()) ?? '';
    const m = /^(\d+(?:\.\d)?) %$/.exec(socText);
    assert.ok(m, `SoC shown as "${socText}"`);
    const latest = await cloud.ok<Latest>('GET', '/sites/site-a/telemetry/latest');
    const soc = latest.find((r) => r.device === 'battery' && r.point === 'soc_pct')?.value as number;
    assert.ok(Math.abs(Number(m[1]) - soc) <= 1, `shown ${socText}, API ${soc}`);
    // Power in W/kW, voltage in V, frequency in Hz.
    assert.match(
      (await page.locator('[data-point="pv.w"] .value').textContent()) ?? '',
      /^-?\d+(\.\d+)? k?W$/,
    );
    assert.match((await page.locator('[data-point="meter.v"] .value').textContent()) ?? '', /^\d+\.\d V$/);
    assert.match(
      (await page.locator('[data-point="meter.hz"] .value').textContent()) ?? '',
      /^\d+\.\d\d Hz$/,
    );
    // Charts: power has one series per device that reports w (pv, battery, meter); SoC one (battery).
    const devicesWithW = new Set(latest.filter((r) => r.point === 'w').map((r) => r.device));
    const power = page.locator('[data-chart="w"]');
    await waitUntil('power chart', async () =>
      (await power.getAttribute('data-series')) === String(devicesWithW.size) ? true : undefined,
    );
    const legend = (await power.locator('.u-legend').textContent()) ?? '';
    for (const d of devicesWithW) assert.ok(legend.includes(`${d} (W)`), `legend ${legend}`);
    assert.equal(await page.locator('[data-chart="soc_pct"]').getAttribute('data-series'), '1');
    assert.ok(await page.locator('[data-chart="soc_pct"] canvas').isVisible());
    for (const c of ['v', 'hz'])
      assert.notEqual(await page.locator(`[data-chart="${c}"]`).getAttribute('data-series'), '0');
    // The command with its outcome and the applied value in kW.
    const row = page.locator(`[data-command="${sent.id}"]`);
    await row.waitFor();
    const rowText = (await row.textContent()) ?? '';
    assert.match(rowText, /acknowledged/);
    assert.match(rowText, /battery_power w -1\.50 kW/);
    // The place on the feeder (operators: from the latest power flow); this cloud has no feeder model.
    await page.getByRole('heading', { name: 'Place on the feeder' }).waitFor();
    await page.getByText(/Power flow: .*feeder/).waitFor();
    // Live: a command sent while the page is open shows up and reaches its outcome without a reload
    // (the cloud pushes `command` events over the page's one event stream).
    const live = await cloud.ok<{ id: string }>('POST', '/sites/site-a/commands', {
      type: 'battery_power',
      device: 'battery',
      w: 1200,
      ttlSeconds: 60,
    });
    await page.locator(`[data-command="${live.id}"] .cmd-acknowledged`).waitFor();
    assert.match((await page.locator(`[data-command="${live.id}"]`).textContent()) ?? '', /w 1\.20 kW/);
    const report = page.getByRole('region', { name: 'Devices found at commissioning' });
    await report.waitFor();
    const reportText = (await report.textContent()) ?? '';
    for (const x of [
      'Acme Solar · PV-8000',
      'SN-4711',
      '1.2.3',
      '1, 103, 120',
      'passed: WMaxLimPct 100 → 90 → 100',
    ])
      assert.ok(reportText.includes(x), `report shows "${x}": ${reportText}`);
    assert.ok(
      ((await page.locator('.commissioning p').textContent()) ?? '').includes('2026-06-21 09:30:00Z'),
    );
    await noAxeViolations(page, 'site');
    await screenshot(page, 'site');
    await ctx.close();
  });

  it('participant: sees only its own site; another participant’s site by URL is refused (page and API)', async () => {
    const { ctx, page } = await signedIn('pia');
    await page.goto(`${base}/#/fleet`);
    await page.locator('[data-site="site-a"]').waitFor();
    assert.equal(await page.locator('.site-row[data-site]').count(), 1);
    const nav = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts();
    assert.ok(!nav.includes('Audit') && !nav.includes('Users') && !nav.includes('Network'), `nav ${nav}`);
    // Its own site opens, without the grid operator's power-flow section.
    await page.locator('[data-site="site-a"] a').click();
    await page.locator('[data-point="battery.soc_pct"]').waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Place on the feeder' }).count(), 0);
    await page.goto(`${base}/#/sites/site-b`);
    const refusal = page.locator('.refusal');
    await refusal.waitFor();
    assert.match((await refusal.textContent()) ?? '', /does not exist or is not yours/);
    assert.equal(await page.locator('[data-point]').count(), 0);
    for (const path of ['/sites/site-b', '/sites/site-b/telemetry/latest', '/sites/site-b/devices']) {
      const r = await cloud.api('GET', path, undefined, tokens.pia);
      assert.ok(r.status === 403 || r.status === 404, `${path}: ${r.status}`);
    }
    await noAxeViolations(page, 'site refused');
    await screenshot(page, 'site-refused');
    // The audit view is not in the navigation, and opened by URL the shell says so.
    await page.goto(`${base}/#/audit`);
    await page.getByText('may not open').waitFor();
    await ctx.close();
  });

  it('operator: the audit log lists what the API did, filtered by action', async () => {
    const { ctx, page } = await signedIn('olga');
    await page.goto(`${base}/#/audit`);
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.locator('table.audit tbody tr').first().waitFor();
    const all = (await page.locator('table.audit tbody').textContent()) ?? '';
    for (const action of ['site.create', 'user.create', 'token.create'])
      assert.match(all, new RegExp(action));
    await page.getByLabel('Action').fill('user.create');
    await page.getByRole('button', { name: 'Apply' }).click();
    await waitUntil('filtered audit', async () =>
      (await page.locator('table.audit tbody tr').count()) === 3 ? true : undefined,
    );
    for (const name of ['Olga Operator', 'Pia Participant', 'Vic Viewer'])
      assert.match((await page.locator('table.audit tbody').textContent()) ?? '', new RegExp(name));
    await noAxeViolations(page, 'audit');
    await screenshot(page, 'audit');
    await ctx.close();
  });

  it('operator: users and tokens — create a user who can sign in, issue a token (shown once), revoke it (the API then refuses it)', async () => {
    const { ctx, page } = await signedIn('olga');
    page.on('dialog', (d) => d.accept());
    await page.goto(`${base}/#/users`);
    await page.getByRole('heading', { name: 'Users and tokens' }).waitFor();
    await page.locator('table.users').getByRole('cell', { name: 'Pia Participant', exact: true }).waitFor();
    const form = page.getByRole('form', { name: 'Issue a token' });
    await form.getByLabel('User').selectOption('pia');
    await form.getByLabel('Label').fill('pia phone');
    await form.getByRole('button', { name: 'Issue token' }).click();
    const issued = ((await page.locator('code.token').textContent()) ?? '').trim();
    assert.equal((await cloud.api('GET', '/me', undefined, issued)).status, 200);
    await noAxeViolations(page, 'users');
    await screenshot(page, 'users');
    // A user created through the form with a sign-in id and password can sign in with them.
    const create = page.getByRole('form', { name: 'Create a user' });
    await create.getByLabel('Name').fill('Ian Installer');
    await create.getByLabel('Sign-in id (optional)').fill('ian');
    await create.getByLabel('Password (optional)').fill(PASSWORD('ian'));
    await create.getByLabel('Role').selectOption('installer');
    await create.getByLabel('Scopes').fill('site:site-a');
    await create.getByRole('button', { name: 'Create user' }).click();
    await page.locator('table.users').getByRole('cell', { name: 'Ian Installer', exact: true }).waitFor();
    const ian = await signedIn('ian');
    await ian.page.locator('[data-site="site-a"]').waitFor();
    assert.equal(await ian.page.locator('.site-row[data-site]').count(), 1);
    await ian.ctx.close();
    await page.getByRole('button', { name: 'Revoke token pia phone' }).click();
    await page.getByRole('button', { name: 'Revoke token pia phone' }).waitFor({ state: 'detached' });
    assert.equal((await cloud.api('GET', '/me', undefined, issued)).status, 401);
    await ctx.close();
  });

  it('sign-in: a wrong password is refused inline; a token is exchanged for a session; sign-out ends it', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${base}/`);
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('User').fill('vic');
    await form.getByLabel('Password').fill('not-the-password');
    await form.getByRole('button', { name: 'Sign in', exact: true }).click();
    assert.match((await form.getByRole('alert').textContent()) ?? '', /invalid user or password/);
    await ctx.close();
    // The token exchange: the token goes in the form's body, never in the URL; the session is a cookie.
    const s = await signedIn('vic', undefined, 'token');
    assert.doesNotMatch(s.page.url(), /glt_/);
    const cookies = await s.ctx.cookies();
    const session = cookies.find((c) => c.name === 'gl_session');
    assert.ok(session?.httpOnly, 'gl_session is httpOnly');
    assert.equal(session?.sameSite, 'Strict');
    await s.page.locator('[data-site="site-b"]').waitFor();
    assert.equal(await s.page.locator('.site-row[data-site]').count(), 1);
    await s.page.getByRole('button', { name: 'Sign out' }).click();
    await s.page.getByRole('form', { name: 'Sign in' }).waitFor();
    const me = await s.page.evaluate(async () => (await fetch('/api/v1/me')).status);
    assert.equal(me, 401);
    await s.ctx.close();
  });

  it('a session that ends under the user sends them to sign-in with a message', async () => {
    const { ctx, page } = await signedIn('vic');
    await page.locator('[data-site="site-b"]').waitFor();
    // A new password ends the user's sessions (server-side).
    await cloud.ok('PUT', '/users/vic/password', { password: 'another-long-password' });
    await page.locator('[data-site="site-b"] a').click();
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    assert.match((await page.getByRole('status').textContent()) ?? '', /session has ended/);
    await ctx.close();
  });

  it('phone width (360 px): no sideways scroll on fleet and site, the navigation collapses behind a menu button', async () => {
    const { ctx, page } = await signedIn('olga', { width: 360, height: 740 });
    await page.goto(`${base}/#/fleet`);
    await page.locator('[data-site="site-a"]').waitFor();
    assert.ok(
      (await sidewaysOverflow(page)) <= 0,
      `fleet scrolls sideways by ${await sidewaysOverflow(page)} px`,
    );
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.isVisible(), false);
    const menu = page.getByRole('button', { name: 'Menu' });
    await menu.click();
    assert.equal(await menu.getAttribute('aria-expanded'), 'true');
    assert.ok(await nav.getByRole('link', { name: 'Audit' }).isVisible());
    await screenshot(page, 'fleet-phone');
    await nav.getByRole('link', { name: 'Fleet' }).click();
    await page.goto(`${base}/#/sites/site-a`);
    await page.locator('[data-chart="w"] canvas').waitFor();
    assert.ok(
      (await sidewaysOverflow(page)) <= 0,
      `site scrolls sideways by ${await sidewaysOverflow(page)} px`,
    );
    await noAxeViolations(page, 'site at 360 px');
    await screenshot(page, 'site-phone');
    for (const view of ['audit', 'users']) {
      await page.goto(`${base}/#/${view}`);
      await page.locator('table tbody tr').first().waitFor();
      assert.ok((await sidewaysOverflow(page)) <= 0, `${view} scrolls sideways at 360 px`);
    }
    await ctx.close();
  });

  it('live: a gateway that goes away turns its row offline and raises the alarms badge, without a reload', async () => {
    const { ctx, page } = await signedIn('olga');
    await page.locator('[data-site="site-b"] .status-online').waitFor();
    const badge = page.locator('.alarm-badge');
    assert.match((await badge.textContent()) ?? '', /⚠ 0/);
    let reloads = 0;
    page.on('framenavigated', () => reloads++);
    await b.edge?.stop();
    // Pushed by the cloud (site and alarm events): the row, the badge and the alarm list follow.
    await page.locator('[data-site="site-b"] .status-offline').waitFor({ timeout: 60_000 });
    await page.locator('.alarm-badge.active').waitFor({ timeout: 30_000 });
    assert.match((await badge.textContent()) ?? '', /⚠ 1/);
    await page.locator('table.alarms').getByRole('cell', { name: 'site-b' }).waitFor();
    assert.match((await page.locator('table.alarms').textContent()) ?? '', /offline/);
    // The status counts follow too, and agree with the badge.
    await waitUntil(
      'counts show the offline site',
      async () => (await page.locator('.count.status-offline').textContent()) === '1 offline' || undefined,
    );
    assert.equal(await page.locator('.count.status-online').textContent(), '1 online');
    assert.equal(reloads, 0);
    // The API agrees.
    const summary = await cloud.ok<{ offline: number; alarms: number }>('GET', '/fleet/summary');
    assert.equal(summary.offline, 1);
    await noAxeViolations(page, 'fleet with an alarm');
    await screenshot(page, 'fleet-alarm');
    await b.startEdge();
    await page.locator('[data-site="site-b"] .status-online').waitFor({ timeout: 60_000 });
    await ctx.close();
  });

  it('keyboard: the first Tab reaches “Skip to content”, which moves focus to the view', async () => {
    const { ctx, page } = await signedIn('olga');
    await page.goto(`${base}/#/fleet`);
    await page.locator('[data-site="site-a"]').waitFor();
    await page.keyboard.press('Tab');
    const focused = () =>
      page.evaluate(() => (globalThis as any).document.activeElement?.textContent?.trim());
    assert.equal(await focused(), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement?.id), 'main');
    await ctx.close();
  });
});

describe('operator app: the fleet view at 10,000 sites', function () {
  this.timeout(120_000);
  let t: TestCloud;
  let browser: Browser;
  let base: string;
  const SITES = 10_000;
  const id = (i: number) => `site-${String(i).padStart(5, '0')}`;

  before(async () => {
    t = await startTestCloud();
    base = t.cloud.apiUrl.replace('/api/v1', '');
    const reg = t.cloud.registry;
    await reg.tx(async (db) => {
      for (let i = 1; i <= SITES; i++) await reg.createSite(id(i), { name: `Site ${i}` }, db);
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('keeps a bounded number of rows in the page, reaches the last site by scrolling, searches on the server', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(`${base}/`);
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByRole('button', { name: 'Sign in with an API token' }).click();
    await form.getByLabel('API token').fill(BOOTSTRAP_TOKEN);
    await form.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator(`[data-site="${id(1)}"]`).waitFor();
    const summary = (await t.api<{ total: number }>('GET', '/fleet/summary')).body;
    assert.equal(summary.total, SITES);
    assert.equal(await page.locator('.count.status-all').textContent(), '10,000 sites');
    assert.match((await page.getByText(/sites match$/).textContent()) ?? '', /^10,000 sites match$/);
    const rowsInPage = () => page.locator('.site-row').count();
    assert.ok((await rowsInPage()) < 60, `${await rowsInPage()} rows in the page`);
    // The list has the height of all rows, so the scrollbar is true; the end shows the last site.
    await page.locator('.site-scroller').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.locator(`[data-site="${id(SITES)}"]`).waitFor();
    assert.ok((await rowsInPage()) < 60, `${await rowsInPage()} rows in the page at the end`);
    // Search: the server filters (the page holds no list of all sites to filter).
    const requests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/fleet/sites')) requests.push(r.url());
    });
    await page.getByLabel('Search').fill('site-0999');
    await page.getByText(/^10 sites match$/).waitFor();
    assert.equal(await page.locator('.site-row[data-site]').count(), 10);
    assert.ok(
      requests.some((u) => new URL(u).searchParams.get('q') === 'site-0999'),
      `requests ${requests.join(' ')}`,
    );
    await noAxe(page);
    await screenshot(page, 'fleet-10k');
    await ctx.close();
  });
});

async function noAxe(page: Page) {
  const v = await accessibilityViolations(page);
  assert.deepEqual(v, [], JSON.stringify(v, null, 1));
}
