import assert from 'node:assert/strict';
import { syntheticLoad, syntheticResidentialPv } from '../../test-support/forecast/synthetic.ts';
import { backtestIntraday, forecastIntraday } from './intraday.ts';
import type { Forecast } from './types.ts';

const MIN = 60_000;
const STEP = 5 * MIN;

/** A flat day-ahead forecast of `v` on the 5-minute grid from t0 for n intervals. */
const flat = (kind: 'pv' | 'load', t0: number, n: number, v: number): Forecast => ({
  kind,
  modelVersion: 'test/1',
  issuedAt: t0,
  start: t0,
  stepMs: STEP,
  mean: new Array(n).fill(v),
  p10: new Array(n).fill(0.5 * v),
  p50: new Array(n).fill(v),
  p90: new Array(n).fill(1.5 * v),
  details: {},
});

describe('intraday forecasts (5 min to 6 h, updated with telemetry)', function () {
  this.timeout(60_000);
  const t0 = Date.UTC(2024, 5, 1, 6);
  const issue = t0 + 60 * MIN;

  it('PV: the recent clear-sky index fades into the day-ahead shape; telemetry after the issue is ignored', () => {
    // Day-ahead says 2 kW all morning; the last 15 min delivered 1 kW, the very last 5 min 0.5 kW.
    const values = new Float64Array(24 * 12).fill(Number.NaN);
    for (let k = 9; k < 12; k++) values[k] = 1;
    values[11] = 0.5;
    for (let k = 12; k < values.length; k++) values[k] = 99; // "future" telemetry must not matter
    const history = { start: t0, stepMs: STEP, values };
    const f = forecastIntraday(history, flat('pv', t0, 24 * 12, 2), {
      kind: 'pv',
      issueTime: issue,
      horizonMs: 6 * 60 * MIN,
    });
    assert.equal(f.p50.length, 72);
    // r = (1 + 1 + 0.5) / (3 · 2) = 5/12 over the lookback, r₁ = 0.25 for the last interval.
    const r = 2.5 / 6;
    const r1 = 0.25;
    f.p50.forEach((v, j) => {
      const lead = j * STEP + STEP / 2;
      const factor = 1 + (r - 1) * Math.exp(-lead / (90 * MIN)) + (r1 - r) * Math.exp(-lead / (15 * MIN));
      assert.ok(Math.abs(v - 2 * factor) < 1e-9, `interval ${j}: ${v} vs ${2 * factor}`);
      assert.ok(Math.abs(f.p90[j] - 3 * factor) < 1e-9);
    });
    assert.ok(f.p50[0] < 0.7 && f.p50[71] > 1.7, 'starts near the latest value, ends near the day-ahead');
  });

  it('load: the recent level error persists and fades', () => {
    const values = new Float64Array(24 * 12).fill(Number.NaN);
    for (let k = 0; k < 12; k++) values[k] = 1.3; // the hour before the issue ran 0.3 kW above the forecast
    const f = forecastIntraday({ start: t0, stepMs: STEP, values }, flat('load', t0, 24 * 12, 1), {
      kind: 'load',
      issueTime: issue,
    });
    f.p50.forEach((v, j) => {
      const d = 0.3 * Math.exp(-(j * STEP + STEP / 2) / (30 * MIN));
      assert.ok(Math.abs(v - (1 + d)) < 1e-9, `interval ${j}`);
      assert.ok(Math.abs(f.p10[j] - (0.5 + d)) < 1e-9);
    });
    assert.throws(
      () =>
        forecastIntraday({ start: t0, stepMs: STEP, values }, flat('load', t0, 24 * 12, 1), {
          kind: 'load',
          issueTime: issue,
          horizonMs: 7 * 60 * MIN,
        }),
      /at most 6 h/,
    );
  });

  it('beats 5-minute persistence from 30 minutes to 6 hours ahead (PV and load backtests)', () => {
    const site = { latitude: 48.1, longitude: 11.6, tilt: 30, azimuth: 190, capacity: 5 };
    const pv = syntheticResidentialPv({
      start: Date.UTC(2024, 3, 1),
      days: 40,
      stepMs: STEP,
      seed: 4,
      site,
      obstructions: [],
    });
    const rp = backtestIntraday(pv, {
      kind: 'pv',
      timeZone: 'UTC',
      testDays: 6,
      site: { latitude: 48.1, longitude: 11.6, capacity: 5 },
    });
    assert.equal(rp.forecasts_issued, 6 * 23);
    assert.deepEqual(
      rp.buckets.map((b) => b.lead_minutes),
      [
        [0, 30],
        [30, 60],
        [60, 120],
        [120, 240],
        [240, 360],
      ],
    );
    for (const b of rp.buckets.slice(1)) assert.ok(b.skill > 0.1, `PV skill ${b.skill} at ${b.lead_minutes}`);
    // In the first half hour it is still better than the day-ahead forecast it updates.
    assert.ok(rp.buckets[0].skill_vs_day_ahead > 0.1, `vs day-ahead ${rp.buckets[0].skill_vs_day_ahead}`);
    const load = syntheticLoad({
      start: Date.UTC(2024, 3, 1),
      days: 40,
      stepMs: STEP,
      timeZone: 'UTC',
      seed: 2,
    });
    const rl = backtestIntraday(load, { kind: 'load', timeZone: 'UTC', testDays: 6 });
    for (const b of rl.buckets) assert.ok(b.skill > 0.15, `load skill ${b.skill} at ${b.lead_minutes}`);
  });
});
