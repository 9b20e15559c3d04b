/**
 * Regular time series: one value per fixed step starting at `start` (UTC epoch ms); NaN marks a gap.
 * Each value is the average over the interval that starts at its timestamp.
 */
export interface RegularSeries {
  start: number;
  stepMs: number;
  values: Float64Array;
}

export interface Points {
  t: ArrayLike<number>;
  v: ArrayLike<number>;
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export function timeAt(s: RegularSeries, i: number): number {
  return s.start + i * s.stepMs;
}

/** Index of the interval starting at t, or -1 if t is off-grid or outside the series. */
export function indexOf(s: RegularSeries, t: number): number {
  const i = (t - s.start) / s.stepMs;
  return Number.isInteger(i) && i >= 0 && i < s.values.length ? i : -1;
}

export function valueAt(s: RegularSeries, t: number): number {
  const i = indexOf(s, t);
  return i < 0 ? Number.NaN : s.values[i];
}

/** Typical spacing of the timestamps (median difference), for inferring a series' resolution. */
export function medianStep(t: ArrayLike<number>): number {
  const diffs: number[] = [];
  for (let i = 1; i < t.length; i++) if (t[i] > t[i - 1]) diffs.push(t[i] - t[i - 1]);
  if (diffs.length === 0) return Number.NaN;
  diffs.sort((a, b) => a - b);
  return diffs[Math.floor(diffs.length / 2)];
}

/**
 * Averages points into a regular grid of `stepMs`. The grid keeps the phase of the first timestamp
 * (so hourly data stamped at :30 in a UTC+5:30 zone stays aligned with local hours).
 */
export function toRegular(points: Points, stepMs: number): RegularSeries {
  const n = points.t.length;
  if (n === 0) return { start: 0, stepMs, values: new Float64Array(0) };
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    min = Math.min(min, points.t[i]);
    max = Math.max(max, points.t[i]);
  }
  const phase = ((points.t[0] % stepMs) + stepMs) % stepMs;
  const start = Math.floor((min - phase) / stepMs) * stepMs + phase;
  const len = Math.floor((max - start) / stepMs) + 1;
  const sum = new Float64Array(len);
  const count = new Uint32Array(len);
  for (let i = 0; i < n; i++) {
    const v = points.v[i];
    if (!Number.isFinite(v)) continue;
    const k = Math.floor((points.t[i] - start) / stepMs);
    sum[k] += v;
    count[k]++;
  }
  const values = new Float64Array(len);
  for (let k = 0; k < len; k++) values[k] = count[k] ? sum[k] / count[k] : Number.NaN;
  return { start, stepMs, values };
}

/** The part of a series strictly before `t` (a view, no copy): the only data a forecast issued at t may see. */
export function before(s: RegularSeries, t: number): RegularSeries {
  const n = Math.max(0, Math.min(s.values.length, Math.ceil((t - s.start) / s.stepMs)));
  return { start: s.start, stepMs: s.stepMs, values: s.values.subarray(0, n) };
}

/** Parses "5m", "15m", "1h", "24h", "1d" into milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)$/.exec(s.trim());
  if (!m) throw new Error(`invalid duration "${s}" (expected e.g. 15m, 1h, 24h)`);
  const unit = { s: 1000, m: MINUTE_MS, min: MINUTE_MS, h: HOUR_MS, d: DAY_MS }[
    m[2] as 's' | 'm' | 'min' | 'h' | 'd'
  ];
  return Number(m[1]) * unit;
}
