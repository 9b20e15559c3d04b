import assert from 'node:assert/strict';
import { persistenceForecast, persistenceTime, scoreForecast, scoreMetrics } from './scoring.ts';

const H = 3_600_000;
const DAY = 24 * H;
const STEP = 15 * 60_000;

describe('forecast scoring (pure)', () => {
  it('baselines only copy intervals that had ended by the issue time', () => {
    const issue = Date.UTC(2024, 5, 10, 12); // noon UTC
    // 13:00 today: yesterday's 13:00 had ended → one day back.
    assert.equal(persistenceTime('UTC', issue + H, issue, STEP, 1), issue + H - DAY);
    // 13:00 tomorrow: today's 13:00 had not happened by noon → two days back.
    assert.equal(persistenceTime('UTC', issue + DAY + H, issue, STEP, 1), issue + H - DAY);
    // 11:45 tomorrow: today's 11:45 ended at noon → one day back.
    assert.equal(persistenceTime('UTC', issue + DAY - STEP, issue, STEP, 1), issue - STEP);
    // Weekly: whole weeks back — 13:00 in six days: one week back is yesterday 13:00; in seven days, two weeks.
    assert.equal(persistenceTime('UTC', issue + 6 * DAY + H, issue, STEP, 7), issue + H - DAY);
    assert.equal(persistenceTime('UTC', issue + 7 * DAY + H, issue, STEP, 7), issue + H - 7 * DAY);
  });

  it('keeps local wall-clock time across a DST change', () => {
    // Berlin: 2024-03-31 02:00 → 03:00. 2024-04-01 12:00 local = 10:00 UTC; a day before = 11:00 UTC.
    const t = Date.UTC(2024, 3, 1, 10);
    assert.equal(persistenceTime('Europe/Berlin', t, t, STEP, 1), Date.UTC(2024, 2, 31, 10));
    assert.equal(persistenceTime('Europe/Berlin', t, t, STEP, 7), Date.UTC(2024, 2, 25, 11));
  });

  it('sums errors, pinball losses and quantile hits on intervals where actual and both baselines exist', () => {
    const start = Date.UTC(2024, 0, 8); // day 7 of the series
    // Actual per quarter hour: 10 on all days before, then [12, 8, NaN, 10] on the scored day.
    const values = new Float64Array(8 * 96).fill(10);
    const day = 7 * 96;
    values.set([12, 8, Number.NaN, 10], day);
    const actual = { start: Date.UTC(2024, 0, 1), stepMs: STEP, values };
    const f = {
      issuedAt: start,
      start,
      stepMs: STEP,
      p10: [9, 9, 9, 9],
      p50: [11, 11, 11, 11],
      p90: [13, 13, 13, 13],
    };
    const s = scoreForecast(f, actual, 'UTC');
    // Scored: 12, 8, 10 (the NaN is skipped). Errors y − p50: 1, −3, −1.
    assert.equal(s.n, 3);
    assert.equal(s.absErr, 5);
    assert.equal(s.sqErr, 11);
    // Baselines are 10 everywhere: |y − 10| = 2, 2, 0.
    assert.equal(s.absErr1d, 4);
    assert.equal(s.absErr7d, 4);
    // Pinball P10 (9): 0.1·3 + 0.9·1 + 0.1·1 = 1.3; P50 (11): 0.5·(1 + 3 + 1) = 2.5; P90 (13): 0.1·(1 + 5 + 3) = 0.9.
    assert.ok(Math.abs(s.pin10 - 1.3) < 1e-12);
    assert.ok(Math.abs(s.pin50 - 2.5) < 1e-12);
    assert.ok(Math.abs(s.pin90 - 0.9) < 1e-12);
    assert.deepEqual([s.below10, s.below50, s.below90, s.inBand], [1, 2, 3, 2]);
    const m = scoreMetrics(s);
    assert.ok(m);
    assert.ok(Math.abs(m.mae - 5 / 3) < 1e-12);
    assert.ok(Math.abs(m.skill - (1 - 5 / 4)) < 1e-12);
    assert.equal(m.better_baseline, 'persistence_7d'); // a tie goes to the weekly baseline
  });

  it('a persistence forecast is the baseline it names', () => {
    const values = Float64Array.from({ length: 14 * 96 }, (_, i) => i);
    const h = { start: 0, stepMs: STEP, values };
    const issue = 10 * DAY;
    const p = persistenceForecast(h, issue, STEP, 3, 'UTC', 'persistence_7d');
    assert.deepEqual(p, [3 * 96, 3 * 96 + 1, 3 * 96 + 2]);
    assert.equal(
      scoreMetrics({
        ...scoreForecast({ issuedAt: 0, start: 0, stepMs: STEP, p10: [], p50: [], p90: [] }, h, 'UTC'),
      }),
      undefined,
    );
  });
});
