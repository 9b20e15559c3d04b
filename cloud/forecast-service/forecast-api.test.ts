import assert from 'node:assert/strict';
import { capabilitiesSchema } from '../../protocols/mqtt/payloads.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { solarPosition } from '../forecast/index.ts';
import type { PointRow } from '../storage/timeseries/types.ts';

const MIN = 60_000;
const STEP = 15 * MIN;
const DAY = 86_400_000;
const LOC = { latitude: 48.1, longitude: 11.6 };

interface Forecast {
  kind: string;
  issuedAt: number;
  issuedAtIso: string;
  modelVersion: string;
  stepMs: number;
  members: number | null;
  intervals: { start: number; mean: number; p10: number; p50: number; p90: number }[];
  details: Record<string, unknown>;
}

/** Known structure: a base load with an evening peak, higher on weekends, in W. */
const loadAt = (t: number, scale: number) => {
  const h = (t % DAY) / 3_600_000;
  const weekend = [0, 6].includes(new Date(t).getUTCDay());
  return scale * (400 + (weekend ? 150 : 0) + 900 * Math.exp(-(((h - 19) / 2) ** 2)));
};
/** Clear-sky-like PV: proportional to the cosine of the solar zenith. */
const pvAt = (t: number, peak: number) =>
  peak * Math.max(0, Math.cos((solarPosition(t, LOC).zenith * Math.PI) / 180));

/**
 * Telemetry as gateways send it: every 5 minutes, inverter `w` (generation +) and meter `w`
 * (export +) = PV − load. The service must downsample to 15 min and derive load = inverter − meter.
 */
function telemetry(site: string, from: number, to: number, scale: number, peak: number): PointRow[] {
  const rows: PointRow[] = [];
  for (let t = from; t < to; t += 5 * MIN) {
    const pv = pvAt(t, peak);
    rows.push({ site, device: 'inv1', point: 'w', ts: t, value: pv });
    rows.push({ site, device: 'm1', point: 'w', ts: t, value: pv - loadAt(t, scale) });
  }
  return rows;
}

const caps = (site: string) =>
  capabilitiesSchema.parse({
    v: 1,
    site,
    ts: Date.now(),
    devices: [
      { id: 'inv1', kind: 'inverter', protocol: 'sunspec-tcp', nameplate: { w_max: 5000 }, controls: [] },
      { id: 'm1', kind: 'meter', protocol: 'sunspec-tcp', nameplate: {}, controls: [] },
    ],
  });

describe('forecasts in the cloud (scheduled from stored telemetry, served by the API)', function () {
  this.timeout(120_000);
  let t: TestCloud;
  const issue = Math.ceil(Date.now() / STEP) * STEP;
  let viewer = '';

  before(async () => {
    t = await startTestCloud({
      forecast: { enabled: false, location: LOC, timeZone: 'UTC', everyMinutes: 60 },
    });
    for (const [site, days, scale, peak] of [
      ['s1', 21, 1, 4000],
      ['s2', 21, 2, 2000],
      ['s3', 3, 1, 4000],
    ] as const) {
      assert.equal((await t.api('POST', '/sites', { body: { id: site } })).status, 201);
      await t.cloud.registry.applyCapabilities(caps(site));
      await t.cloud.store.write(telemetry(site, issue - days * DAY, issue, scale, peak));
    }
    assert.equal((await t.api('POST', '/sites', { body: { id: 's4' } })).status, 201);
    for (const [id, sites] of [
      ['g1', ['s1', 's2']],
      ['g3', ['s3']],
    ] as const) {
      const r = await t.api('POST', '/groups', { body: { id, name: id, kind: 'vpp', sites } });
      assert.equal(r.status, 201);
    }
    const u = await t.api<{ id: string }>('POST', '/users', {
      body: { name: 'site owner', role: 'viewer', scopes: [{ kind: 'site', target: 's1' }] },
    });
    viewer = (await t.api<{ token: string }>('POST', `/users/${u.body.id}/tokens`, { body: {} })).body.token;
  });
  after(async () => t?.stop());

  it('says 404 before any run, then a run forecasts every site and group', async () => {
    assert.equal((await t.api('GET', '/sites/s1/forecast')).status, 404);
    const summary = await t.cloud.forecasts.runNow({ issueTime: issue });
    assert.equal(summary.issuedAt, issue);
    const st = (id: string, kind: string) =>
      summary.sites.find((s) => s.id === id && s.kind === kind)?.status;
    assert.equal(st('s1', 'load'), 'ok');
    assert.equal(st('s1', 'pv'), 'ok');
    assert.equal(st('s2', 'load'), 'ok');
    assert.equal(st('s3', 'load'), 'insufficient_history');
    assert.equal(st('s4', 'load'), 'no_data');
  });

  it('serves a site load forecast: 96 quarter hours with ordered quantiles that follow the derived load', async () => {
    const r = await t.api<Forecast>('GET', '/sites/s1/forecast?kind=load');
    assert.equal(r.status, 200);
    const f = r.body;
    assert.equal(f.issuedAt, issue);
    assert.equal(f.issuedAtIso, new Date(issue).toISOString());
    assert.match(f.modelVersion, /^load-similar-day\//);
    assert.equal(f.stepMs, STEP);
    assert.equal(f.intervals.length, 96);
    assert.equal(f.intervals[0].start, issue);
    let absErr = 0;
    let sum = 0;
    for (const iv of f.intervals) {
      assert.ok(iv.p10 <= iv.p50 && iv.p50 <= iv.p90, `quantiles ordered at ${iv.start}`);
      // Load = inverter − meter export, averaged over the quarter hour.
      let truth = 0;
      for (let k = 0; k < 3; k++) truth += loadAt(iv.start + k * 5 * MIN, 1) / 3;
      absErr += Math.abs(iv.p50 - truth);
      sum += truth;
    }
    assert.ok(absErr / sum < 0.1, `nMAE ${(absErr / sum).toFixed(3)} should be below 0.1`);
  });

  it('serves a PV forecast that is zero at night and positive at noon, capped by the nameplate', async () => {
    const r = await t.api<Forecast>('GET', '/sites/s1/forecast?kind=pv');
    assert.equal(r.status, 200);
    assert.match(r.body.modelVersion, /^pv-/);
    const at = (hUtc: number) =>
      r.body.intervals.find((iv) => new Date(iv.start).getUTCHours() === hUtc && iv.start % 3_600_000 === 0)!;
    assert.ok(at(0).p50 < 1, 'night');
    assert.ok(at(11).p50 > 500, `midday PV ${at(11).p50}`);
    assert.ok(r.body.intervals.every((iv) => iv.p90 <= 5000 + 1e-6));
  });

  it('aggregates group forecasts: P50 adds up over member sites', async () => {
    const [g, a, b] = await Promise.all(
      ['/groups/g1/forecast', '/sites/s1/forecast', '/sites/s2/forecast'].map((p) =>
        t.api<Forecast>('GET', `${p}?kind=load`),
      ),
    );
    assert.equal(g.status, 200);
    assert.equal(g.body.members, 2);
    assert.match(g.body.modelVersion, /^aggregate\//);
    g.body.intervals.forEach((iv, i) => {
      assert.ok(Math.abs(iv.p50 - (a.body.intervals[i].p50 + b.body.intervals[i].p50)) < 1e-6);
      assert.ok(iv.p10 <= iv.p50 && iv.p50 <= iv.p90);
    });
  });

  it('too little history: 409 with the reason, for the site and for a group of such sites', async () => {
    const s = await t.api<{ error: string }>('GET', '/sites/s3/forecast?kind=load');
    assert.equal(s.status, 409);
    assert.match(s.body.error, /too little load history/);
    const g = await t.api<{ error: string }>('GET', '/groups/g3/forecast?kind=load');
    assert.equal(g.status, 409);
    assert.match(g.body.error, /no member site has a load forecast/);
    const n = await t.api<{ error: string }>('GET', '/sites/s4/forecast?kind=load');
    assert.equal(n.status, 409);
    assert.match(n.body.error, /no meter telemetry/);
    assert.equal((await t.api('GET', '/sites/nope/forecast')).status, 404);
    assert.equal((await t.api('GET', '/sites/s1/forecast?kind=wind')).status, 400);
  });

  it('keeps to auth and scopes', async () => {
    const res = await fetch(`${t.cloud.apiUrl}/sites/s1/forecast`);
    assert.equal(res.status, 401);
    assert.equal((await t.api('GET', '/sites/s1/forecast', { token: viewer })).status, 200);
    assert.equal((await t.api('GET', '/sites/s2/forecast', { token: viewer })).status, 403);
    assert.equal((await t.api('GET', '/groups/g1/forecast', { token: viewer })).status, 403);
  });

  it('answers 409 for network calls when no feeder is configured', async () => {
    const r = await t.api<{ error: string }>('GET', '/network/powerflow');
    assert.equal(r.status, 409);
    assert.match(r.body.error, /no feeder configured/);
  });
});
