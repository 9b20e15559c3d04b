/**
 * Intraday updates (5 minutes to 6 hours ahead) of a day-ahead forecast with the latest telemetry,
 * for the real-time market:
 *   PV   — the clear-sky index relative to the day-ahead forecast (actual / forecast energy) of the
 *          last `lookback` (r) and of the last interval alone (r₁) persist and fade into the
 *          day-ahead shape: f(t) = base(t)·(1 + (r − 1)·e^(−h/τ) + (r₁ − r)·e^(−h/τ₁)), τ₁ = 15 min —
 *          clouds passing right now matter for minutes, the hour's cloudiness for hours;
 *   load — the recent level error (actual − forecast) persists and fades: f(t) = base(t) + d·e^(−h/τ).
 * h is the lead time of the interval's middle. The quantiles move with the point forecast.
 * `backtestIntraday` scores it per lead-time bucket against 5-minute persistence (the last value
 * held flat) and against the day-ahead forecast it started from.
 */
import { type ForecastSiteOptions, forecastSite } from './forecast-site.ts';
import { before, type RegularSeries, valueAt } from './series.ts';
import { localDayStart, localTime } from './timezone.ts';
import type { Forecast, ForecastKind } from './types.ts';

export const INTRADAY_MODEL_VERSION = 'intraday/1';
const MIN_MS = 60_000;
export const MAX_INTRADAY_HORIZON_MS = 6 * 60 * MIN_MS;

export interface IntradayOptions {
  kind: ForecastKind;
  issueTime: number;
  /** At most 6 h (default). */
  horizonMs?: number;
  /** Telemetry window the correction is measured on (default: PV 15 min, load 60 min). */
  lookbackMs?: number;
  /** Fade time constant of the correction (default: PV 90 min, load 30 min). */
  tauMs?: number;
  /** PV: forecasts never exceed it. */
  capacity?: number;
}

/** The day-ahead forecast `base` (same grid, covering the lookback and the horizon) updated with telemetry. */
export function forecastIntraday(history: RegularSeries, base: Forecast, o: IntradayOptions): Forecast {
  const step = history.stepMs;
  if (base.stepMs !== step) throw new Error(`base forecast step ${base.stepMs} ms ≠ history step ${step} ms`);
  const horizonMs = o.horizonMs ?? MAX_INTRADAY_HORIZON_MS;
  if (horizonMs > MAX_INTRADAY_HORIZON_MS) throw new Error('intraday horizon is at most 6 h');
  const issue = history.start + Math.ceil((o.issueTime - history.start) / step) * step;
  const steps = Math.round(horizonMs / step);
  if (steps < 1) throw new Error('horizon shorter than one interval');
  const lookback = Math.max(step, o.lookbackMs ?? (o.kind === 'pv' ? 15 : 60) * MIN_MS);
  const tau = o.tauMs ?? (o.kind === 'pv' ? 90 : 30) * MIN_MS;
  const tauShort = 15 * MIN_MS;
  const baseAt = (arr: number[], t: number) => {
    const k = (t - base.start) / step;
    return Number.isInteger(k) && k >= 0 && k < arr.length ? arr[k] : Number.NaN;
  };
  if (!Number.isFinite(baseAt(base.p50, issue + (steps - 1) * step)))
    throw new Error('the base forecast does not cover the intraday horizon');
  // Only telemetry strictly before the issue time.
  let sumObs = 0;
  let sumBase = 0;
  let n = 0;
  for (let t = issue - Math.round(lookback / step) * step; t < issue; t += step) {
    const y = valueAt(history, t);
    const b = baseAt(base.mean, t);
    if (!Number.isFinite(y) || !Number.isFinite(b)) continue;
    sumObs += y;
    sumBase += b;
    n++;
  }
  let peak = 0;
  for (const v of base.mean) peak = Math.max(peak, v);
  // PV: a ratio only means something with light; at dawn or without telemetry the day-ahead stands.
  const ratioOf = (a: number, b: number, count: number) =>
    o.kind === 'pv' && count && b > 0.02 * peak * count ? Math.min(3, a / b) : 1;
  const ratio = ratioOf(sumObs, sumBase, n);
  const yLast = valueAt(history, issue - step);
  const bLast = baseAt(base.mean, issue - step);
  const ratioLast = Number.isFinite(yLast) && Number.isFinite(bLast) ? ratioOf(yLast, bLast, 1) : ratio;
  const offset = o.kind === 'load' && n ? (sumObs - sumBase) / n : 0;
  const cap = o.capacity ?? Number.POSITIVE_INFINITY;
  const out = { mean: [] as number[], p10: [] as number[], p50: [] as number[], p90: [] as number[] };
  for (let j = 0; j < steps; j++) {
    const t = issue + j * step;
    const lead = t - issue + step / 2;
    const w = Math.exp(-lead / tau);
    const f = 1 + (ratio - 1) * w + (ratioLast - ratio) * Math.exp(-lead / tauShort);
    const d = offset * w;
    for (const key of ['mean', 'p10', 'p50', 'p90'] as const) {
      const b = baseAt(base[key], t);
      out[key].push(o.kind === 'pv' ? Math.min(cap, Math.max(0, b * f)) : b + d);
    }
  }
  return {
    kind: o.kind,
    modelVersion: `${INTRADAY_MODEL_VERSION}(${base.modelVersion})`,
    issuedAt: issue,
    start: issue,
    stepMs: step,
    ...out,
    details: {
      base: { modelVersion: base.modelVersion, issuedAt: base.issuedAt },
      lookbackMinutes: lookback / MIN_MS,
      tauMinutes: tau / MIN_MS,
      recentRatio: o.kind === 'pv' ? ratio : null,
      lastIntervalRatio: o.kind === 'pv' ? ratioLast : null,
      recentOffset: o.kind === 'load' ? offset : null,
      telemetryIntervals: n,
    },
  };
}

export interface IntradayBucketScore {
  /** Lead time of the interval start: (from, to] minutes. */
  lead_minutes: [number, number];
  intervals: number;
  mae: number;
  persistence_mae: number;
  day_ahead_mae: number;
  /** 1 − MAE / MAE(5-minute persistence). */
  skill: number;
  skill_vs_day_ahead: number;
}

export interface IntradayBacktestResult {
  kind: ForecastKind;
  model_version: string;
  resolution_minutes: number;
  forecasts_issued: number;
  buckets: IntradayBucketScore[];
}

const BUCKETS: [number, number][] = [
  [0, 30],
  [30, 60],
  [60, 120],
  [120, 240],
  [240, 360],
];

/**
 * For each of the last `testDays` local days: the day-ahead forecast issued at local midnight,
 * then an intraday update every `everyMs` (default 1 h) from 01:00, each from data strictly before
 * it, scored over 6 h against the actuals, 5-minute persistence (the last value before the issue)
 * and the day-ahead forecast.
 */
export function backtestIntraday(
  series: RegularSeries,
  opts: Omit<ForecastSiteOptions, 'issueTime' | 'horizonMs'> & {
    testDays: number;
    everyMs?: number;
    intraday?: Omit<IntradayOptions, 'kind' | 'issueTime'>;
  },
): IntradayBacktestResult {
  const tz = opts.timeZone ?? 'UTC';
  const step = series.stepMs;
  const every = opts.everyMs ?? 60 * MIN_MS;
  const lastT = series.start + (series.values.length - 1) * step;
  const lastDay = localTime(tz, lastT).day - 1; // the last day whose 6 h after 23:00 are in the data
  const sums = BUCKETS.map(() => ({ n: 0, m: 0, p: 0, b: 0 }));
  let issued = 0;
  let version = '';
  for (let d = lastDay - opts.testDays + 1; d <= lastDay; d++) {
    const dayStart = localDayStart(tz, d);
    const base = forecastSite(series, { ...opts, issueTime: dayStart, horizonMs: 30 * 60 * MIN_MS });
    for (let issue = dayStart + every; issue < localDayStart(tz, d + 1); issue += every) {
      const past = before(series, issue);
      const f = forecastIntraday(past, base, {
        ...opts.intraday,
        kind: opts.kind,
        issueTime: issue,
        capacity: opts.site?.capacity,
      });
      version = f.modelVersion.replace(/\(.*\)$/, '');
      issued++;
      const last = valueAt(series, issue - step);
      for (let j = 0; j < f.p50.length; j++) {
        const t = f.start + j * step;
        const y = valueAt(series, t);
        const b = valueAt({ start: base.start, stepMs: step, values: Float64Array.from(base.p50) }, t);
        if (!Number.isFinite(y) || !Number.isFinite(last) || !Number.isFinite(b)) continue;
        const lead = (t - issue) / MIN_MS + step / MIN_MS; // lead time of the interval's end
        const k = BUCKETS.findIndex(([lo, hi]) => lead > lo && lead <= hi);
        if (k < 0) continue;
        sums[k].n++;
        sums[k].m += Math.abs(y - f.p50[j]);
        sums[k].p += Math.abs(y - last);
        sums[k].b += Math.abs(y - b);
      }
    }
  }
  const skill = (a: number, b: number) => (b > 0 ? 1 - a / b : a === 0 ? 0 : Number.NEGATIVE_INFINITY);
  return {
    kind: opts.kind,
    model_version: version,
    resolution_minutes: step / MIN_MS,
    forecasts_issued: issued,
    buckets: BUCKETS.map((lead_minutes, k) => {
      const s = sums[k];
      return {
        lead_minutes,
        intervals: s.n,
        mae: s.m / s.n,
        persistence_mae: s.p / s.n,
        day_ahead_mae: s.b / s.n,
        skill: skill(s.m, s.p),
        skill_vs_day_ahead: skill(s.m, s.b),
      };
    }),
  };
}
