import assert from 'node:assert/strict';
import { FakeGateway, type FakeSiteSpec } from '../../test-support/cloud/fake-gateway.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import type { Dispatch } from './dispatch.ts';

/** Polls until fn returns a truthy value; fails with the last value after `ms`. */
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

const SPECS: FakeSiteSpec[] = [
  // meter = 3000 + 0 − 1000 = 2000 W export; export limit leaves 4000 W of headroom.
  {
    site: 'vpp-a',
    loadW: 1000,
    pvAvailableW: 3000,
    batteryDefaultW: 0,
    socPct: 50,
    limits: { export_w_max: 6000 },
  },
  // meter = 0 − 1000 − 500 = −1500 W (import).
  { site: 'vpp-b', loadW: 500, pvAvailableW: 0, batteryDefaultW: -1000, socPct: 80 },
  // A full battery: it can only discharge; PV is what can come down.
  { site: 'vpp-c', loadW: 500, pvAvailableW: 4000, batteryDefaultW: 0, socPct: 100 },
];

describe('VPP aggregation and dispatch (real cloud, fake gateways over MQTT)', function () {
  this.timeout(60_000);
  let t: TestCloud;
  const gw: Record<string, FakeGateway> = {};
  let aggToken = '';
  let viewerToken = '';

  const dispatch = (body: unknown, token?: string) =>
    t.api<Dispatch & { error?: string; feasibility?: Dispatch['feasibility'] }>('POST', '/dispatches', {
      body,
      token,
    });
  const get = (id: string) => t.api<Dispatch>('GET', `/dispatches/${id}`).then((r) => r.body);
  const meterTotal = (sites: string[]) => sites.reduce((a, s) => a + gw[s].values().meter, 0);
  const cancelAndSettle = async (id: string, sites: string[]) => {
    assert.equal((await t.api('POST', `/dispatches/${id}/cancel`)).status, 200);
    // Commands lapse (ttl 1 s) and the sites return to default.
    await until(
      async () => sites.every((s) => !gw[s].values().remote),
      (v) => v,
    );
    // Let the baseline window (1.2 s) see only default-mode samples again.
    await new Promise((r) => setTimeout(r, 1300));
  };

  before(async () => {
    t = await startTestCloud({
      vpp: { loopMs: 100, commandTtlS: 1, staleMs: 1500, settleMs: 500, baselineMinutes: 0.02 },
    });
    const url = `mqtt://127.0.0.1:${t.cloud.broker.tcp}`;
    for (const spec of SPECS) {
      const r = await t.api<{ gateway: { password: string } }>('POST', '/sites', { body: { id: spec.site } });
      assert.equal(r.status, 201);
      gw[spec.site] = await FakeGateway.start(url, r.body.gateway.password, spec, 100);
    }
    await until(
      async () => (await t.cloud.registry.listDevices('vpp-c')).length,
      (n) => n === 3,
    );
    // VPP 1 by explicit sites; VPP 2 by feeder.
    let r = await t.api('POST', '/vpps', {
      body: { id: 'vpp1', name: 'VPP one', select: { by: 'sites', sites: ['vpp-a', 'vpp-b'] } },
    });
    assert.equal(r.status, 201);
    for (const s of ['vpp-c'])
      assert.equal((await t.api('PATCH', `/sites/${s}`, { body: { feeder: 'F7' } })).status, 200);
    r = await t.api<{ sites: string[] }>('POST', '/vpps', {
      body: { id: 'vpp2', name: 'Feeder 7', select: { by: 'feeder', feeder: 'F7' } },
    });
    assert.deepEqual((r.body as { sites: string[] }).sites, ['vpp-c']);
    // An aggregator scoped to vpp1 and a viewer.
    const agg = await t.api<{ id: string }>('POST', '/users', {
      body: { name: 'agg', role: 'aggregator', scopes: [{ kind: 'group', target: 'vpp1' }] },
    });
    aggToken = (await t.api<{ token: string }>('POST', `/users/${agg.body.id}/tokens`, { body: {} })).body
      .token;
    const viewer = await t.api<{ id: string }>('POST', '/users', {
      body: { name: 'view', role: 'viewer', scopes: [{ kind: 'group', target: 'vpp1' }] },
    });
    viewerToken = (await t.api<{ token: string }>('POST', `/users/${viewer.body.id}/tokens`, { body: {} }))
      .body.token;
    // A little history for the baseline.
    await new Promise((r) => setTimeout(r, 1300));
  });

  after(async () => {
    for (const g of Object.values(gw)) await g.stop().catch(() => undefined);
    await t?.stop();
  });

  it('lists VPPs and reports the live aggregate: meters, devices, energy, SoC weighted by capacity', async () => {
    const list = await t.api<{ id: string }[]>('GET', '/vpps');
    assert.deepEqual(
      list.body.map((v) => v.id),
      ['vpp1', 'vpp2'],
    );
    const a = await t.api<Record<string, number>>('GET', '/vpps/vpp1/aggregate');
    assert.equal(a.status, 200);
    assert.equal(a.body.sites, 2);
    assert.equal(a.body.meterW, 2000 - 1500);
    assert.equal(a.body.pvW, 3000);
    assert.equal(a.body.batteryW, -1000);
    assert.equal(a.body.deviceW, 2000);
    assert.equal(a.body.storedWh, 5000 + 8000);
    assert.equal(a.body.capacityWh, 20_000);
    assert.equal(a.body.socPct, 65);
    assert.equal(a.body.staleDevices, 0);
  });

  it('computes the envelope now (limits, SoC, site export limit) and per interval', async () => {
    const e = await t.api<{
      now: {
        upW: number;
        downW: number;
        sites: { site: string; upW: number; downW: number; devicesUpW: number }[];
      };
      intervals: { t: number; upW: number; downW: number; upWh: number }[];
      forecastSource: string;
    }>('GET', '/vpps/vpp1/envelope?stepMinutes=15&steps=4');
    assert.equal(e.status, 200);
    const a = e.body.now.sites.find((s) => s.site === 'vpp-a');
    // Battery could add 5 kW, but the 6 kW export limit at a 2 kW export leaves 4 kW.
    assert.deepEqual([a?.devicesUpW, a?.upW, a?.downW], [5000, 4000, 5000 + 3000]);
    const b = e.body.now.sites.find((s) => s.site === 'vpp-b');
    assert.deepEqual([b?.upW, b?.downW], [6000, 4000]);
    assert.deepEqual([e.body.now.upW, e.body.now.downW], [10_000, 12_000]);
    assert.equal(e.body.intervals.length, 4);
    assert.equal(e.body.forecastSource, 'persistence');
    // Stored energy above the 10 % floor, with 95 % discharge efficiency: (40 % + 70 %) of 10 kWh.
    assert.ok(
      Math.abs(e.body.intervals[0].upWh - (4000 + 7000) * 0.95) < 1,
      JSON.stringify(e.body.intervals[0]),
    );
    assert.ok(e.body.intervals.every((i) => i.upW > 0 && i.downW > 0));
  });

  it('refuses infeasible dispatches with reasons (device limits, state of charge, site limits) and audits them', async () => {
    const now = Date.now();
    let r = await dispatch({ group: 'vpp1', target: { kind: 'change', w: 50_000 }, end: now + 600_000 });
    assert.equal(r.status, 422);
    assert.match(r.body.error ?? '', /device limits/);
    assert.ok((r.body.feasibility?.shortfallW ?? 0) > 39_000);
    // 9 kW for 10 h: batteries hold 4 + 7 kWh above the floor.
    r = await dispatch({ group: 'vpp1', target: { kind: 'change', w: 9000 }, end: now + 10 * 3_600_000 });
    assert.equal(r.status, 422);
    assert.match(r.body.error ?? '', /state of charge/);
    // Within the devices but over vpp-a's export limit.
    r = await dispatch({
      group: 'vpp1',
      target: { kind: 'meter_power', w: 500 + 10_500 },
      end: now + 600_000,
    });
    assert.equal(r.status, 422);
    assert.match(r.body.error ?? '', /site limits: .*vpp-a/);
    assert.match(r.body.feasibility?.checks.network.reasons.join() ?? '', /not checked/);
    const audit = await t.api<{ action: string; target: string }[]>('GET', '/audit?action=dispatch.refused');
    assert.equal(audit.body.length, 3);
    assert.equal(audit.body[0].target, 'vpp1');
  });

  it('previews a dispatch (dry run): the same verdict and reasons as POST /dispatches, nothing registered', async () => {
    type Preview = {
      accepted: boolean;
      refusal?: string;
      targetMeterW: number;
      baselineW: number;
      feasibility: Dispatch['feasibility'];
    };
    const before = (await t.api<unknown[]>('GET', '/dispatches?group=vpp1')).body.length;
    const auditBefore = (await t.api<unknown[]>('GET', '/audit?action=dispatch.refused')).body.length;
    const end = Date.now() + 600_000;
    const bad = await t.api<Preview>('POST', '/dispatches/preview', {
      body: { group: 'vpp1', target: { kind: 'change', w: 50_000 }, end },
    });
    assert.equal(bad.status, 200, JSON.stringify(bad.body));
    assert.equal(bad.body.accepted, false);
    assert.match(bad.body.refusal ?? '', /dispatch infeasible: .*device limits/);
    assert.equal(bad.body.feasibility.feasible, false);
    assert.ok(bad.body.feasibility.shortfallW > 39_000);
    assert.equal(bad.body.targetMeterW, bad.body.baselineW + 50_000);
    // The same request with allowPartial is accepted with its shortfall stated.
    const partial = await t.api<Preview>('POST', '/dispatches/preview', {
      body: { group: 'vpp1', target: { kind: 'change', w: 50_000 }, end, allowPartial: true },
    });
    assert.equal(partial.body.accepted, true);
    assert.equal(partial.body.refusal, undefined);
    assert.ok(partial.body.feasibility.shortfallW > 39_000);
    const ok = await t.api<Preview>('POST', '/dispatches/preview', {
      body: { group: 'vpp1', target: { kind: 'change', w: 500 }, end },
    });
    assert.equal(ok.body.accepted, true);
    assert.equal(ok.body.feasibility.feasible, true);
    // Invalid requests are refused as POST /dispatches refuses them; a viewer may not preview.
    const invalid = await t.api<{ error: string }>('POST', '/dispatches/preview', {
      body: { group: 'vpp1', target: { kind: 'change', w: 500 }, end: Date.now() - 1000 },
    });
    assert.equal(invalid.status, 400, JSON.stringify(invalid.body));
    const viewer = await t.api('POST', '/dispatches/preview', {
      body: { group: 'vpp1', target: { kind: 'change', w: 500 }, end },
      token: viewerToken,
    });
    assert.equal(viewer.status, 403);
    assert.equal((await t.api<unknown[]>('GET', '/dispatches?group=vpp1')).body.length, before);
    assert.equal((await t.api<unknown[]>('GET', '/audit?action=dispatch.refused')).body.length, auditBefore);
  });

  it('sends per-device commands on the sites’ topics with expiries and tracks the target', async () => {
    const target = 500 + 3000;
    const r = await dispatch({
      group: 'vpp1',
      target: { kind: 'meter_power', w: target },
      end: Date.now() + 60_000,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.feasibility.feasible, true);
    const id = r.body.id;
    await until(
      async () => meterTotal(['vpp-a', 'vpp-b']),
      (m) => Math.abs(m - target) <= 50,
    );
    for (const s of ['vpp-a', 'vpp-b']) {
      const c = gw[s].commands.find((x) => x.type === 'battery_power');
      assert.ok(c, `no battery command at ${s}`);
      assert.equal(c.site, s);
      assert.equal(c.device, 'bat1');
      assert.equal(c.expiresAt - c.issuedAt, 1000);
    }
    // Spread over headroom: neither battery carries it all.
    const d = await get(id);
    const sp = d.devices.filter((x) => x.kind === 'battery').map((x) => x.setpointW ?? 0);
    assert.ok(
      sp.every((w) => w > -1000),
      JSON.stringify(d.devices),
    );
    assert.equal(d.status, 'active');
    assert.ok(d.progress.commandsSent >= 2);
    // Commands are audited with the dispatch as actor.
    const audit = await t.api<{ actor: string }[]>('GET', '/audit?action=command.send&limit=1000');
    assert.ok(audit.body.some((a) => a.actor === `dispatch:${id}`));
    await cancelAndSettle(id, ['vpp-a', 'vpp-b']);
  });

  it('re-allocates to the others when a device ignores its commands, and records performance with the baseline', async () => {
    gw['vpp-b'].spec.behaviour = 'ignore';
    // Baseline = meter before start (−1500 + 2000 = 500 W); ask 3 kW more export.
    const r = await dispatch({
      group: 'vpp1',
      target: { kind: 'change', w: 3000 },
      end: Date.now() + 60_000,
      intervalSeconds: 1,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.baseline.w, 500);
    assert.equal(r.body.targetMeterW, 3500);
    const d = await until(
      () => get(r.body.id),
      (x) => x.devices.some((v) => v.site === 'vpp-b' && v.id === 'bat1' && v.state === 'under-delivering'),
    );
    assert.match(d.devices.find((v) => v.site === 'vpp-b' && v.id === 'bat1')?.reason ?? '', /setpoint/);
    // vpp-a's battery takes the whole move: 3000 W discharge.
    await until(
      async () => meterTotal(['vpp-a', 'vpp-b']),
      (m) => Math.abs(m - 3500) <= 50,
    );
    assert.ok(Math.abs(gw['vpp-a'].values().bat - 3000) <= 50);
    const perf = await until(
      () =>
        t
          .api<{
            baseline: { w: number; method: string };
            intervals: { targetW: number; deliveredW: number; baselineW: number; samples: number }[];
          }>('GET', `/dispatches/${r.body.id}/performance`)
          .then((x) => x.body),
      (p) => p.intervals.length >= 2 && Math.abs((p.intervals.at(-2)?.deliveredW ?? 0) - 3500) <= 100,
    );
    assert.match(perf.baseline.method, /mean measured meter power/);
    for (const iv of perf.intervals) {
      assert.equal(iv.baselineW, 500);
      assert.equal(iv.targetW, 3500);
      assert.ok(iv.samples > 0);
    }
    await cancelAndSettle(r.body.id, ['vpp-a', 'vpp-b']);
    gw['vpp-b'].spec.behaviour = 'normal';
  });

  it('leaves out a device whose commands are refused and one whose telemetry goes stale', async () => {
    gw['vpp-b'].spec.behaviour = 'refuse';
    const r = await dispatch({
      group: 'vpp1',
      target: { kind: 'change', w: 2000 },
      end: Date.now() + 60_000,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const d = await until(
      () => get(r.body.id),
      (x) => x.devices.some((v) => v.site === 'vpp-b' && v.state === 'excluded'),
    );
    assert.match(
      d.devices.find((v) => v.site === 'vpp-b' && v.id === 'bat1')?.reason ?? '',
      /refused: device in local mode/,
    );
    assert.equal(d.baseline.w, 500);
    const target = d.targetMeterW;
    await until(
      async () => meterTotal(['vpp-a', 'vpp-b']),
      (m) => Math.abs(m - target) <= 50,
    );
    // vpp-a goes silent: stale, left out.
    gw['vpp-a'].silent = true;
    const d2 = await until(
      () => get(r.body.id),
      (x) => x.devices.some((v) => v.site === 'vpp-a' && v.id === 'bat1' && v.reason === 'stale telemetry'),
    );
    assert.equal(d2.devices.find((v) => v.site === 'vpp-a' && v.id === 'bat1')?.state, 'excluded');
    gw['vpp-a'].silent = false;
    await until(
      () => get(r.body.id),
      (x) => x.devices.find((v) => v.site === 'vpp-a' && v.id === 'bat1')?.state === 'ok',
    );
    await cancelAndSettle(r.body.id, ['vpp-a', 'vpp-b']);
    gw['vpp-b'].spec.behaviour = 'normal';
  });

  it('curtails PV with active_power_limit when the target asks for less export, then lets it lapse at the end', async () => {
    // vpp-c exports 3500 W with a full battery: only PV can bring it down to 1000 W.
    const r = await dispatch({
      group: 'vpp2',
      target: { kind: 'meter_power', w: 1000 },
      end: Date.now() + 2000,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await until(
      async () => gw['vpp-c'].values(),
      (v) => Math.abs(v.meter - 1000) <= 50 && v.pv < 4000,
    );
    const lim = gw['vpp-c'].commands.find((c) => c.type === 'active_power_limit');
    assert.equal(lim?.device, 'pv1');
    assert.ok(lim && lim.type === 'active_power_limit' && Math.abs(lim.w - 1500) <= 50);
    assert.ok(
      !gw['vpp-c'].commands.some((c) => c.type === 'battery_power' && c.w < -50),
      'full battery asked to charge',
    );
    const done = await until(
      () => get(r.body.id),
      (x) => x.status === 'completed',
    );
    assert.ok(done.intervals.length >= 1);
    await until(
      async () => gw['vpp-c'].values(),
      (v) => !v.remote && v.meter === 3500,
    );
    const audit = await t.api<{ action: string }[]>('GET', `/audit?target=${r.body.id}`);
    const actions = new Set(audit.body.map((a) => a.action));
    for (const a of ['dispatch.create', 'dispatch.start', 'dispatch.complete']) assert.ok(actions.has(a), a);
  });

  it('holds a scheduled dispatch until its start, then takes the baseline just before it', async () => {
    const start = Date.now() + 1500;
    const r = await dispatch({
      group: 'vpp1',
      target: { kind: 'change', w: 1000 },
      start,
      end: start + 60_000,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, 'scheduled');
    assert.equal(gw['vpp-a'].commands.filter((c) => c.issuedAt >= r.body.createdAt).length, 0);
    const d = await until(
      () => get(r.body.id),
      (x) => x.status === 'active' && x.progress.firstCommandAt !== null,
    );
    assert.ok((d.progress.firstCommandAt ?? 0) >= start);
    assert.deepEqual([d.baseline.to, d.baseline.w, d.targetMeterW], [start, 500, 1500]);
    await until(
      async () => meterTotal(['vpp-a', 'vpp-b']),
      (m) => Math.abs(m - 1500) <= 50,
    );
    await cancelAndSettle(r.body.id, ['vpp-a', 'vpp-b']);
  });

  it('enforces roles and group scopes', async () => {
    const body = { group: 'vpp1', target: { kind: 'change', w: 100 }, end: Date.now() + 5000 };
    assert.equal((await dispatch(body, viewerToken)).status, 403);
    assert.equal((await dispatch({ ...body, group: 'vpp2' }, aggToken)).status, 403);
    assert.equal((await t.api('GET', '/vpps/vpp2/aggregate', { token: aggToken })).status, 403);
    assert.equal((await t.api('GET', '/vpps/vpp1/aggregate', { token: viewerToken })).status, 200);
    const r = await dispatch(body, aggToken);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(r.body.requestedBy, /^user:/);
    // The viewer sees it but may not cancel it; another group's caller does not see it at all.
    assert.equal((await t.api('GET', `/dispatches/${r.body.id}`, { token: viewerToken })).status, 200);
    assert.equal(
      (await t.api('POST', `/dispatches/${r.body.id}/cancel`, { token: viewerToken })).status,
      403,
    );
    assert.equal((await t.api('POST', `/dispatches/${r.body.id}/cancel`, { token: aggToken })).status, 200);
    const audit = await t.api<{ action: string; actor: string }[]>('GET', `/audit?target=${r.body.id}`);
    assert.ok(audit.body.some((a) => a.action === 'dispatch.cancel' && a.actor === r.body.requestedBy));
    assert.equal(
      (await t.api('GET', '/dispatches', { token: 'glt_nobody_00000000000000000000000' })).status,
      401,
    );
  });

  it('serves the operator app at / without external resources', async () => {
    const base = t.cloud.apiUrl.replace('/api/v1', '');
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'(;|$)/);
    const html = await res.text();
    assert.doesNotMatch(html, /https?:\/\//);
    const script = html.match(/<script type="module" src="(\/app\/main\.[0-9a-f]{12}\.js)"/)?.[1];
    assert.ok(script, html);
    const js = await fetch(`${base}${script}`);
    assert.equal(js.status, 200);
    assert.match(await js.text(), /\/api\/v1/);
    assert.equal((await fetch(`${base}/app/main.000000000000.js`)).status, 404);
  });
});
