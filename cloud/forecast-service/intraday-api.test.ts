import assert from 'node:assert/strict';
import { capabilitiesSchema } from '../../protocols/mqtt/payloads.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import type { PointRow } from '../storage/timeseries/types.ts';

const MIN = 60_000;
const DAY = 86_400_000;

interface Served {
  issuedAt: number;
  modelVersion: string;
  start: number;
  stepMs: number;
  intervals: { start: number; mean: number; p10: number; p50: number; p90: number }[];
  details: Record<string, unknown>;
}

/** Household-like load (W) with an evening peak; from `jump` on it runs 400 W higher. */
const loadAt = (t: number, jump: number) => {
  const h = (t % DAY) / 3_600_000;
  return 500 + 900 * Math.exp(-(((h - 19) / 2) ** 2)) + (t >= jump ? 400 : 0);
};

describe('intraday forecasts in the cloud (stored day-ahead updated with the latest telemetry)', function () {
  this.timeout(120_000);
  let t: TestCloud;
  const now = Date.now();
  // The day-ahead forecast was issued an hour or so ago; since then the site draws 400 W more.
  const baseIssue = Math.floor(now / (15 * MIN)) * 15 * MIN - 60 * MIN;

  before(async () => {
    t = await startTestCloud({ forecast: { enabled: false, timeZone: 'UTC' } });
    assert.equal((await t.api('POST', '/sites', { body: { id: 's1' } })).status, 201);
    await t.cloud.registry.applyCapabilities(
      capabilitiesSchema.parse({
        v: 1,
        site: 's1',
        ts: now,
        devices: [{ id: 'm1', kind: 'meter', protocol: 'sunspec-tcp', nameplate: {}, controls: [] }],
      }),
    );
    const rows: PointRow[] = [];
    const first = Math.floor(now / (5 * MIN)) * 5 * MIN - 21 * DAY;
    for (let ts = first; ts < now; ts += 5 * MIN)
      rows.push({ site: 's1', device: 'm1', point: 'w', ts, value: -loadAt(ts, baseIssue) });
    await t.cloud.store.write(rows);
    const run = await t.cloud.forecasts.runNow({ issueTime: baseIssue });
    assert.equal(run.sites.find((s) => s.kind === 'load')?.status, 'ok');
  });
  after(async () => t?.stop());

  it('serves 5-minute intervals from the one in progress, the recent level error fading into the day-ahead', async () => {
    const base = await t.api<Served>('GET', '/sites/s1/forecast?kind=load');
    assert.equal(base.status, 200);
    assert.equal(base.body.issuedAt, baseIssue);
    const r = await t.api<Served>('GET', '/sites/s1/forecast/intraday?kind=load');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const f = r.body;
    const issue = f.start;
    assert.equal(issue % (5 * MIN), 0);
    assert.ok(issue <= Date.now() && issue > Date.now() - 10 * MIN, 'starts at the interval in progress');
    assert.equal(f.stepMs, 5 * MIN);
    assert.equal(f.intervals.length, 72);
    assert.match(f.modelVersion, /^intraday\/1\(load-similar-day\//);
    const baseAt = (x: number, q: 'mean' | 'p50' = 'p50') => {
      const iv = base.body.intervals.find((b) => b.start <= x && x < b.start + base.body.stepMs);
      assert.ok(iv, `base covers ${x}`);
      return iv[q];
    };
    // By hand: the mean error of the last hour's twelve 5-minute intervals against the day-ahead's expected value …
    let d = 0;
    for (let k = 1; k <= 12; k++)
      d += (loadAt(issue - k * 5 * MIN, baseIssue) - baseAt(issue - k * 5 * MIN, 'mean')) / 12;
    assert.ok(d > 250, `the site runs above its day-ahead forecast (${d} W)`);
    // … fading with a 30-minute time constant from the interval's middle.
    f.intervals.forEach((iv, j) => {
      const expected = baseAt(iv.start) + d * Math.exp(-(j * 5 + 2.5) / 30);
      assert.ok(
        Math.abs(iv.p50 - expected) < 1e-6 * Math.max(1, expected),
        `interval ${j}: ${iv.p50} vs ${expected}`,
      );
    });
    assert.equal(f.details.telemetryIntervals, 12);
  });

  it('says 409 when no stored forecast covers the horizon, 400/404 for bad requests', async () => {
    const pv = await t.api<{ error: string }>('GET', '/sites/s1/forecast/intraday?kind=pv');
    assert.equal(pv.status, 409);
    assert.match(pv.body.error, /no stored pv forecast of site s1 covers the next 360 min/);
    assert.equal((await t.api('GET', '/sites/s1/forecast/intraday?horizonMinutes=400')).status, 400);
    assert.equal((await t.api('GET', '/sites/nope/forecast/intraday')).status, 404);
  });
});
