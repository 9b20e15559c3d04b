import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGateway, type FakeSiteSpec } from '../../test-support/cloud/fake-gateway.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { battery, radialFeeder400V } from '../../test-support/market/market-scenario.ts';
import { RT_INTERVAL_MS } from '../market/index.ts';
import type { Dispatch } from '../vpp/dispatch.ts';

/**
 * Onboarding through the API (no market organization of it in the config): the DMO registers a
 * producer and links a cloud user to it, the DGO registers its battery and decides its
 * interconnection; each decision is on the interconnection record (who, as which organization, when).
 * The API-registered organization and resource feed the one rule module every control path checks:
 * uncertified, a market award, a VPP dispatch and a direct command are all refused NOT_CERTIFIED;
 * certified, all three reach the field. Real cloud, a fake gateway over MQTT, real HTTP; the
 * registrations survive a restart.
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

const SPEC: FakeSiteSpec = { site: 'onb-a', loadW: 1000, pvAvailableW: 0, batteryDefaultW: 0, socPct: 50 };
const battCmd = { type: 'battery_power', device: 'bat1', w: 1000, ttlSeconds: 5 };
type Refused = { code: string; reason: string };
type Cert = {
  resource: string;
  status: string;
  previous: string;
  decidedBy: string;
  as: string;
  note?: string;
};
type ActorView = {
  id: string;
  kind: string;
  source: string;
  roles: string[];
  users: { user: string; source: string }[];
};

// Model 4, the default actors (the bootstrap admin acts for the utility/DGO and the dso/DMO/DERM).
// The radial 400 V feeder 0-1-2 (the battery at bus 1).
const cloudConfig = {
  market: { model: 4 as const, networkFile: 'feeder.json' },
  vpp: { loopMs: 100, commandTtlS: 1, staleMs: 1500, settleMs: 500, baselineMinutes: 0.02 },
};

describe('market onboarding API: organizations, users, resources and the interconnection record feed every control path', function () {
  this.timeout(90_000);
  const dir = mkdtempSync(join(tmpdir(), 'gridlayer-onb-'));
  let t: TestCloud;
  let gw: FakeGateway;
  let pat: string; // a participant user, linked to sunco through the API
  let patId: string;
  let olga: string; // an operator who acts for no market organization
  /** RT intervals the test clears, far from the wall clock (the market clock is the test's). */
  const rt0 = Math.ceil(Date.now() / RT_INTERVAL_MS) * RT_INTERVAL_MS + 24 * RT_INTERVAL_MS;

  const batteryCommands = () => gw.commands.filter((c) => c.type === 'battery_power');

  before(async () => {
    const f = radialFeeder400V();
    const buses = f.buses.map((id, i) => ({
      id,
      type: i === 0 ? 'slack' : 'pq',
      vmin_pu: 0.9,
      vmax_pu: 1.1,
    }));
    writeFileSync(
      join(dir, 'feeder.json'),
      JSON.stringify({ base_voltage_v: f.base_voltage_v, buses, branches: f.branches }),
    );
    t = await startTestCloud(cloudConfig, dir);
    const site = await t.api<{ gateway: { password: string } }>('POST', '/sites', {
      body: { id: SPEC.site },
    });
    assert.equal(site.status, 201);
    gw = await FakeGateway.start(
      `mqtt://127.0.0.1:${t.cloud.broker.tcp}`,
      site.body.gateway.password,
      SPEC,
      100,
    );
    await until(
      async () => (await t.cloud.registry.listDevices(SPEC.site)).length,
      (n) => n === 3,
    );
    const vpp = await t.api('POST', '/vpps', {
      body: { id: 'vpp1', name: 'one', select: { by: 'sites', sites: [SPEC.site] } },
    });
    assert.equal(vpp.status, 201);
    const token = async (name: string, role: string) => {
      const u = await t.api<{ id: string }>('POST', '/users', { body: { name, role } });
      assert.equal(u.status, 201, JSON.stringify(u.body));
      const tk = await t.api<{ token: string }>('POST', `/users/${u.body.id}/tokens`, { body: {} });
      return { id: u.body.id, token: tk.body.token };
    };
    const p = await token('pat', 'participant');
    pat = p.token;
    patId = p.id;
    olga = (await token('olga', 'operator')).token;
    await new Promise((r) => setTimeout(r, 1300)); // VPP baseline history
  });
  after(async () => {
    await gw?.stop().catch(() => undefined);
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the DMO registers a producer and links a user to it; operating kinds, duplicates and non-DMOs are refused', async () => {
    const r = await t.api<ActorView>('POST', '/market/actors', {
      body: { id: 'sunco', kind: 'producer', name: 'Sun Co' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(
      { id: r.body.id, kind: r.body.kind, source: r.body.source, roles: r.body.roles, users: r.body.users },
      { id: 'sunco', kind: 'producer', source: 'api', roles: ['participant'], users: [] },
    );
    const dup = await t.api<Refused>('POST', '/market/actors', { body: { id: 'sunco', kind: 'consumer' } });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 'DUPLICATE_ACTOR');
    // The config's organizations are there too: an id of one is a duplicate.
    const cfg = await t.api<Refused>('POST', '/market/actors', { body: { id: 'utility', kind: 'retailer' } });
    assert.equal(cfg.body.code, 'DUPLICATE_ACTOR');
    // Operating roles are the model's (config), not registrable.
    const op = await t.api('POST', '/market/actors', { body: { id: 'iso2', kind: 'iso' } });
    assert.equal(op.status, 400);
    // An operator outside the DMO may not onboard.
    const notDmo = await t.api<Refused>('POST', '/market/actors', {
      token: olga,
      body: { id: 'other', kind: 'consumer' },
    });
    assert.equal(notDmo.status, 403);
    assert.equal(notDmo.body.code, 'NOT_DMO');
    // A participant's cloud role may not onboard at all.
    assert.equal(
      (await t.api('POST', '/market/actors', { token: pat, body: { id: 'x', kind: 'consumer' } })).status,
      403,
    );

    const unknownUser = await t.api<Refused>('POST', '/market/actors/sunco/users', {
      body: { user: 'nobody' },
    });
    assert.equal(unknownUser.status, 422);
    assert.equal(unknownUser.body.code, 'UNKNOWN_USER');
    const link = await t.api<ActorView>('POST', '/market/actors/sunco/users', { body: { user: patId } });
    assert.equal(link.status, 201, JSON.stringify(link.body));
    assert.deepEqual(
      link.body.users.map((u) => [u.user, u.source]),
      [[patId, 'api']],
    );
    // Pat now acts for sunco, and sees only sunco; the DMO sees every organization.
    const me = await t.api<{ market?: { actors: string[] } }>('GET', '/me', { token: pat });
    assert.deepEqual(me.body.market?.actors, ['sunco']);
    const mine = await t.api<ActorView[]>('GET', '/market/actors', { token: pat });
    assert.deepEqual(
      mine.body.map((a) => a.id),
      ['sunco'],
    );
    const all = await t.api<ActorView[]>('GET', '/market/actors');
    assert.deepEqual(all.body.map((a) => [a.id, a.source]).sort(), [
      ['dso', 'config'],
      ['iso', 'config'],
      ['sunco', 'api'],
      ['utility', 'config'],
    ]);
    // The config's links are changed in the config.
    const cfgLink = await t.api<Refused>('DELETE', '/market/actors/utility/users/admin');
    assert.equal(cfgLink.status, 409);
    assert.equal(cfgLink.body.code, 'CONFIG_LINK');
  });

  it('the DGO registers the API organization’s battery; only a DGO operator decides its interconnection', async () => {
    const reg = await t.api<{ status: string; owner: string }>('POST', '/market/resources', {
      body: battery('bat-a', 'sunco', '1', 5000, 10000, { site: SPEC.site, device: 'bat1' }),
    });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    assert.deepEqual([reg.body.owner, reg.body.status], ['sunco', 'registered']);
    // The participant's cloud role may not certify, nor may an operator who is not the DGO's.
    assert.equal(
      (await t.api('PATCH', '/market/resources/bat-a', { token: pat, body: { status: 'certified' } })).status,
      403,
    );
    const notDgo = await t.api<Refused>('PATCH', '/market/resources/bat-a', {
      token: olga,
      body: { status: 'certified' },
    });
    assert.equal(notDgo.status, 403);
    assert.equal(notDgo.body.code, 'NOT_DGO');
    // Still registered: the refusals decided nothing.
    const rec = await t.api<Cert[]>('GET', '/market/certifications?resource=bat-a');
    assert.deepEqual(
      rec.body.map((c) => [c.previous, c.status, c.decidedBy, c.as]),
      [['none', 'registered', 'admin', 'utility']],
    );
  });

  it('uncertified: a bid, a market award, a VPP dispatch and a direct command are refused NOT_CERTIFIED', async () => {
    // A bid (what a market award comes from).
    t.cloud.market!.now = () => rt0 - 2 * RT_INTERVAL_MS;
    const bid = await t.api<Refused>('POST', '/market/bids', {
      token: pat,
      body: {
        resource: 'bat-a',
        market: 'RT',
        side: 'sell',
        interval_start: rt0,
        steps: [{ quantity_w: 4000, price_per_mwh: 5 }],
      },
    });
    assert.equal(bid.status, 422, JSON.stringify(bid.body));
    assert.equal(bid.body.code, 'NOT_CERTIFIED');

    // An award of a resource whose certificate is withdrawn after it bid: certified, bid, suspended, cleared.
    const cert = await t.api('PATCH', '/market/resources/bat-a', {
      body: { status: 'certified', note: 'IA-1' },
    });
    assert.equal(cert.status, 200);
    const ok = await t.api('POST', '/market/bids', {
      token: pat,
      body: {
        resource: 'bat-a',
        market: 'RT',
        side: 'sell',
        interval_start: rt0,
        steps: [{ quantity_w: 4000, price_per_mwh: 5 }],
      },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const sus = await t.api('PATCH', '/market/resources/bat-a', {
      body: { status: 'suspended', note: 'relay test failed' },
    });
    assert.equal(sus.status, 200);
    t.cloud.market!.now = () => rt0 - RT_INTERVAL_MS; // the RT gate has closed
    const run = await t.api<{ dispatch: { resource: string; status: string; reason: string | null }[] }>(
      'POST',
      '/market/clearing/rt',
      { body: { intervalStart: rt0, interfacePrice: 40 } },
    );
    assert.equal(run.status, 200, JSON.stringify(run.body));
    const d = run.body.dispatch.find((x) => x.resource === 'bat-a');
    assert.equal(d?.status, 'skipped', JSON.stringify(run.body.dispatch));
    assert.match(
      d?.reason ?? '',
      /^NOT_CERTIFIED: resource "bat-a" has no valid interconnection certificate \(status suspended\)/,
    );

    // A direct command.
    const cmd = await t.api<Refused>('POST', `/sites/${SPEC.site}/commands`, { body: battCmd });
    assert.equal(cmd.status, 422, JSON.stringify(cmd.body));
    assert.equal(cmd.body.code, 'NOT_CERTIFIED');

    // A VPP dispatch: the battery is excluded with the same code.
    const disp = await t.api<Dispatch>('POST', '/dispatches', {
      body: { group: 'vpp1', target: { kind: 'change', w: 1000 }, end: Date.now() + 60_000 },
    });
    assert.equal(disp.status, 201, JSON.stringify(disp.body));
    const seen = await until(
      async () => (await t.api<Dispatch>('GET', `/dispatches/${disp.body.id}`)).body,
      (x) => x.devices.some((v) => v.id === 'bat1' && v.state === 'excluded'),
      4000,
    );
    await t.api('POST', `/dispatches/${disp.body.id}/cancel`);
    assert.match(
      seen.devices.find((v) => v.id === 'bat1')!.reason ?? '',
      /NOT_CERTIFIED: resource "bat-a" has no valid interconnection certificate/,
    );
    assert.equal(batteryCommands().length, 0, 'nothing reached the battery');
  });

  it('certified: the award, the direct command and the VPP dispatch reach the battery', async () => {
    const cert = await t.api('PATCH', '/market/resources/bat-a', {
      body: { status: 'certified', note: 'retest passed' },
    });
    assert.equal(cert.status, 200);
    const rt1 = rt0 + RT_INTERVAL_MS;
    t.cloud.market!.now = () => rt1 - 2 * RT_INTERVAL_MS;
    const bid = await t.api('POST', '/market/bids', {
      token: pat,
      body: {
        resource: 'bat-a',
        market: 'RT',
        side: 'sell',
        interval_start: rt1,
        steps: [{ quantity_w: 4000, price_per_mwh: 5 }],
      },
    });
    assert.equal(bid.status, 201, JSON.stringify(bid.body));
    t.cloud.market!.now = () => rt1 - RT_INTERVAL_MS;
    const run = await t.api<{ dispatch: { resource: string; status: string; commandId: string | null }[] }>(
      'POST',
      '/market/clearing/rt',
      { body: { intervalStart: rt1, interfacePrice: 40 } },
    );
    assert.equal(run.status, 200, JSON.stringify(run.body));
    const d = run.body.dispatch.find((x) => x.resource === 'bat-a');
    assert.equal(d?.status, 'sent', JSON.stringify(run.body.dispatch));
    // Offered at 5 $/MWh against a 40 $/MWh interface price: the whole 4 kW is awarded and sent.
    const award = await until(
      async () => batteryCommands(),
      (c) => c.length === 1,
    );
    assert.equal((award[0] as { w: number }).w, 4000);

    const cmd = await t.api('POST', `/sites/${SPEC.site}/commands`, { body: battCmd });
    assert.equal(cmd.status, 202, JSON.stringify(cmd.body));
    await until(
      async () => batteryCommands().length,
      (n) => n === 2,
    );

    const disp = await t.api<Dispatch>('POST', '/dispatches', {
      body: { group: 'vpp1', target: { kind: 'change', w: 1000 }, end: Date.now() + 60_000 },
    });
    assert.equal(disp.status, 201, JSON.stringify(disp.body));
    await until(
      async () => batteryCommands().length,
      (n) => n >= 3,
    );
    const seen = (await t.api<Dispatch>('GET', `/dispatches/${disp.body.id}`)).body;
    await t.api('POST', `/dispatches/${disp.body.id}/cancel`);
    assert.notEqual(seen.devices.find((v) => v.id === 'bat1')?.state, 'excluded');
  });

  it('the interconnection record says who decided what and when; the owner sees its own, others nothing', async () => {
    const rec = await t.api<Cert[]>('GET', '/market/certifications?resource=bat-a');
    assert.deepEqual(
      rec.body.map((c) => [c.previous, c.status, c.decidedBy, c.as, c.note ?? null]),
      [
        ['none', 'registered', 'admin', 'utility', null],
        ['registered', 'certified', 'admin', 'utility', 'IA-1'],
        ['certified', 'suspended', 'admin', 'utility', 'relay test failed'],
        ['suspended', 'certified', 'admin', 'utility', 'retest passed'],
      ],
    );
    const own = await t.api<Cert[]>('GET', '/market/certifications', { token: pat });
    assert.equal(own.body.length, 4);
    const other = await t.api<Cert[]>('GET', '/market/certifications', { token: olga });
    assert.deepEqual(other.body, []);
  });

  it('after a restart the API organization, its user link and the record are still there', async () => {
    await gw.stop();
    await t.stop();
    t = await startTestCloud(cloudConfig, dir);
    const all = await t.api<ActorView[]>('GET', '/market/actors');
    const sunco = all.body.find((a) => a.id === 'sunco');
    assert.deepEqual(
      { source: sunco?.source, users: sunco?.users.map((u) => u.user) },
      { source: 'api', users: [patId] },
    );
    const me = await t.api<{ market?: { actors: string[] } }>('GET', '/me', { token: pat });
    assert.deepEqual(me.body.market?.actors, ['sunco']);
    const res = await t.api<{ id: string; status: string }[]>('GET', '/market/resources', { token: pat });
    assert.deepEqual(
      res.body.map((r) => [r.id, r.status]),
      [['bat-a', 'certified']],
    );
    assert.equal((await t.api<Cert[]>('GET', '/market/certifications?resource=bat-a')).body.length, 4);
    // An API link ends through the API; pat then acts for nothing.
    const un = await t.api('DELETE', `/market/actors/sunco/users/${patId}`);
    assert.equal(un.status, 200, JSON.stringify(un.body));
    const after = await t.api<{ market?: unknown }>('GET', '/me', { token: pat });
    assert.equal(after.body.market, undefined);
  });
});
