import assert from 'node:assert/strict';
import { gaussian, syntheticLoad, syntheticResidentialPv } from '../../test-support/forecast/synthetic.ts';
import { seededRandom } from '../random.ts';
import { backtest } from './backtest.ts';
import { parseNwpJson } from './nwp.ts';

const STEP = 900_000;
const TZ = 'Europe/Berlin';

describe('backtest: per-month scores and calibrated P10–P90 bands on held-back days', function () {
  this.timeout(60_000);

  it('load: months add up to the whole, and P10–P90 covers 80 % ± 5 % of 120 held-back days', () => {
    const s = syntheticLoad({
      start: Date.UTC(2023, 11, 31, 23),
      days: 200,
      stepMs: STEP,
      timeZone: TZ,
      seed: 4,
    });
    const r = backtest(s, { kind: 'load', timeZone: TZ, testDays: 120 });
    assert.ok(r.coverage_p10_p90 >= 0.75 && r.coverage_p10_p90 <= 0.85, `coverage ${r.coverage_p10_p90}`);
    // Test days 2024-03-04 … 2024-07-01 (local): five months, the first and last partial.
    assert.deepEqual(
      r.months.map((m) => m.month),
      ['2024-03', '2024-04', '2024-05', '2024-06', '2024-07'],
    );
    assert.equal(
      r.months.reduce((a, m) => a + m.forecasts, 0),
      120,
    );
    assert.equal(
      r.months.reduce((a, m) => a + m.intervals, 0),
      r.intervals_scored,
    );
    // The interval-weighted mean of the monthly MAEs is the overall MAE.
    const mae = r.months.reduce((a, m) => a + m.mae_kw * m.intervals, 0) / r.intervals_scored;
    assert.ok(Math.abs(mae - r.model.mae_kw) < 1e-9);
    for (const m of r.months) {
      const base = Math.min(m.persistence_1d_mae_kw, m.persistence_7d_mae_kw);
      assert.ok(Math.abs(m.skill - (1 - m.mae_kw / base)) < 1e-12, m.month);
    }
  });

  it('PV: P10–P90 covers 80 % ± 5 % of 120 held-back days (residential, variable weather), nights not counted', () => {
    const site = { latitude: 48.1, longitude: 11.6, tilt: 30, azimuth: 190, capacity: 5 };
    const s = syntheticResidentialPv({
      start: Date.UTC(2024, 0, 1),
      days: 180,
      stepMs: STEP,
      seed: 8,
      site,
      obstructions: [{ from: 110, to: 165, elevation: 17 }],
    });
    const r = backtest(s, {
      kind: 'pv',
      timeZone: TZ,
      testDays: 120,
      site: { latitude: site.latitude, longitude: site.longitude, capacity: site.capacity },
    });
    assert.ok(r.coverage_p10_p90 >= 0.75 && r.coverage_p10_p90 <= 0.85, `coverage ${r.coverage_p10_p90}`);
  });

  it('PV with a day-ahead NWP run each noon (simulated, 25 % daily / 20 % hourly GHI error): ≥ 10 % better every month, bands calibrated', () => {
    const site = { latitude: 48.1, longitude: 11.6, tilt: 30, azimuth: 190, capacity: 5 };
    const start = Date.UTC(2024, 0, 1);
    const days = 150;
    const ghi = new Float64Array(days * 96);
    const s = syntheticResidentialPv({
      start,
      days,
      stepMs: STEP,
      seed: 11,
      site,
      obstructions: [{ from: 110, to: 165, elevation: 17 }],
      ghiOut: ghi,
    });
    // The "weather service": the simulated GHI, hourly, with a daily error factor and hourly noise,
    // issued at 12:00 UTC for the next day (stamped at the end of each hour, as Open-Meteo does).
    const r = seededRandom(5);
    const runs = [];
    for (let d = 0; d < days - 2; d++) {
      const issued = start + d * 86_400_000 + 12 * 3_600_000;
      const from = issued + 12 * 3_600_000 - 3_600_000; // 23:00 UTC = local midnight
      const daily = Math.exp(0.25 * gaussian(r));
      const time: string[] = [];
      const sw: number[] = [];
      for (let h = 0; h < 30; h++) {
        const t0 = from + h * 3_600_000;
        let mean = 0;
        for (let q = 0; q < 4; q++) mean += (ghi[(t0 - start) / STEP + q] ?? 0) / 4;
        time.push(new Date(t0 + 3_600_000).toISOString().slice(0, 16));
        sw.push(Math.max(0, mean * daily * (1 + 0.2 * gaussian(r))));
      }
      runs.push({ issued_at: new Date(issued).toISOString(), hourly: { time, shortwave_radiation: sw } });
    }
    const res = backtest(s, {
      kind: 'pv',
      timeZone: TZ,
      testDays: 60,
      site: { latitude: site.latitude, longitude: site.longitude, capacity: site.capacity },
      nwp: parseNwpJson(JSON.stringify(runs), 'simulated-runs.json'),
    });
    for (const m of res.months) assert.ok(m.skill >= 0.1, `${m.month}: skill ${m.skill}`);
    assert.ok(
      res.coverage_p10_p90 >= 0.75 && res.coverage_p10_p90 <= 0.85,
      `coverage ${res.coverage_p10_p90}`,
    );
  });
});
