import assert from 'node:assert/strict';
import { FakeGateway, type FakeSiteSpec } from '../../test-support/cloud/fake-gateway.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { battery } from '../../test-support/market/market-scenario.ts';
import type { MarketSettingsInput } from '../market/index.ts';
import type { Dispatch } from '../vpp/dispatch.ts';

/**
 * Every control path checks the same rules (cloud/control-rules.ts, the market's checkControl): a
 * market award, a VPP dispatch and a direct command (/sites/:site/commands) to a DER that is a market
 * resource reach the field only if the resource is certified (interconnection), the organizational
 * model lets the sender control it (no DERM in the P2P models 5 and 6) and the sender acts for the
 * role (the DERM's users). The refusal codes are the market's, on every path. Real cloud, fake
 * gateways over MQTT, real HTTP.
 */

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await fn();
  while (!ok(v)) {
    if (Date.now() > end) assert.fail(`condition not met; last value: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 50));
    v = await fn();
  }
  return v;
}

const SPEC: FakeSiteSpec = { site: 'ctl-a', loadW: 1000, pvAvailableW: 0, batteryDefaultW: 0, socPct: 50 };
const battCmd = { type: 'battery_power', device: 'bat1', w: 1000, ttlSeconds: 5 };

interface Setup {
  t: TestCloud;
  gw: FakeGateway;
  /** Token of an operator who does not act for any market organization. */
  olga: string;
}

async function setup(market: MarketSettingsInput, status: 'registered' | 'certified'): Promise<Setup> {
  const t = await startTestCloud({
    market,
    vpp: { loopMs: 100, commandTtlS: 1, staleMs: 1500, settleMs: 500, baselineMinutes: 0.02 },
  });
  const site = await t.api<{ gateway: { password: string } }>('POST', '/sites', { body: { id: SPEC.site } });
  assert.equal(site.status, 201);
  const gw = await FakeGateway.start(
    `mqtt://127.0.0.1:${t.cloud.broker.tcp}`,
    site.body.gateway.password,
    SPEC,
    100,
  );
  await until(
    async () => (await t.cloud.registry.listDevices(SPEC.site)).length,
    (n) => n === 3,
  );
  // The bootstrap admin acts for the utility: registers the battery as a market resource of sunco.
  const reg = await t.api('POST', '/market/resources', {
    body: battery('bat-a', 'sunco', '1', 5000, 10000, { site: SPEC.site, device: 'bat1' }),
  });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  if (status === 'certified') {
    const c = await t.api('PATCH', '/market/resources/bat-a', { body: { status: 'certified' } });
    assert.equal(c.status, 200, JSON.stringify(c.body));
  }
  const vpp = await t.api('POST', '/vpps', {
    body: { id: 'vpp1', name: 'one', select: { by: 'sites', sites: [SPEC.site] } },
  });
  assert.equal(vpp.status, 201);
  const u = await t.api<{ id: string }>('POST', '/users', { body: { name: 'olga', role: 'operator' } });
  const olga = (await t.api<{ token: string }>('POST', `/users/${u.body.id}/tokens`, { body: {} })).body
    .token;
  await new Promise((r) => setTimeout(r, 1300)); // baseline history
  return { t, gw, olga };
}

const batteryCommandsSent = (s: Setup) => s.gw.commands.filter((c) => c.type === 'battery_power').length;

/** A VPP dispatch over the site; resolves with bat1's device run once it is excluded. */
async function dispatchExcludesBattery(s: Setup) {
  const r = await s.t.api<Dispatch>('POST', '/dispatches', {
    body: { group: 'vpp1', target: { kind: 'change', w: 1000 }, end: Date.now() + 60_000 },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const d = await until(
    async () => (await s.t.api<Dispatch>('GET', `/dispatches/${r.body.id}`)).body,
    (x) => x.devices.some((v) => v.id === 'bat1' && v.state === 'excluded'),
    4000,
  );
  await s.t.api('POST', `/dispatches/${r.body.id}/cancel`);
  return d.devices.find((v) => v.id === 'bat1')!;
}

const actors = (model: 4 | 5): MarketSettingsInput['actors'] => [
  { id: 'iso', kind: 'iso', users: [] },
  { id: 'utility', kind: 'utility', users: ['admin'] },
  ...(model === 4 ? [{ id: 'dso', kind: 'independent_dso' as const, users: ['admin'] }] : []),
  { id: 'sunco', kind: 'producer', users: [] },
];

describe('control rules on every path: an uncertified resource (model 4)', function () {
  this.timeout(60_000);
  let s: Setup;
  before(async () => {
    s = await setup({ model: 4, actors: actors(4) }, 'registered');
  });
  after(async () => {
    await s?.gw.stop().catch(() => undefined);
    await s?.t.stop();
  });

  it('a direct command is refused NOT_CERTIFIED, as a bid is, and never reaches the site', async () => {
    const r = await s.t.api<{ code: string; reason: string }>('POST', '/sites/ctl-a/commands', {
      body: battCmd,
    });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.code, 'NOT_CERTIFIED');
    assert.match(
      r.body.reason,
      /resource "bat-a" has no valid interconnection certificate \(status registered\)/,
    );
    assert.equal(batteryCommandsSent(s), 0);
  });

  it('a VPP dispatch excludes the battery with the same code and sends it nothing', async () => {
    const bat = await dispatchExcludesBattery(s);
    assert.match(
      bat.reason ?? '',
      /NOT_CERTIFIED: resource "bat-a" has no valid interconnection certificate/,
    );
    assert.equal(batteryCommandsSent(s), 0);
  });

  it('once certified: the DERM’s user commands it; an operator outside the DERM is refused NOT_DERM', async () => {
    const c = await s.t.api('PATCH', '/market/resources/bat-a', { body: { status: 'certified' } });
    assert.equal(c.status, 200);
    const olga = await s.t.api<{ code: string; reason: string }>('POST', '/sites/ctl-a/commands', {
      token: s.olga,
      body: battCmd,
    });
    assert.equal(olga.status, 403, JSON.stringify(olga.body));
    assert.equal(olga.body.code, 'NOT_DERM');
    assert.match(olga.body.reason, /does not act for the DERM \("dso"\)/);
    const admin = await s.t.api<{ status: string }>('POST', '/sites/ctl-a/commands', { body: battCmd });
    assert.equal(admin.status, 202, JSON.stringify(admin.body));
    await until(
      async () => batteryCommandsSent(s),
      (n) => n === 1,
    );
    // A device that is no market resource (the PV inverter) is outside the market's rules.
    const pv = await s.t.api('POST', '/sites/ctl-a/commands', {
      token: s.olga,
      body: { type: 'active_power_limit', device: 'pv1', w: 0, ttlSeconds: 5 },
    });
    assert.equal(pv.status, 202);
  });
});

describe('control rules on every path: no DERM in a peer-to-peer model (model 5)', function () {
  this.timeout(60_000);
  let s: Setup;
  before(async () => {
    s = await setup({ model: 5, actors: actors(5) }, 'certified');
  });
  after(async () => {
    await s?.gw.stop().catch(() => undefined);
    await s?.t.stop();
  });

  it('a direct command to a certified DER is refused NO_DERM', async () => {
    const r = await s.t.api<{ code: string; reason: string }>('POST', '/sites/ctl-a/commands', {
      body: battCmd,
    });
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.equal(r.body.code, 'NO_DERM');
    assert.match(r.body.reason, /model 5 has no DERM: DER self-dispatch; only the DGO may override/);
    assert.equal(batteryCommandsSent(s), 0);
  });

  it('a VPP dispatch excludes the DER with NO_DERM and sends it nothing', async () => {
    const bat = await dispatchExcludesBattery(s);
    assert.match(bat.reason ?? '', /NO_DERM: model 5 has no DERM/);
    assert.equal(batteryCommandsSent(s), 0);
  });

  it('the DGO’s emergency dispatch still reaches it (the one override the P2P models allow)', async () => {
    const r = await s.t.api<{ status: string }>('POST', '/market/dgo/emergency', {
      body: { resource: 'bat-a', w: 2000, ttlSeconds: 5, reason: 'feeder overload' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await until(
      async () => batteryCommandsSent(s),
      (n) => n === 1,
    );
  });
});
