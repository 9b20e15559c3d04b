/**
 * Scoring of issued forecasts against what then happened, and the two naive baselines they must
 * beat. A forecast is reduced to additive sums (counts, absolute and squared errors, pinball
 * losses, quantile hits), so any rolling window of scores is the plain sum of its rows — exact,
 * and cheap to aggregate in SQL.
 *
 * Baselines, as an operator could have made them at the issue time: for interval t,
 *   persistence_1d = the value at the same local wall-clock time on the latest day whose interval
 *                    had ended by the issue time (t − 1 d for a day-ahead forecast);
 *   persistence_7d = the same on the latest such day a whole number of weeks back.
 * An interval is scored only where the observation and both baselines exist, so model and
 * baselines are compared on the same intervals.
 */
import { LEVELS } from './quantiles.ts';
import type { RegularSeries } from './series.ts';
import { valueAt } from './series.ts';
import { pinball } from './stats.ts';
import { sameLocalTimeDaysAgo } from './timezone.ts';

export interface ScoreSums {
  /** Intervals scored. */
  n: number;
  /** Σ|y| (to normalise the MAE). */
  absObs: number;
  absErr: number;
  sqErr: number;
  absErr1d: number;
  sqErr1d: number;
  absErr7d: number;
  sqErr7d: number;
  /** Σ pinball loss of P10, P50, P90. */
  pin10: number;
  pin50: number;
  pin90: number;
  /** Intervals whose observation lies at or below P10, P50, P90, and inside [P10, P90]. */
  below10: number;
  below50: number;
  below90: number;
  inBand: number;
}

export const SUM_KEYS = [
  'n',
  'absObs',
  'absErr',
  'sqErr',
  'absErr1d',
  'sqErr1d',
  'absErr7d',
  'sqErr7d',
  'pin10',
  'pin50',
  'pin90',
  'below10',
  'below50',
  'below90',
  'inBand',
] as const satisfies readonly (keyof ScoreSums)[];

export const emptySums = (): ScoreSums =>
  Object.fromEntries(SUM_KEYS.map((k) => [k, 0])) as unknown as ScoreSums;

export function addSums(into: ScoreSums, s: ScoreSums): ScoreSums {
  for (const k of SUM_KEYS) into[k] += s[k];
  return into;
}

/** What scoring needs of a forecast: its grid, its quantiles and when it was made. */
export interface ScorableForecast {
  issuedAt: number;
  start: number;
  stepMs: number;
  p10: ArrayLike<number>;
  p50: ArrayLike<number>;
  p90: ArrayLike<number>;
}

/**
 * Start of the interval a persistence baseline with the given period (1 or 7 days) copies for
 * interval t: the latest same-local-time interval, whole periods back, that ended by `issuedAt`.
 */
export function persistenceTime(
  timeZone: string,
  t: number,
  issuedAt: number,
  stepMs: number,
  periodDays: number,
): number {
  let days = periodDays;
  let back = sameLocalTimeDaysAgo(timeZone, t, days);
  while (back + stepMs > issuedAt) {
    days += periodDays;
    back = sameLocalTimeDaysAgo(timeZone, t, days);
  }
  return back;
}

/** Scores one forecast against the actuals (same unit, any grid that contains the forecast's). */
export function scoreForecast(f: ScorableForecast, actual: RegularSeries, timeZone: string): ScoreSums {
  const s = emptySums();
  const [l10, l50, l90] = LEVELS;
  for (let j = 0; j < f.p50.length; j++) {
    const t = f.start + j * f.stepMs;
    const y = valueAt(actual, t);
    const p50 = f.p50[j];
    if (Number.isNaN(y) || !Number.isFinite(p50)) continue;
    const y1 = valueAt(actual, persistenceTime(timeZone, t, f.issuedAt, f.stepMs, 1));
    const y7 = valueAt(actual, persistenceTime(timeZone, t, f.issuedAt, f.stepMs, 7));
    if (Number.isNaN(y1) || Number.isNaN(y7)) continue;
    const p10 = f.p10[j];
    const p90 = f.p90[j];
    const e = y - p50;
    s.n++;
    s.absObs += Math.abs(y);
    s.absErr += Math.abs(e);
    s.sqErr += e * e;
    s.absErr1d += Math.abs(y - y1);
    s.sqErr1d += (y - y1) ** 2;
    s.absErr7d += Math.abs(y - y7);
    s.sqErr7d += (y - y7) ** 2;
    s.pin10 += pinball(y, p10, l10);
    s.pin50 += pinball(y, p50, l50);
    s.pin90 += pinball(y, p90, l90);
    if (y <= p10) s.below10++;
    if (y <= p50) s.below50++;
    if (y <= p90) s.below90++;
    if (y >= p10 && y <= p90) s.inBand++;
  }
  return s;
}

export type Baseline = 'persistence_1d' | 'persistence_7d';

export interface ScoreMetrics {
  intervals: number;
  /** Same unit as the forecast (W in the cloud). */
  mae: number;
  rmse: number;
  /** MAE / mean |actual|. */
  nmae: number;
  baselines: Record<Baseline, { mae: number; rmse: number }>;
  /** 1 − MAE / MAE(baseline): > 0 means better than the baseline. */
  skill_1d: number;
  skill_7d: number;
  better_baseline: Baseline;
  /** Skill against the better of the two baselines. */
  skill: number;
  pinball: { p10: number; p50: number; p90: number; mean: number };
  /** Share of actuals at or below each quantile (ideal 0.1, 0.5, 0.9) and inside P10–P90 (ideal 0.8). */
  coverage: { below_p10: number; below_p50: number; below_p90: number; p10_p90: number };
}

const skillOf = (mae: number, base: number) =>
  base > 0 ? 1 - mae / base : mae === 0 ? 0 : Number.NEGATIVE_INFINITY;

/** Metrics from summed scores; undefined when nothing was scored. */
export function scoreMetrics(s: ScoreSums): ScoreMetrics | undefined {
  const n = s.n;
  if (n === 0) return undefined;
  const mae = s.absErr / n;
  const mae1 = s.absErr1d / n;
  const mae7 = s.absErr7d / n;
  const better: Baseline = mae7 <= mae1 ? 'persistence_7d' : 'persistence_1d';
  const pin = { p10: s.pin10 / n, p50: s.pin50 / n, p90: s.pin90 / n };
  return {
    intervals: n,
    mae,
    rmse: Math.sqrt(s.sqErr / n),
    nmae: s.absObs > 0 ? s.absErr / s.absObs : Number.NaN,
    baselines: {
      persistence_1d: { mae: mae1, rmse: Math.sqrt(s.sqErr1d / n) },
      persistence_7d: { mae: mae7, rmse: Math.sqrt(s.sqErr7d / n) },
    },
    skill_1d: skillOf(mae, mae1),
    skill_7d: skillOf(mae, mae7),
    better_baseline: better,
    skill: skillOf(mae, Math.min(mae1, mae7)),
    pinball: { ...pin, mean: (pin.p10 + pin.p50 + pin.p90) / 3 },
    coverage: {
      below_p10: s.below10 / n,
      below_p50: s.below50 / n,
      below_p90: s.below90 / n,
      p10_p90: s.inBand / n,
    },
  };
}

/**
 * The baseline as a forecast for the steps after `issuedAt` (NaN where history has a gap), for the
 * cloud to serve instead of a model that does worse than it.
 */
export function persistenceForecast(
  history: RegularSeries,
  issuedAt: number,
  stepMs: number,
  steps: number,
  timeZone: string,
  baseline: Baseline,
): number[] {
  const period = baseline === 'persistence_1d' ? 1 : 7;
  const out: number[] = [];
  for (let j = 0; j < steps; j++) {
    const t = issuedAt + j * stepMs;
    out.push(valueAt(history, persistenceTime(timeZone, t, issuedAt, stepMs, period)));
  }
  return out;
}
