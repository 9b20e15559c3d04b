/**
 * The operator app's VPP, dispatch, forecast, network and market views in a real browser (Debian's
 * chromium through playwright-core) against a real cloud: fake gateways over MQTT for the VPP (the
 * one-line site physics of test-support/cloud/fake-gateway.ts answer the dispatch's commands), stored
 * telemetry and a forecast run for the forecasts, the IEEE 33-bus feeder for the network, and the
 * market cloud of the market API tests for bids, clearing and settlement. Each test asserts what the
 * page shows against what the API answers for the same question; axe-core runs on every view; a
 * screenshot of each view goes to test-results/screenshots (and docs/img with GRIDLAYER_DOC_SCREENSHOTS=1).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { solarPosition } from '../cloud/forecast/index.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../cloud/market/index.ts';
import { seededRandom } from '../cloud/random.ts';
import type { PointRow } from '../cloud/storage/timeseries/types.ts';
import { capabilitiesSchema } from '../protocols/mqtt/payloads.ts';
import { accessibilityViolations, launchBrowser, screenshot } from '../test-support/browser/browser.ts';
import { FakeGateway, type FakeSiteSpec } from '../test-support/cloud/fake-gateway.ts';
import { BOOTSTRAP_TOKEN, startTestCloud, type TestCloud } from '../test-support/cloud/test-cloud.ts';
import { type MarketCloud, startMarketCloud } from '../test-support/market/market-cloud.ts';
import { daSellOffer, radialFeeder12kV } from '../test-support/market/market-scenario.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const UNTIL = 45_000;
const ALICE_PASSWORD = 'correct horse battery staple';

type Credentials = { token: string } | { user: string; password: string };

/**
 * A browser context signed in through the app's sign-in form (a password, or an API token exchanged
 * once for the session cookie): every request after it carries the cookie and, for changes, the CSRF
 * header, as in use.
 */
async function signedIn(
  browser: Browser,
  base: string,
  cred: Credentials,
  width = 1280,
): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  await page.goto(`${base}/`);
  const form = page.getByRole('form', { name: 'Sign in' });
  if ('token' in cred) {
    await form.getByRole('button', { name: 'Sign in with an API token' }).click();
    await form.getByLabel('API token').fill(cred.token);
  } else {
    await form.getByLabel('User').fill(cred.user);
    await form.getByLabel('Password').fill(cred.password);
  }
  await form.getByRole('button', { name: 'Sign in', exact: true }).click();
  // Signed in once the session's cookies are set (at phone width the navigation sits behind a menu button).
  await page.waitForFunction(() => (globalThis as any).document.cookie.includes('gl_csrf'));
  const cookies = (await ctx.cookies()).map((c) => c.name);
  assert.ok(cookies.includes('gl_session') && cookies.includes('gl_csrf'), `cookies ${cookies}`);
  await page.close();
  return ctx;
}

async function axeClean(page: Page, view: string): Promise<void> {
  const v = await accessibilityViolations(page);
  assert.deepEqual(v, [], `${view}: ${JSON.stringify(v, null, 1)}`);
}

async function noSidewaysScroll(page: Page, view: string): Promise<void> {
  const overflow = await page.evaluate(() => {
    const w = globalThis as any;
    return w.document.documentElement.scrollWidth - w.innerWidth;
  });
  assert.ok(overflow <= 0, `${view} scrolls sideways by ${overflow} px`);
}

const kwText = (w: number) => `${(w / 1000).toFixed(1)} kW`;

describe('operator app views in a real browser', function () {
  this.timeout(180_000);
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => browser?.close());

  describe('VPPs, dispatch, forecasts and the network (real cloud, fake gateways)', () => {
    let t: TestCloud;
    let base: string;
    const gw: Record<string, FakeGateway> = {};
    const SPECS: FakeSiteSpec[] = [
      { site: 'vpp-a', loadW: 1000, pvAvailableW: 3000, batteryDefaultW: 0, socPct: 50 },
      { site: 'vpp-b', loadW: 500, pvAvailableW: 0, batteryDefaultW: -1000, socPct: 80 },
    ];
    const LOC = { latitude: 48.1, longitude: 11.6 };
    const STEP = 15 * 60_000;
    const issue = Math.floor(Date.now() / STEP) * STEP;
    let dispatchId = '';

    before(async () => {
      t = await startTestCloud({
        vpp: { loopMs: 200, commandTtlS: 2, staleMs: 2000, settleMs: 1000, baselineMinutes: 0.05 },
        forecast: { enabled: false, location: LOC, timeZone: 'UTC', everyMinutes: 60 },
        // The IEEE 33-bus base case sags to 0.913 pu at bus 18: limits of ±10 % leave room to dispatch.
        network: {
          feeder: {
            dir: join(root, 'cloud/network/feeders/ieee33'),
            baseKv: 12.66,
            vminPu: 0.9,
            vmaxPu: 1.1,
          },
        },
      });
      base = t.cloud.apiUrl.replace('/api/v1', '');
      const url = `mqtt://127.0.0.1:${t.cloud.broker.tcp}`;
      for (const [i, spec] of SPECS.entries()) {
        const r = await t.api<{ gateway: { password: string } }>('POST', '/sites', {
          body: { id: spec.site },
        });
        assert.equal(r.status, 201);
        gw[spec.site] = await FakeGateway.start(url, r.body.gateway.password, spec, 100);
        // On the feeder: vpp-a at bus 18 (end of the main trunk), vpp-b at bus 33.
        const placed = await t.api('PATCH', `/sites/${spec.site}`, {
          body: { feeder: 'ieee33', node: i === 0 ? '18' : '33' },
        });
        assert.equal(placed.status, 200, JSON.stringify(placed.body));
      }
      // Two hours of history at the VPP's sites as their gateways would have sent it (default mode).
      const past: PointRow[] = [];
      const now = Date.now();
      for (let ts = now - 2 * HOUR_MS; ts < now - 10_000; ts += 60_000)
        for (const sp of SPECS) {
          const bat = sp.batteryDefaultW;
          const meter = sp.pvAvailableW + bat - sp.loadW;
          past.push({ site: sp.site, device: 'pv1', point: 'w', ts, value: sp.pvAvailableW });
          past.push({ site: sp.site, device: 'bat1', point: 'w', ts, value: bat });
          past.push({ site: sp.site, device: 'm1', point: 'w', ts, value: meter });
        }
      await t.cloud.store.write(past);
      // A site with three weeks of stored telemetry (PV and a load with an evening peak) and a forecast run.
      assert.equal((await t.api('POST', '/sites', { body: { id: 'home-1' } })).status, 201);
      await t.cloud.registry.applyCapabilities(
        capabilitiesSchema.parse({
          v: 1,
          site: 'home-1',
          ts: Date.now(),
          devices: [
            {
              id: 'inv1',
              kind: 'inverter',
              protocol: 'sunspec-tcp',
              nameplate: { w_max: 5000 },
              controls: [],
            },
            { id: 'm1', kind: 'meter', protocol: 'sunspec-tcp', nameplate: {}, controls: [] },
          ],
        }),
      );
      const rows: PointRow[] = [];
      const noise = seededRandom(7);
      for (let ts = issue - 21 * DAY_MS; ts < issue; ts += 5 * 60_000) {
        const pv = 4000 * Math.max(0, Math.cos((solarPosition(ts, LOC).zenith * Math.PI) / 180));
        const h = (ts % DAY_MS) / HOUR_MS;
        const load = 400 + 900 * Math.exp(-(((h - 19) / 2) ** 2)) + 250 * (noise() - 0.5);
        rows.push({ site: 'home-1', device: 'inv1', point: 'w', ts, value: pv });
        rows.push({ site: 'home-1', device: 'm1', point: 'w', ts, value: pv - load });
      }
      await t.cloud.store.write(rows);
      await t.cloud.forecasts.runNow({ issueTime: issue });
      // A little live history for the baseline.
      await new Promise((r) => setTimeout(r, 1500));
    });
    after(async () => {
      for (const g of Object.values(gw)) await g.stop().catch(() => undefined);
      await t?.stop();
    });

    it('creates a VPP through the form and shows its aggregate and envelope', async () => {
      const ctx = await signedIn(browser, base, { token: BOOTSTRAP_TOKEN });
      const page = await ctx.newPage();
      await page.goto(`${base}/#/vpps`);
      await page.getByText('No VPP yet').waitFor();
      await axeClean(page, 'vpps');
      await screenshot(page, 'vpps');
      const form = page.getByRole('form', { name: 'Create a VPP' });
      await form.getByLabel('Id').fill('vpp-app');
      await form.getByLabel('Name').fill('App VPP');
      await form.getByLabel('Sites (comma or space separated)').fill('vpp-a, vpp-b');
      await form.getByRole('button', { name: 'Create VPP' }).click();
      await page.getByRole('heading', { name: 'App VPP (vpp-app)' }).waitFor();
      assert.equal(new URL(page.url()).hash, '#/vpps/vpp-app');
      const g = await t.api<{ sites: string[]; kind: string }>('GET', '/groups/vpp-app');
      assert.deepEqual(g.body.sites.sort(), ['vpp-a', 'vpp-b']);
      assert.equal(g.body.kind, 'vpp');
      // The aggregate card shows the API's aggregate: sites and the meters' total (constant in default
      // mode: meter = pv + battery − load = (3000 + 0 − 1000) + (0 − 1000 − 500) = 500 W).
      const agg = await t.api<{ meterW: number; sitesOnline: number; sites: number }>(
        'GET',
        '/vpps/vpp-app/aggregate',
      );
      assert.equal(agg.body.meterW, 500);
      assert.equal(agg.body.sites, 2);
      const figure = (name: string) => page.locator(`dt:text-is("${name}") + dd`);
      await figure('At the meters (export +)')
        .filter({ hasText: kwText(500) })
        .waitFor();
      assert.equal(await figure('Sites online').textContent(), `${agg.body.sitesOnline} / 2`);
      // The history by device kind: the meters' series is in the chart's legend.
      await page.getByRole('img', { name: 'Aggregate power by device kind' }).waitFor();
      await page.locator('.u-legend').getByText('At the meters (export +) (W)').waitFor();
      await page.getByRole('heading', { name: 'Flexibility envelope' }).waitFor();
      await page.getByRole('img', { name: 'Flexibility envelope' }).waitFor();
      await axeClean(page, 'vpp');
      await screenshot(page, 'vpp');
      await ctx.close();
    });

    it('previews an infeasible dispatch with the API’s reasons, then dispatches one and shows delivered following target', async () => {
      const ctx = await signedIn(browser, base, { token: BOOTSTRAP_TOKEN });
      const page = await ctx.newPage();
      await page.goto(`${base}/#/vpps/vpp-app`);
      const form = page.getByRole('form', { name: 'Dispatch' });
      await form.getByLabel('Power (kW, export +)').fill('50');
      await form.getByRole('button', { name: 'Check feasibility' }).click();
      const preview = form.getByRole('region', { name: 'Feasibility preview' });
      await preview.getByRole('heading', { name: 'Infeasible', exact: true }).waitFor();
      // The same question to the API: the page lists exactly its reasons.
      const api = await t.api<{ accepted: boolean; feasibility: { reasons: string[] } }>(
        'POST',
        '/dispatches/preview',
        { body: { group: 'vpp-app', target: { kind: 'change', w: 50_000 }, end: Date.now() + 900_000 } },
      );
      assert.equal(api.body.accepted, false);
      assert.ok(api.body.feasibility.reasons.some((r) => /device limits/.test(r)));
      assert.deepEqual(
        await preview.locator('ul.reasons li').allTextContents(),
        api.body.feasibility.reasons,
      );
      await screenshot(page, 'dispatch-preview');

      // 2 kW more export than the baseline: the batteries can do it (5 kW each).
      await form.getByLabel('Power (kW, export +)').fill('2');
      await form.getByLabel('Performance interval (s)').fill('2');
      await form.getByRole('button', { name: 'Check feasibility' }).click();
      await preview.getByRole('heading', { name: 'Feasible', exact: true }).waitFor();
      await form.getByRole('button', { name: 'Dispatch now' }).click();
      const refused = form.getByRole('alert');
      await Promise.race([
        page.waitForFunction(() => (globalThis as any).location.hash.startsWith('#/dispatches/')),
        refused.waitFor().then(async () => assert.fail(`dispatch refused: ${await refused.textContent()}`)),
      ]);
      const id = decodeURIComponent(new URL(page.url()).hash.replace('#/dispatches/', ''));
      dispatchId = id;
      await page.getByRole('heading', { name: `Dispatch ${id}` }).waitFor();
      const d = await t.api<{ targetMeterW: number; baseline: { w: number } }>('GET', `/dispatches/${id}`);
      assert.equal(d.body.targetMeterW, d.body.baseline.w + 2000);
      // Delivered follows target: the page's latest interval shows them within 0.2 kW.
      await page.waitForFunction(
        () => {
          const el = (globalThis as any).document.querySelector('[data-testid="dispatch-last"]');
          const m = /target (-?[\d.]+) kW, delivered (-?[\d.]+) kW/.exec(el?.textContent ?? '');
          return m !== null && Math.abs(Number(m[1]) - Number(m[2])) <= 0.2;
        },
        undefined,
        { timeout: UNTIL, polling: 250 },
      );
      const [, target, delivered] = /target (-?[\d.]+) kW, delivered (-?[\d.]+) kW/.exec(
        (await page.getByTestId('dispatch-last').textContent()) ?? '',
      ) as RegExpExecArray;
      assert.equal(target, (d.body.targetMeterW / 1000).toFixed(1));
      assert.ok(Math.abs(Number(delivered) - Number(target)) <= 0.2);
      // The fake meters agree with what the page says was delivered.
      const meters = SPECS.reduce((a, s) => a + gw[s.site].values().meter, 0);
      assert.ok(Math.abs(meters - d.body.targetMeterW) <= 200, `meters ${meters} vs ${d.body.targetMeterW}`);
      // Per-device setpoints: both batteries carry a setpoint that the page shows as the API has it.
      const full = await t.api<{ devices: { site: string; id: string; setpointW?: number }[] }>(
        'GET',
        `/dispatches/${id}`,
      );
      const devices = page.getByRole('table', { name: 'Devices in the dispatch' });
      for (const s of ['vpp-a', 'vpp-b']) {
        const row = devices
          .locator('tr', { has: page.getByRole('link', { name: s }) })
          .filter({ hasText: 'bat1' });
        await row.waitFor();
        const sp = full.body.devices.find((x) => x.site === s && x.id === 'bat1')?.setpointW;
        assert.ok(sp !== undefined, `no setpoint for ${s}/bat1`);
      }
      await page.getByRole('img', { name: 'Target vs delivered per interval' }).waitFor();
      await axeClean(page, 'dispatch');
      await screenshot(page, 'dispatch');
      // Cancel: the page says so, the API agrees.
      await page.getByRole('button', { name: 'Cancel dispatch' }).click();
      await page.getByTestId('dispatch-status').filter({ hasText: 'cancelled' }).waitFor();
      assert.equal((await t.api<{ status: string }>('GET', `/dispatches/${id}`)).body.status, 'cancelled');
      assert.equal(await page.getByRole('button', { name: 'Cancel dispatch' }).count(), 0);
      await ctx.close();
    });

    it('shows a site forecast with its band against the actuals, and a group’s availability', async () => {
      const ctx = await signedIn(browser, base, { token: BOOTSTRAP_TOKEN });
      const page = await ctx.newPage();
      await page.goto(`${base}/#/forecasts?site=home-1&kind=load`);
      const f = await t.api<{ issuedAt: number; modelVersion: string }>(
        'GET',
        '/sites/home-1/forecast?kind=load',
      );
      assert.equal(f.status, 200);
      const issued = new Date(f.body.issuedAt).toISOString().replace('T', ' ').slice(0, 16);
      await page.getByText(`Issued ${issued}Z by model ${f.body.modelVersion}`).waitFor();
      await page.getByRole('img', { name: 'load forecast with P10–P90 band' }).waitFor();
      // The actuals series is in the chart's legend (uPlot renders one per series).
      await page.locator('.u-legend').getByText('Actual (W)').waitFor();
      await page.getByRole('heading', { name: 'Scores against actuals' }).waitFor();
      await axeClean(page, 'forecasts');
      await screenshot(page, 'forecasts');
      // Switching to PV through the selector.
      await page.locator('label:has-text("Forecast") select').selectOption('pv');
      await page.getByRole('img', { name: 'pv forecast with P10–P90 band' }).waitFor();
      // A group: its availability of flexibility (the envelope) per interval.
      await page.goto(`${base}/#/forecasts?group=vpp-app&kind=availability`);
      await page.getByRole('heading', { name: 'Availability of flexibility: group vpp-app' }).waitFor();
      await page.getByRole('img', { name: 'Availability of flexibility' }).waitFor();
      await axeClean(page, 'forecasts-availability');
      await ctx.close();
    });

    it('draws the feeder coloured by the power flow, with the sites on their buses', async () => {
      const pf = await t.api<{
        result: { buses: { bus: string; v_pu: number }[]; branches: unknown[] };
        sites: { site: string; bus: string }[];
      }>('GET', '/network/powerflow');
      assert.equal(pf.status, 200, JSON.stringify(pf.body));
      assert.equal(pf.body.result.buses.length, 33);
      const ctx = await signedIn(browser, base, { token: BOOTSTRAP_TOKEN });
      const page = await ctx.newPage();
      await page.goto(`${base}/#/network`);
      await page.getByRole('heading', { name: 'Feeder ieee33' }).waitFor();
      const svg = page.getByRole('img', { name: /One-line diagram of feeder ieee33: 33 buses/ });
      await svg.waitFor();
      assert.equal(await svg.locator('circle').count(), 33);
      assert.equal(await svg.locator('path').count(), pf.body.result.branches.length);
      // The bus table carries the power flow's voltages (the diagram's colours come from them).
      await page.getByText('Buses and branches as tables').click();
      const table = page.getByRole('table', { name: 'Bus voltages' });
      for (const b of pf.body.result.buses.filter((x) => ['1', '18', '33'].includes(String(x.bus)))) {
        const row = table.locator('tr', { has: page.locator(`td:text-is("${b.bus}")`) });
        assert.equal(await row.locator('td').nth(1).textContent(), b.v_pu.toFixed(4));
      }
      const at18 = table.locator('tr', { has: page.locator('td:text-is("18")') });
      assert.equal(await at18.locator('td').nth(2).textContent(), 'vpp-a');
      // The ringed (site) buses' tooltips name their sites.
      assert.equal(await svg.locator('circle title', { hasText: 'sites vpp-a' }).count(), 1);
      await axeClean(page, 'network');
      await screenshot(page, 'network');
      await ctx.close();
    });

    it('a participant reaches neither the VPP, its dispatch nor its forecasts by URL, only its own site', async () => {
      assert.ok(dispatchId, 'the dispatch test ran first');
      const u = await t.api<{ id: string }>('POST', '/users', {
        body: {
          name: 'pia',
          role: 'participant',
          scopes: [{ kind: 'site', target: 'home-1' }],
          password: 'pia-password-123',
        },
      });
      assert.equal(u.status, 201, JSON.stringify(u.body));
      const ctx = await signedIn(browser, base, { user: u.body.id, password: 'pia-password-123' });
      const page = await ctx.newPage();
      await page.goto(`${base}/#/vpps/vpp-app`);
      await page.getByRole('alert').filter({ hasText: 'may not open “vpps”' }).waitFor();
      assert.equal(await page.getByText('App VPP').count(), 0);
      // The dispatch and the group forecast: the API refuses, the page shows its text and nothing else.
      for (const [hash, path] of [
        [`#/dispatches/${dispatchId}`, `/dispatches/${dispatchId}`],
        ['#/forecasts?group=vpp-app&kind=load', '/groups/vpp-app/forecast?kind=load'],
      ]) {
        const token = (await t.api<{ token: string }>('POST', `/users/${u.body.id}/tokens`, { body: {} }))
          .body.token;
        const api = await t.api<{ error: string }>('GET', path, { token });
        assert.ok(api.status === 403 || api.status === 404, `${path}: ${api.status}`);
        await page.goto(`${base}/${hash}`);
        await page.getByRole('alert').filter({ hasText: api.body.error }).first().waitFor();
        assert.equal(await page.getByRole('img').count(), 0, `${hash} shows a chart`);
      }
      // Its own site's forecast it sees.
      await page.goto(`${base}/#/forecasts?site=home-1&kind=pv`);
      await page.getByRole('img', { name: 'pv forecast with P10–P90 band' }).waitFor();
      await ctx.close();
    });

    it('fits a phone: the VPP and network views do not scroll sideways at 400 px', async () => {
      const ctx = await signedIn(browser, base, { token: BOOTSTRAP_TOKEN }, 400);
      const page = await ctx.newPage();
      for (const [hash, heading] of [
        ['#/vpps/vpp-app', 'App VPP (vpp-app)'],
        ['#/network', 'Feeder ieee33'],
        ['#/forecasts?site=home-1&kind=load', 'Scores against actuals'],
      ]) {
        await page.goto(`${base}/${hash}`);
        await page.getByRole('heading', { name: heading }).waitFor();
        await noSidewaysScroll(page, hash);
      }
      await ctx.close();
    });
  });

  describe('the market: a participant bids, the DMO clears and settles, the DGO screens', () => {
    let mc: MarketCloud;
    let base: string;
    const dayStart = Date.UTC(2030, 0, 2);
    const noon = dayStart + 12 * HOUR_MS;

    before(async () => {
      mc = await startMarketCloud({
        clock: dayStart - DAY_MS,
        market: {
          model: 4,
          actors: [
            { id: 'iso', kind: 'iso', users: [] },
            { id: 'utility', kind: 'utility', users: ['uma'] },
            { id: 'dso', kind: 'independent_dso', users: ['dora'] },
            { id: 'sunco', kind: 'producer', users: ['alice'] },
            { id: 'battco', kind: 'producer', users: ['bob'] },
          ],
        },
        feeder: radialFeeder12kV,
        site: 'site-a',
        registrar: 'uma',
        resources: [
          // Linked to the fake gateway's devices: real-time awards and emergency dispatches go there.
          {
            id: 'pv-a',
            owner: 'sunco',
            kind: 'pv',
            bus: '1',
            max_inject_w: 30000,
            max_withdraw_w: 0,
            site: 'site-a',
            device: 'inv1',
          },
          {
            id: 'bat-b',
            owner: 'battco',
            kind: 'battery',
            bus: '2',
            max_inject_w: 10000,
            max_withdraw_w: 10000,
            energy_wh: 40000,
            soc0_wh: 20000,
            site: 'site-a',
            device: 'bat1',
          },
        ],
        certify: ['pv-a', 'bat-b'],
      });
      base = mc.t.cloud.apiUrl.replace('/api/v1', '');
      // Alice signs in with a password; the others exchange their API tokens in the form.
      const pw = await mc.t.api('PUT', '/users/alice/password', { body: { password: ALICE_PASSWORD } });
      assert.equal(pw.status, 200, JSON.stringify(pw.body));
    });
    after(async () => mc?.stop());

    it('a participant submits, modifies and sees the clear refusal of a bad bid inline; sees only its own bids', async () => {
      // Bob's bid, which Alice must not see.
      const bobs = await mc.t.api('POST', '/market/bids', {
        ...mc.as('bob'),
        body: {
          ...daSellOffer('bat-b', dayStart + 3 * HOUR_MS, 5000, 200, { product: 'energy' }),
          side: 'buy',
          id: 'bob-night',
        },
      });
      assert.equal(bobs.status, 201, JSON.stringify(bobs.body));
      const ctx = await signedIn(browser, base, { user: 'alice', password: ALICE_PASSWORD });
      const page = await ctx.newPage();
      await page.goto(`${base}/#/market`);
      await page.getByRole('heading', { name: /^Market/ }).waitFor();
      // Organization and gates on the market clock.
      const roles = page.getByRole('table', { name: 'Roles' });
      assert.equal(await roles.locator('tr', { hasText: 'DMO' }).locator('td').nth(1).textContent(), 'dso');
      assert.equal(
        await page.getByRole('table', { name: 'You act for' }).locator('tbody td').first().textContent(),
        'sunco',
      );
      const gates = page.getByRole('table', { name: 'Gate state' });
      const tomorrow = gates.locator('tr', { hasText: '2030-01-02' }).first();
      assert.equal(await tomorrow.locator('td').nth(3).textContent(), 'open');
      const todayRow = gates.locator('tr', { hasText: '2030-01-01' }).first();
      assert.equal(await todayRow.locator('td').nth(3).textContent(), 'closed');
      await page.getByText('No live bids.').waitFor();

      const form = page.getByRole('form', { name: 'Submit a bid' });
      // The interval defaults to noon of the first delivery day whose gate is open.
      assert.equal(await form.getByLabel('Interval start (UTC)').inputValue(), '2030-01-02T12:00');
      await form.getByLabel('Resource').selectOption('pv-a');
      await form.getByLabel('Curve: one step a line, kW @ $/MWh').fill('20 @ 10');
      await form.getByRole('button', { name: 'Submit bid' }).click();
      await form
        .getByRole('status')
        .filter({ hasText: /Bid .+ accepted for sunco\./ })
        .waitFor();
      const bids = page.getByRole('table', { name: 'Your bids' });
      await bids.getByText('20 @ 10').waitFor();
      const mine = await mc.t.api<{ id: string; steps: { quantity_w: number; price_per_mwh: number }[] }[]>(
        'GET',
        '/market/bids',
        mc.as('alice'),
      );
      assert.equal(mine.body.length, 1);
      assert.deepEqual(mine.body[0].steps, [{ quantity_w: 20000, price_per_mwh: 10 }]);
      assert.equal(await bids.getByText('bob-night').count(), 0);

      // A non-monotone offer: the API's refusal text, shown inline where it was submitted.
      const badSteps = [
        { quantity_w: 5000, price_per_mwh: 30 },
        { quantity_w: 5000, price_per_mwh: 20 },
      ];
      const refusal = await mc.t.api<{ error: string; code: string }>('POST', '/market/bids', {
        ...mc.as('alice'),
        body: { ...daSellOffer('pv-a', noon + HOUR_MS, 0, 0, { product: 'energy' }), steps: badSteps },
      });
      assert.equal(refusal.body.code, 'NON_MONOTONE');
      await form.getByLabel('Interval start (UTC)').fill('2030-01-02T13:00');
      await form.getByLabel('Curve: one step a line, kW @ $/MWh').fill('5 @ 30\n5 @ 20');
      await form.getByRole('button', { name: 'Submit bid' }).click();
      const shown = page.locator('#bid-refusal');
      await shown.waitFor();
      assert.equal(await shown.textContent(), refusal.body.error);
      assert.match((await shown.textContent()) ?? '', /offer prices must not decrease/);
      assert.equal((await mc.t.api<unknown[]>('GET', '/market/bids', mc.as('alice'))).body.length, 1);

      // Modify the accepted bid's curve in place.
      const row = bids.locator('tr', { hasText: mine.body[0].id });
      await row.getByRole('button', { name: 'Modify' }).click();
      await row.getByLabel(`Curve of bid ${mine.body[0].id}`).fill('15 @ 8\n5 @ 12');
      await row.getByRole('button', { name: 'Save curve' }).click();
      await bids.getByText('15 @ 8').waitFor();
      const after = await mc.t.api<{ steps: unknown[] }[]>('GET', '/market/bids', mc.as('alice'));
      assert.deepEqual(after.body[0].steps, [
        { quantity_w: 15000, price_per_mwh: 8 },
        { quantity_w: 5000, price_per_mwh: 12 },
      ]);
      // A participant has no clearing runs or DGO sections, and its awards are its own.
      assert.equal(await page.getByRole('heading', { name: 'Clearing runs' }).count(), 0);
      assert.equal(await page.getByRole('heading', { name: 'Emergency dispatch' }).count(), 0);
      await page.getByRole('heading', { name: 'Your awards' }).waitFor();
      await axeClean(page, 'market-participant');
      await screenshot(page, 'market-participant');
      await ctx.close();
    });

    it('the DMO sees the clearing (prices, T-D bid and ISO result), the DLMPs and balanced settlements with a CSV per participant', async () => {
      mc.setClock(dayStart - 12 * HOUR_MS); // the gate closes
      const run = await mc.t.api<{ runId: string; lmp: number[]; importW: number[]; balanced: boolean }>(
        'POST',
        '/market/clearing/da',
        { ...mc.as('dora'), body: { dayStart, loadForecastW: { '2': Array(24).fill(15000) } } },
      );
      assert.equal(run.status, 200, JSON.stringify(run.body));
      const ctx = await signedIn(browser, base, { token: mc.tok.dora });
      const page = await ctx.newPage();
      await page.goto(`${base}/#/market`);
      await page.getByRole('heading', { name: 'Clearing runs' }).waitFor();
      await page
        .getByTestId('run-summary')
        .filter({ hasText: `DA run ${run.body.runId}` })
        .waitFor();
      assert.match((await page.getByTestId('run-summary').textContent()) ?? '', /books balanced/);
      const hours = page.getByRole('table', { name: /T-D bid sent to the ISO/ });
      const h12 = hours.locator('tbody tr').nth(12);
      assert.equal(await h12.locator('td').nth(0).textContent(), '12:00Z');
      assert.equal(await h12.locator('td').nth(1).textContent(), run.body.lmp[12].toFixed(2));
      assert.equal(await h12.locator('td').nth(3).textContent(), kwText(run.body.importW[12]));
      // The T-D curve of the hour: as many steps as the run's summary holds (the page counts them).
      const runs = await mc.t.api<{ id: string; summary: { tdCurve: unknown[][] } }[]>(
        'GET',
        '/market/runs?market=DA',
        mc.as('dora'),
      );
      const td = runs.body.find((r) => r.id === run.body.runId)?.summary.tdCurve[12] ?? [];
      assert.ok(td.length > 0);
      assert.equal(await h12.locator('td').nth(2).locator('summary').textContent(), `${td.length} steps`);
      // The DMO does not bid: no bid book for it.
      assert.equal(await page.getByRole('form', { name: 'Submit a bid' }).count(), 0);
      await page.getByRole('img', { name: 'Prices per hour' }).waitFor();

      // DLMPs: the latest DA interval's bus prices and components as the API publishes them.
      const prices = await mc.t.api<
        { bus: string; intervalStart: number; dlmp: number; congestion: number }[]
      >('GET', '/market/prices?market=DA', mc.as('dora'));
      const last = Math.max(...prices.body.map((p) => p.intervalStart));
      const dlmps = page.getByRole('table', { name: 'DLMPs by bus' });
      for (const p of prices.body.filter((x) => x.intervalStart === last)) {
        const r = dlmps.locator('tr', { has: page.locator(`td:text-is("${p.bus}")`) });
        assert.equal(await r.locator('td').nth(1).textContent(), p.dlmp.toFixed(2));
        assert.equal(await r.locator('td').nth(4).textContent(), p.congestion.toFixed(2));
      }

      // Settlements: the books balance; each participant's net as the API totals it; the CSV has its lines.
      const s = await mc.t.api<{
        totals: Record<string, { net: number }>;
        entries: { from: string; to: string; cents: number }[];
        books: unknown[];
      }>('GET', '/market/settlements?all=true', mc.as('dora'));
      await page
        .getByTestId('books')
        .filter({ hasText: `Books balance over ${s.body.books.length} periods.` })
        .waitFor();
      const totals = page.getByRole('table', { name: 'Totals per participant' });
      const net = s.body.totals.sunco.net;
      assert.ok(net > 0, 'the PV seller is paid');
      assert.equal(
        await totals
          .locator('tr', { has: page.locator('td:text-is("sunco")') })
          .locator('td')
          .nth(1)
          .textContent(),
        `$${(net / 100).toFixed(2)}`,
      );
      await page.locator('label:has-text("Statement of") select').selectOption('sunco');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download CSV' }).click(),
      ]);
      assert.equal(download.suggestedFilename(), 'settlement-sunco.csv');
      const csv = readFileSync((await download.path()) as string, 'utf8')
        .trim()
        .split('\n');
      const lines = s.body.entries.filter((e) => e.from === 'sunco' || e.to === 'sunco');
      assert.equal(csv[0], 'period_utc,kind,from,to,cents,signed_cents_for_account,ref');
      assert.equal(csv.length - 1, lines.length);
      const signedSum = csv.slice(1).reduce((a, l) => a + Number(l.split(',')[5]), 0);
      assert.equal(signedSum, net);
      await axeClean(page, 'market-dmo');
      await screenshot(page, 'market-dmo');
      await ctx.close();

      // Alice now sees her award and her own statement only.
      const actx = await signedIn(browser, base, { user: 'alice', password: ALICE_PASSWORD });
      const ap = await actx.newPage();
      await ap.goto(`${base}/#/market`);
      const awards = ap.getByRole('table', { name: 'Awards' });
      await awards.locator('tr', { hasText: 'pv-a' }).first().waitFor();
      assert.equal(await awards.getByText('bat-b').count(), 0);
      const mineTotals = ap.getByRole('table', { name: 'Totals per participant' });
      assert.deepEqual(await mineTotals.locator('tbody td:first-child').allTextContents(), ['sunco']);
      await actx.close();
    });

    it('the DGO sees the screening of real-time awards and sends an emergency dispatch', async () => {
      // One real-time interval cleared by the DMO: bob offers 6 kW of discharge, alice's DA curve carries over.
      const rtStart = noon + 2 * RT_INTERVAL_MS;
      const rtBid = await mc.t.api('POST', '/market/bids', {
        ...mc.as('bob'),
        body: {
          resource: 'bat-b',
          market: 'RT',
          product: 'energy',
          side: 'sell',
          interval_start: rtStart,
          steps: [{ quantity_w: 6000, price_per_mwh: 5 }],
        },
      });
      assert.equal(rtBid.status, 201, JSON.stringify(rtBid.body));
      mc.setClock(rtStart - RT_INTERVAL_MS); // the RT gate closes
      const rt = await mc.t.api('POST', '/market/clearing/rt', {
        ...mc.as('dora'),
        body: { intervalStart: rtStart, interfacePrice: 40, loadForecastW: { '2': 16000 } },
      });
      assert.equal(rt.status, 200, JSON.stringify(rt.body));
      const screening = await mc.t.api<
        { resource: string; awardW: number; screenedW: number; status: string }[]
      >('GET', '/market/dgo/screening', mc.as('uma'));
      assert.equal(screening.body.length, 2);

      const ctx = await signedIn(browser, base, { token: mc.tok.uma });
      const page = await ctx.newPage();
      await page.goto(`${base}/#/market`);
      await page.getByRole('heading', { name: 'DGO screening of real-time awards' }).waitFor();
      const table = page.getByRole('table', { name: 'Screening outcomes' });
      await table.waitFor();
      for (const x of screening.body) {
        const row = table.locator('tr', { has: page.locator(`td:text-is("${x.resource}")`) });
        assert.equal(await row.locator('td').nth(3).textContent(), kwText(x.awardW));
        assert.equal(await row.locator('td').nth(4).textContent(), kwText(x.screenedW));
        assert.match((await row.locator('td').nth(5).textContent()) ?? '', new RegExp(`^${x.status}`));
      }
      const curtailed = screening.body.filter((x) => x.screenedW !== x.awardW).length;
      await page.getByText(`${screening.body.length} awards screened, ${curtailed} curtailed.`).waitFor();

      const form = page.getByRole('form', { name: 'Emergency dispatch' });
      await form.getByLabel('Resource').selectOption('bat-b');
      await form.getByLabel('Power (kW, + = inject)').fill('-2');
      await form.getByLabel('Reason').fill('feeder overload drill');
      await form.getByRole('button', { name: 'Send emergency dispatch' }).click();
      await form
        .getByRole('status')
        .filter({ hasText: /^Command .+ sent to bat-b\.$/ })
        .waitFor();
      // The command reached the site's gateway as the API recorded it; the page lists it from the audit log.
      const audit = await mc.t.api<
        { target: string; detail: { w: number; reason: string; command: string } }[]
      >('GET', '/audit?action=market.dgo.emergency');
      assert.equal(audit.body.length, 1);
      assert.equal(audit.body[0].detail.w, -2000);
      const cmd = await mc.t.api<{
        siteId: string;
        deviceId: string;
        issuedBy: string;
        command: { w: number };
      }>('GET', `/commands/${audit.body[0].detail.command}`);
      assert.equal(cmd.body.siteId, 'site-a');
      assert.equal(cmd.body.deviceId, 'bat1');
      assert.equal(cmd.body.command.w, -2000);
      assert.equal(cmd.body.issuedBy, 'market:DGO:utility');
      const history = form.getByRole('table', { name: 'Emergency dispatches' });
      const row = history.locator('tr', { hasText: 'feeder overload drill' });
      await row.waitFor();
      assert.equal(await row.locator('td').nth(1).textContent(), 'bat-b');
      assert.equal(await row.locator('td').nth(2).textContent(), kwText(-2000));
      await axeClean(page, 'market-dgo');
      await screenshot(page, 'market-dgo');
      await ctx.close();
    });
  });
});
