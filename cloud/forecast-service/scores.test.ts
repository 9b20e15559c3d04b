import assert from 'node:assert/strict';
import { emptySums, type ScoreSums } from '../forecast/index.ts';
import { assess, scoreReport, sumSeries } from './scores.ts';
import type { ScoreGroup } from './store.ts';

/** Score sums of n intervals with the given MAEs of model, persistence_1d and persistence_7d. */
const sums = (n: number, mae: number, mae1: number, mae7: number): ScoreSums => ({
  ...emptySums(),
  n,
  absErr: mae * n,
  sqErr: mae * mae * n,
  absErr1d: mae1 * n,
  absErr7d: mae7 * n,
  inBand: n / 2,
});
const group = (
  modelVersion: string,
  served: ScoreGroup['served'],
  forecasts: number,
  lastIssue: number,
  s: ScoreSums,
): ScoreGroup => ({ modelVersion, served, forecasts, firstIssue: lastIssue - forecasts, lastIssue, sums: s });

describe('score verdicts (flag and fallback rules)', () => {
  it('flags only with enough scored intervals and skill below zero against the better baseline', () => {
    // Model MAE 12, baselines 10 (1 d) and 11 (7 d): skill vs the better (1 d) = 1 − 12/10 = −0.2.
    const worse = [group('m/1', 'model', 3, 300, sums(288, 12, 10, 11))];
    const a = assess(worse, undefined, 7, 288);
    assert.equal(a.flagged, true);
    assert.equal(a.betterBaseline, 'persistence_1d');
    assert.ok(Math.abs((a.skill as number) + 0.2) < 1e-12);
    // One interval short of the minimum: not yet.
    const few = assess([group('m/1', 'model', 3, 300, sums(287, 12, 10, 11))], undefined, 7, 288);
    assert.equal(few.flagged, false);
    assert.match(few.reason, /only 287 scored interval/);
    // Better than the better baseline: MAE 9 vs 10 → skill 0.1.
    const better = assess([group('m/1', 'model', 3, 300, sums(288, 9, 10, 11))], undefined, 7, 288);
    assert.equal(better.flagged, false);
    assert.ok(Math.abs((better.skill as number) - 0.1) < 1e-12);
    assert.equal(assess([], undefined, 7, 288).flagged, false);
  });

  it('judges the model on all its forecasts, served or replaced, so a fallback ends when the model recovers', () => {
    // Three days served as made (MAE 12 vs 10) and then a week replaced by the baseline while the
    // model, still scored, did better (MAE 8 vs 10): together (3·12 + 7·8)/10 = 9.2 → skill 0.08.
    const groups = [
      group('m/1', 'model', 3, 100, sums(3 * 96, 12, 10, 10)),
      group('m/1', 'persistence_1d', 7, 200, sums(7 * 96, 8, 10, 10)),
    ];
    const a = assess(groups, 'm/1', 7, 288);
    assert.equal(a.flagged, false);
    assert.ok(Math.abs((a.skill as number) - (1 - 9.2 / 10)) < 1e-12);
    const [m] = scoreReport(groups);
    assert.deepEqual(m.served, { model: 3, persistence_1d: 7, persistence_7d: 0 });
    assert.equal(m.forecasts, 10);
    assert.equal(m.metrics?.intervals, 10 * 96);
  });

  it('reports model versions latest first and judges the one asked for', () => {
    const groups = [
      group('m/1', 'model', 5, 100, sums(500, 12, 10, 10)),
      group('m/2', 'model', 2, 200, sums(300, 9, 10, 10)),
    ];
    assert.deepEqual(
      scoreReport(groups).map((m) => m.modelVersion),
      ['m/2', 'm/1'],
    );
    assert.equal(assess(groups, undefined, 7, 288).modelVersion, 'm/2');
    assert.equal(assess(groups, 'm/1', 7, 288).flagged, true);
  });

  it('sums member series; a member without data makes the group unknown', () => {
    const a = { start: 0, stepMs: 10, values: Float64Array.from([1, 2, 3]) };
    const b = { start: 10, stepMs: 10, values: Float64Array.from([10, Number.NaN]) };
    const s = sumSeries([a, b], 0, 30, 10);
    assert.ok(s);
    assert.ok(Number.isNaN(s.values[0]), 'b has no value at 0');
    assert.equal(s.values[1], 12);
    assert.ok(Number.isNaN(s.values[2]));
    assert.equal(sumSeries([a, undefined], 0, 30, 10), null);
  });
});
