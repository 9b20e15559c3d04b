import assert from 'node:assert/strict';
import { syntheticLoad } from '../../test-support/forecast/synthetic.ts';
import { backtest } from './backtest.ts';
import { forecastSite } from './forecast-site.ts';
import { localDayStart, parseLocalDate } from './timezone.ts';

const TZ = 'Europe/Berlin';
const START = Date.UTC(2023, 11, 31, 23); // 2024-01-01 00:00 CET
const STEP = 900_000;

describe('load model', () => {
  it('clearly beats both persistence baselines on a weekly pattern with noise', () => {
    const s = syntheticLoad({ start: START, days: 90, stepMs: STEP, timeZone: TZ, seed: 11 });
    const r = backtest(s, { kind: 'load', timeZone: TZ, testDays: 21 });
    assert.ok(r.skill > 0.15, `skill ${r.skill}`);
    assert.ok(r.model.mae_kw < r.baselines.persistence_1d.mae_kw);
    assert.ok(r.model.mae_kw < r.baselines.persistence_7d.mae_kw);
    assert.equal(r.model.intervals, r.baselines.persistence_7d.intervals);
    // Quantiles: P10–P90 should hold roughly 80% of observations, and pinball at P50 = MAE/2.
    assert.ok(r.coverage_p10_p90 > 0.65 && r.coverage_p10_p90 < 0.92, `coverage ${r.coverage_p10_p90}`);
    assert.ok(Math.abs(r.pinball_kw.p50 - r.model.mae_kw / 2) < 1e-9);
  });

  it('orders quantiles P10 ≤ P50 ≤ P90 and never forecasts negative load', () => {
    const s = syntheticLoad({ start: START, days: 40, stepMs: STEP, timeZone: TZ, seed: 3 });
    const f = forecastSite(s, {
      kind: 'load',
      timeZone: TZ,
      issueTime: localDayStart(TZ, parseLocalDate('2024-02-05')),
    });
    assert.equal(f.p50.length, 96);
    for (let j = 0; j < 96; j++) {
      assert.ok(f.p10[j] >= 0 && f.p10[j] <= f.p50[j] && f.p50[j] <= f.p90[j], `interval ${j}`);
    }
    assert.ok(
      f.p90.some((v, j) => v > f.p10[j]),
      'bands are not degenerate',
    );
  });

  it('uses only data before the issue time', () => {
    const s = syntheticLoad({ start: START, days: 40, stepMs: STEP, timeZone: TZ, seed: 4 });
    const issue = localDayStart(TZ, parseLocalDate('2024-02-01'));
    const a = forecastSite(s, { kind: 'load', timeZone: TZ, issueTime: issue });
    const tampered = { ...s, values: s.values.slice() };
    const from = (issue - s.start) / STEP;
    for (let i = from; i < tampered.values.length; i++) tampered.values[i] = 1000;
    const b = forecastSite(tampered, { kind: 'load', timeZone: TZ, issueTime: issue });
    assert.deepEqual(b.p50, a.p50);
  });

  it('treats configured holidays like Sundays', () => {
    const holidays = ['2024-02-12', '2024-02-20', '2024-03-01', '2024-03-07', '2024-03-12', '2024-03-21'];
    const s = syntheticLoad({
      start: START,
      days: 90,
      stepMs: STEP,
      timeZone: TZ,
      seed: 5,
      holidays,
      noise: 0.1,
    });
    const issue = localDayStart(TZ, parseLocalDate('2024-03-21'));
    const truth = Array.from(s.values.subarray((issue - s.start) / STEP, (issue - s.start) / STEP + 96));
    const mae = (f: number[]) => f.reduce((a, v, j) => a + Math.abs(v - truth[j]), 0) / 96;
    const withList = forecastSite(s, { kind: 'load', timeZone: TZ, issueTime: issue, holidays });
    const without = forecastSite(s, { kind: 'load', timeZone: TZ, issueTime: issue });
    assert.ok(mae(withList.p50) < 0.6 * mae(without.p50), `${mae(withList.p50)} vs ${mae(without.p50)}`);
  });

  it('uses temperature when supplied', () => {
    // Day-to-day temperature swings drive electric heating; calendar alone cannot see them.
    const daily = Array.from({ length: 120 }, (_, d) => 8 + 7 * Math.sin(d * 1.7) + 3 * Math.cos(d * 0.45));
    const tempAt = (t: number) => daily[Math.floor((t - START) / 86_400_000)] ?? 10;
    const s = syntheticLoad({
      start: START,
      days: 100,
      stepMs: STEP,
      timeZone: TZ,
      seed: 6,
      temperature: tempAt,
      heatingPerDegree: 0.15,
    });
    const temperature = {
      start: START,
      stepMs: STEP,
      values: Float64Array.from(s.values, (_, i) => tempAt(START + i * STEP)),
    };
    const plain = backtest(s, { kind: 'load', timeZone: TZ, testDays: 21 });
    const withT = backtest(s, { kind: 'load', timeZone: TZ, testDays: 21, temperature });
    assert.ok(
      withT.model.mae_kw < 0.85 * plain.model.mae_kw,
      `${withT.model.mae_kw} vs ${plain.model.mae_kw}`,
    );
    assert.ok(withT.skill > plain.skill);
  });

  it('forecasts the whole local day on DST changes (23 h and 25 h) and scores each interval once', () => {
    const s = syntheticLoad({ start: START, days: 305, stepMs: STEP, timeZone: TZ, seed: 7 });
    const spring = forecastSite(s, {
      kind: 'load',
      timeZone: TZ,
      issueTime: localDayStart(TZ, parseLocalDate('2024-03-31')),
      horizonMs: 23 * 3_600_000,
    });
    assert.equal(spring.p50.length, 92);
    const r = backtest(s, { kind: 'load', timeZone: TZ, testDays: 6 }); // ends 2024-10-31, covers 2024-10-27
    assert.equal(r.forecasts_issued, 6);
    assert.equal(r.intervals_scored, 6 * 96 + 4); // the 25-hour day has 100 intervals
    assert.ok(r.skill > 0);
  });

  it('says clearly when there is too little history', () => {
    const s = syntheticLoad({ start: START, days: 5, stepMs: STEP, timeZone: TZ, seed: 8 });
    assert.throws(
      () => forecastSite(s, { kind: 'load', timeZone: TZ }),
      /too little load history: 5 day\(s\)/,
    );
    assert.throws(() => backtest(s, { kind: 'load', timeZone: TZ, testDays: 2 }), /too little history/);
  });
});
