/**
 * Obstruction shading learned from history: a factor per sun-position bin (azimuth × elevation)
 * that multiplies the site's clear-sky power. Houses and trees block the low winter sun at the same
 * sun positions every year, which one site factor cannot represent.
 *
 * Per bin the factor is a ratio estimator Σ actual / Σ (clear-sky power × the day's clear-sky
 * index): the day's index takes out the weather, so what remains is how much of the clear-sky
 * power that sun position delivers. The day's index is itself measured against the shaded clear
 * sky, so the fit alternates between the two a few times. Bins with little data are shrunk towards
 * the global factor with a prior worth `prior` typical intervals; days under thick cloud (index
 * below `minDayIndex`) do not inform the bins, as there is no direct sun to block, only noise.
 */

export interface ShadingSamples {
  /** Sun azimuth (° from north) and elevation (°) at the interval's middle. */
  azimuth: ArrayLike<number>;
  elevation: ArrayLike<number>;
  /** Actual power and unshaded clear-sky power of the interval. */
  actual: ArrayLike<number>;
  clear: ArrayLike<number>;
  /** The interval's day (any numbering; equal = same day). */
  day: ArrayLike<number>;
}

export interface ShadingOptions {
  azimuthStep?: number;
  elevationStep?: number;
  /** Prior weight, in typical intervals, pulling a bin towards the global factor (default 10). */
  prior?: number;
  /** Days whose clear-sky index is below this do not inform the bins (default 0.5). */
  minDayIndex?: number;
  iterations?: number;
}

export interface ShadingMap {
  azimuthStep: number;
  elevationStep: number;
  /** Factor per bin (1 where never seen), index = azimuthBin × elevationBins + elevationBin. */
  factors: Float64Array;
  /** Bins with data, and how many of them had fewer intervals than the prior. */
  bins: number;
  thinBins: number;
}

const ELEVATION_MAX = 90;

function binOf(
  m: Pick<ShadingMap, 'azimuthStep' | 'elevationStep'>,
  azimuth: number,
  elevation: number,
): number {
  const nEl = Math.ceil(ELEVATION_MAX / m.elevationStep);
  const nAz = Math.ceil(360 / m.azimuthStep);
  const a = Math.min(nAz - 1, Math.max(0, Math.floor((((azimuth % 360) + 360) % 360) / m.azimuthStep)));
  const e = Math.min(nEl - 1, Math.max(0, Math.floor(elevation / m.elevationStep)));
  return a * nEl + e;
}

/** Factor for a sun position (1 below the horizon and in bins never seen). */
export function shadingFactor(m: ShadingMap, azimuth: number, elevation: number): number {
  if (elevation <= 0) return 1;
  return m.factors[binOf(m, azimuth, elevation)];
}

export function fitShading(x: ShadingSamples, opts: ShadingOptions = {}): ShadingMap {
  const azimuthStep = opts.azimuthStep ?? 10;
  const elevationStep = opts.elevationStep ?? 5;
  const prior = opts.prior ?? 10;
  const minDayIndex = opts.minDayIndex ?? 0.5;
  const iterations = opts.iterations ?? 3;
  const nBins = Math.ceil(360 / azimuthStep) * Math.ceil(ELEVATION_MAX / elevationStep);
  const n = x.actual.length;
  const shape = { azimuthStep, elevationStep };
  const bin = new Int32Array(n);
  for (let i = 0; i < n; i++) bin[i] = binOf(shape, x.azimuth[i], x.elevation[i]);
  const dayIds = new Map<number, number>();
  const day = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let d = dayIds.get(x.day[i]);
    if (d === undefined) {
      d = dayIds.size;
      dayIds.set(x.day[i], d);
    }
    day[i] = d;
  }
  const factors = new Float64Array(nBins).fill(1);
  const count = new Int32Array(nBins);
  const dayNum = new Float64Array(dayIds.size);
  const dayDen = new Float64Array(dayIds.size);
  const num = new Float64Array(nBins);
  const den = new Float64Array(nBins);
  for (let it = 0; it < iterations; it++) {
    dayNum.fill(0);
    dayDen.fill(0);
    for (let i = 0; i < n; i++) {
      dayNum[day[i]] += x.actual[i];
      dayDen[day[i]] += x.clear[i] * factors[bin[i]];
    }
    num.fill(0);
    den.fill(0);
    count.fill(0);
    let totalNum = 0;
    let totalDen = 0;
    let used = 0;
    for (let i = 0; i < n; i++) {
      const kappa = dayDen[day[i]] > 0 ? dayNum[day[i]] / dayDen[day[i]] : 0;
      if (kappa < minDayIndex) continue;
      const expected = x.clear[i] * kappa;
      num[bin[i]] += x.actual[i];
      den[bin[i]] += expected;
      count[bin[i]]++;
      totalNum += x.actual[i];
      totalDen += expected;
      used++;
    }
    if (!(totalDen > 0)) break;
    const global = totalNum / totalDen;
    const lambda = prior * (totalDen / used);
    for (let b = 0; b < nBins; b++) {
      if (count[b])
        factors[b] = Math.min(1.5, Math.max(0.05, (num[b] + lambda * global) / (den[b] + lambda)));
    }
    // Keep the map's clear-sky-weighted level at 1: the site factor and the daily index carry the level.
    let wSum = 0;
    let fSum = 0;
    for (let i = 0; i < n; i++) {
      wSum += x.clear[i];
      fSum += x.clear[i] * factors[bin[i]];
    }
    if (fSum > 0) {
      const scale = wSum / fSum;
      for (let b = 0; b < nBins; b++) if (count[b]) factors[b] *= scale;
    }
  }
  let bins = 0;
  let thinBins = 0;
  for (let b = 0; b < nBins; b++) {
    if (!count[b]) continue;
    bins++;
    if (count[b] < prior) thinBins++;
  }
  return { azimuthStep, elevationStep, factors, bins, thinBins };
}
