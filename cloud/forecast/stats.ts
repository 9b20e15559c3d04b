/** Small statistics helpers shared by the models and the backtest. */

/** Quantile (type 7, linear interpolation) of an ascending-sorted array. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export function quantiles(values: number[], qs: readonly number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  return qs.map((q) => quantileSorted(sorted, q));
}

/** Weighted median: the smallest value whose cumulative weight reaches half the total. */
export function weightedMedian(values: number[], weights: number[]): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  if (n === 1) return values[0];
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  let total = 0;
  for (const w of weights) total += w;
  let acc = 0;
  for (const i of idx) {
    acc += weights[i];
    if (acc >= total / 2) return values[i];
  }
  return values[idx[n - 1]];
}

/** Pinball (quantile) loss of forecast f for observation y at quantile q. */
export function pinball(y: number, f: number, q: number): number {
  const d = y - f;
  return d >= 0 ? q * d : (q - 1) * d;
}

export interface ErrorStats {
  mae: number;
  rmse: number;
  /** MAE divided by the mean absolute observed value. */
  nmae: number;
  n: number;
}

export function errorStats(obs: ArrayLike<number>, fc: ArrayLike<number>): ErrorStats {
  let abs = 0;
  let sq = 0;
  let level = 0;
  const n = obs.length;
  for (let i = 0; i < n; i++) {
    const e = obs[i] - fc[i];
    abs += Math.abs(e);
    sq += e * e;
    level += Math.abs(obs[i]);
  }
  if (n === 0) return { mae: Number.NaN, rmse: Number.NaN, nmae: Number.NaN, n: 0 };
  return { mae: abs / n, rmse: Math.sqrt(sq / n), nmae: level > 0 ? abs / level : Number.NaN, n };
}
