/**
 * Day-ahead backtest: for each of the last `testDays` local days, issue a forecast at local 00:00
 * from data strictly before it, and score it against what happened and against two naive baselines
 * — persistence_1d (same wall-clock interval yesterday) and persistence_7d (same interval last
 * week). All methods are scored on the same intervals (observation and both baselines present), so
 * the skill compares like with like. A 24 h horizon means the whole local day (23 or 25 h on DST
 * changes), so every interval is scored exactly once.
 */
import { type ForecastSiteOptions, forecastSite } from './forecast-site.ts';
import { LEVELS } from './quantiles.ts';
import { DAY_MS, type RegularSeries, valueAt } from './series.ts';
import { errorStats, pinball } from './stats.ts';
import { formatLocalDay, localDayStart, localTime, sameLocalTimeDaysAgo } from './timezone.ts';

export interface BacktestOptions extends Omit<ForecastSiteOptions, 'issueTime'> {
  testDays: number;
  onProgress?: (done: number, total: number) => void;
}

export interface MethodScore {
  mae_kw: number;
  rmse_kw: number;
  nmae: number;
  intervals: number;
}

export interface BacktestResult {
  kind: string;
  model_version: string;
  timezone: string;
  resolution_minutes: number;
  horizon_hours: number;
  test_days: number;
  first_issue: string;
  last_issue: string;
  forecasts_issued: number;
  intervals_scored: number;
  model: MethodScore & { skill: number };
  baselines: { persistence_1d: MethodScore; persistence_7d: MethodScore };
  better_baseline: 'persistence_1d' | 'persistence_7d';
  skill: number;
  pinball_kw: { p10: number; p50: number; p90: number; mean: number };
  /**
   * Share of actuals inside P10–P90, on the intervals where something is uncertain: night
   * intervals of PV (band [0, 0] and actual 0) would count as covered and are left out.
   */
  coverage_p10_p90: number;
  /** Per local calendar month of the issue day: the same scores, so no season hides in the average. */
  months: MonthScore[];
}

export interface MonthScore {
  month: string;
  forecasts: number;
  intervals: number;
  mae_kw: number;
  persistence_1d_mae_kw: number;
  persistence_7d_mae_kw: number;
  better_baseline: 'persistence_1d' | 'persistence_7d';
  skill: number;
  coverage_p10_p90: number;
}

const skillOf = (mae: number, base: number) =>
  base > 0 ? 1 - mae / base : mae === 0 ? 0 : Number.NEGATIVE_INFINITY;

/** Whether an interval counts for band coverage: not a certain zero (PV at night). */
const uncertain = (y: number, p10: number, p90: number) => p90 > p10 || y !== 0;

/** Minimum history before the first test day: a week, so persistence_7d exists from the start. */
export const MIN_TRAIN_DAYS = 7;

/** The local days to test: the last `testDays` with data, after at least MIN_TRAIN_DAYS of history. */
function testDayRange(series: RegularSeries, tz: string, testDays: number) {
  const step = series.stepMs;
  let firstIdx = -1;
  let lastIdx = -1;
  series.values.forEach((v, i) => {
    if (!Number.isNaN(v)) {
      if (firstIdx < 0) firstIdx = i;
      lastIdx = i;
    }
  });
  if (firstIdx < 0) throw new Error('no data values in the input');
  const firstDay = localTime(tz, series.start + firstIdx * step).day;
  const lastDay = localTime(tz, series.start + lastIdx * step).day;
  const firstTestDay = lastDay - testDays + 1;
  const trainDays = firstTestDay - firstDay;
  if (trainDays < MIN_TRAIN_DAYS) {
    throw new Error(
      `too little history: the data covers ${lastDay - firstDay + 1} local day(s) (${formatLocalDay(firstDay)} to ${formatLocalDay(lastDay)}); ` +
        `${testDays} test day(s) need at least ${MIN_TRAIN_DAYS} more days before them (use fewer --test-days or more data)`,
    );
  }
  return { firstTestDay, lastDay };
}

/** The scored intervals: actuals, model P50, both baselines, P10/P50/P90 and the issue day's month. */
interface Scored {
  obs: number[];
  model: number[];
  b1: number[];
  b7: number[];
  q: number[][];
  monthOf: string[];
}

/** P10–P90 coverage over all scored intervals, and the scores per local month of the issue day. */
function coverageAndMonths(sc: Scored, forecastsInMonth: Map<string, number>) {
  const { obs, model, b1, b7, q, monthOf } = sc;
  let covered = 0;
  let counted = 0;
  const perMonth = new Map<
    string,
    { n: number; e: number; e1: number; e7: number; cov: number; cnt: number }
  >();
  for (let i = 0; i < obs.length; i++) {
    let pm = perMonth.get(monthOf[i]);
    if (!pm) {
      pm = { n: 0, e: 0, e1: 0, e7: 0, cov: 0, cnt: 0 };
      perMonth.set(monthOf[i], pm);
    }
    pm.n++;
    pm.e += Math.abs(obs[i] - model[i]);
    pm.e1 += Math.abs(obs[i] - b1[i]);
    pm.e7 += Math.abs(obs[i] - b7[i]);
    if (!uncertain(obs[i], q[0][i], q[2][i])) continue;
    counted++;
    pm.cnt++;
    if (obs[i] >= q[0][i] && obs[i] <= q[2][i]) {
      covered++;
      pm.cov++;
    }
  }
  const months: MonthScore[] = [...perMonth].map(([month, pm]) => {
    const [mae, mae1, mae7] = [pm.e / pm.n, pm.e1 / pm.n, pm.e7 / pm.n];
    return {
      month,
      forecasts: forecastsInMonth.get(month) ?? 0,
      intervals: pm.n,
      mae_kw: mae,
      persistence_1d_mae_kw: mae1,
      persistence_7d_mae_kw: mae7,
      better_baseline: mae7 <= mae1 ? 'persistence_7d' : 'persistence_1d',
      skill: skillOf(mae, Math.min(mae1, mae7)),
      coverage_p10_p90: pm.cnt ? pm.cov / pm.cnt : Number.NaN,
    };
  });
  return { covered, counted, months };
}

export function backtest(series: RegularSeries, opts: BacktestOptions): BacktestResult {
  const tz = opts.timeZone ?? 'UTC';
  const step = series.stepMs;
  const horizonMs = opts.horizonMs ?? DAY_MS;
  if (horizonMs > DAY_MS) throw new Error('day-ahead backtest supports horizons up to 24h');
  const { firstTestDay, lastDay } = testDayRange(series, tz, opts.testDays);

  const obs: number[] = [];
  const model: number[] = [];
  const b1: number[] = [];
  const b7: number[] = [];
  const q: number[][] = [[], [], []];
  const monthOf: string[] = [];
  const forecastsInMonth = new Map<string, number>();
  let modelVersion = '';
  let issued = 0;
  let firstIssue = 0;
  let lastIssue = 0;
  for (let d = firstTestDay; d <= lastDay; d++) {
    const dayStart = localDayStart(tz, d);
    const issue = series.start + Math.ceil((dayStart - series.start) / step) * step;
    const span = horizonMs === DAY_MS ? localDayStart(tz, d + 1) - issue : horizonMs;
    const fc = forecastSite(series, { ...opts, issueTime: issue, horizonMs: span });
    modelVersion = fc.modelVersion;
    issued++;
    if (!firstIssue) firstIssue = issue;
    lastIssue = issue;
    const month = formatLocalDay(d).slice(0, 7);
    forecastsInMonth.set(month, (forecastsInMonth.get(month) ?? 0) + 1);
    for (let j = 0; j < fc.p50.length; j++) {
      const t = fc.start + j * step;
      const y = valueAt(series, t);
      const t1 = sameLocalTimeDaysAgo(tz, t, 1);
      const t7 = sameLocalTimeDaysAgo(tz, t, 7);
      if (t1 >= issue || t7 >= issue) continue; // a baseline may only use data before the issue, too
      const y1 = valueAt(series, t1);
      const y7 = valueAt(series, t7);
      if (Number.isNaN(y) || Number.isNaN(y1) || Number.isNaN(y7) || Number.isNaN(fc.p50[j])) continue;
      obs.push(y);
      model.push(fc.p50[j]);
      b1.push(y1);
      b7.push(y7);
      q[0].push(fc.p10[j]);
      q[1].push(fc.p50[j]);
      q[2].push(fc.p90[j]);
      monthOf.push(month);
    }
    opts.onProgress?.(issued, lastDay - firstTestDay + 1);
  }
  if (obs.length === 0)
    throw new Error('no interval could be scored (test days have no observations with baselines)');

  const score = (fc: number[]): MethodScore => {
    const s = errorStats(obs, fc);
    return { mae_kw: s.mae, rmse_kw: s.rmse, nmae: s.nmae, intervals: s.n };
  };
  const m = score(model);
  const p1 = score(b1);
  const p7 = score(b7);
  const better = p7.mae_kw <= p1.mae_kw ? 'persistence_7d' : 'persistence_1d';
  const baseMae = Math.min(p1.mae_kw, p7.mae_kw);
  const skill = skillOf(m.mae_kw, baseMae);
  const pin = LEVELS.map((lv, k) => q[k].reduce((acc, f, i) => acc + pinball(obs[i], f, lv), 0) / obs.length);
  const { covered, counted, months } = coverageAndMonths(
    { obs, model, b1, b7, q, monthOf },
    forecastsInMonth,
  );
  const iso = (t: number) => new Date(t).toISOString();
  return {
    kind: opts.kind,
    model_version: modelVersion,
    timezone: tz,
    resolution_minutes: step / 60_000,
    horizon_hours: horizonMs / 3_600_000,
    test_days: opts.testDays,
    first_issue: iso(firstIssue),
    last_issue: iso(lastIssue),
    forecasts_issued: issued,
    intervals_scored: obs.length,
    model: { ...m, skill },
    baselines: { persistence_1d: p1, persistence_7d: p7 },
    better_baseline: better,
    skill,
    pinball_kw: { p10: pin[0], p50: pin[1], p90: pin[2], mean: (pin[0] + pin[1] + pin[2]) / 3 },
    coverage_p10_p90: counted ? covered / counted : Number.NaN,
    months,
  };
}
