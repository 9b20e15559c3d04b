/**
 * PV model: clear-sky plane-of-array irradiance (SPA sun position → Ineichen–Perez → Hay–Davies)
 * times a site factor calibrated from the site's own history, times an expected clear-sky index
 * taken from recent days (or from a weather forecast when one is supplied).
 *
 * Unknown orientation: the tilt/azimuth whose clear-sky shape best fits the site's clearest recent
 * days (smooth, high-energy days, found without assuming any orientation) is chosen from a grid.
 * The site factor (power per W/m² of plane-of-array irradiance) then absorbs capacity, losses and
 * any remaining orientation error, so only latitude and longitude are strictly needed.
 */
import {
  erbs,
  extraterrestrialNormal,
  ghiFromCloudCover,
  type Irradiance,
  ineichen,
  planeOfArray,
  type SunGeometry,
} from './irradiance.ts';
import { applyQuantiles, fitResidualQuantiles } from './quantiles.ts';
import { before, type RegularSeries, valueAt } from './series.ts';
import { fitShading, type ShadingMap, shadingFactor } from './shading.ts';
import { geocentricCached, topocentric } from './solar-position.ts';
import { quantiles } from './stats.ts';
import { localDayStart, localTime } from './timezone.ts';
import type { Forecast } from './types.ts';

export const PV_MODEL_VERSION = 'pv-clearsky-index/2';

export interface PvSite {
  latitude: number;
  longitude: number;
  /** metres above sea level (default 0) */
  elevation?: number;
  /** AC capacity in the unit of the history values; forecasts never exceed it */
  capacity?: number;
  /** degrees from horizontal; omit with azimuth to let the model find the orientation */
  tilt?: number;
  /** degrees clockwise from north (180 = south) */
  azimuth?: number;
  /** Linke turbidity for the clear-sky model (default 3) */
  linkeTurbidity?: number;
  albedo?: number;
}

/**
 * Optional weather forecast on the history's grid. `ghi`: global horizontal irradiance, W/m², mean
 * over the interval. `cloud_cover`: total cloud cover as a fraction 0…1 (values above 1 are read as
 * percent). Values before the issue time (past forecasts or analyses) improve the uncertainty bands.
 */
export interface WeatherInput {
  kind: 'ghi' | 'cloud_cover';
  series: RegularSeries;
  /**
   * With kind 'ghi': the forecast's own beam (DNI) and diffuse (DHI) irradiance, W/m², on the same
   * grid. Where both are present they are used as given instead of splitting GHI with Erbs.
   */
  dni?: RegularSeries;
  dhi?: RegularSeries;
}

export interface PvOptions {
  timeZone: string;
  site: PvSite;
  weather?: WeatherInput;
  /** Days of history used for calibration (default 45). */
  windowDays?: number;
  /** Days before the issue used to choose the recent-conditions weighting and fit quantiles (default 28). */
  evalDays?: number;
  /**
   * Learn obstruction shading per sun-position bin (default true) from the calibration window and,
   * where the history reaches back that far, the same season a year earlier (± `seasonDays`, default 30).
   */
  shading?: boolean;
  seasonDays?: number;
}

const TILTS = [10, 20, 30, 40, 50, 60];
const AZIMUTHS = [0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 330];
const RECENT_WEIGHTS = [0, 0.25, 0.5, 0.75, 1];
const BAND_WIDENING = [1, 1.1, 1.2, 1.35, 1.5, 1.75, 2, 2.5, 3];
const PERSISTENCE_SHARES = [0, 0.25, 0.5, 0.75];
const SUB_MS = 15 * 60_000;
const MIN_DAYS = 3;

/** Clear-sky irradiance and sun geometry at sub-samples of each interval (intervals > 15 min are averaged). */
export interface Sky {
  n: number;
  m: number;
  sun: SunGeometry[];
  irr: Irradiance[];
}

export function clearSky(times: ArrayLike<number>, stepMs: number, site: PvSite): Sky {
  const m = Math.max(1, Math.round(stepMs / SUB_MS));
  const sub = stepMs / m;
  const obs = { latitude: site.latitude, longitude: site.longitude, elevation: site.elevation ?? 0 };
  const sun: SunGeometry[] = [];
  const irr: Irradiance[] = [];
  for (let i = 0; i < times.length; i++) {
    for (let k = 0; k < m; k++) {
      const t = times[i] + (k + 0.5) * sub;
      const g = geocentricCached(t);
      const pos = topocentric(g, obs);
      const e0 = extraterrestrialNormal(g.radiusAu);
      sun.push({ zenith: pos.zenith, azimuth: pos.azimuth, dniExtra: e0 });
      irr.push(ineichen(pos.zenith, obs.elevation, site.linkeTurbidity ?? 3, e0));
    }
  }
  return { n: times.length, m, sun, irr };
}

function poa(
  sky: Sky,
  tilt: number,
  azimuth: number,
  albedo: number,
  irr: Irradiance[] = sky.irr,
  only?: number[],
): Float64Array {
  const out = new Float64Array(sky.n);
  const idx = only ?? Array.from({ length: sky.n }, (_, i) => i);
  for (const i of idx) {
    let s = 0;
    for (let k = 0; k < sky.m; k++)
      s += planeOfArray(irr[i * sky.m + k], sky.sun[i * sky.m + k], tilt, azimuth, albedo);
    out[i] = s / sky.m;
  }
  return out;
}

function ghiMean(sky: Sky, i: number): number {
  let s = 0;
  for (let k = 0; k < sky.m; k++) s += sky.irr[i * sky.m + k].ghi;
  return s / sky.m;
}

/** Irradiance under a weather forecast: scale/attenuate the clear sky, then split with Erbs. */
function weatherIrradiance(
  sky: Sky,
  i: number,
  w: WeatherInput,
  value: number,
  percent: boolean,
  split?: { dni: number; dhi: number },
): Irradiance[] {
  const out: Irradiance[] = [];
  const csMean = ghiMean(sky, i);
  for (let k = 0; k < sky.m; k++) {
    const cs = sky.irr[i * sky.m + k];
    const sun = sky.sun[i * sky.m + k];
    const ghi =
      w.kind === 'ghi'
        ? csMean > 0
          ? value * (cs.ghi / csMean)
          : 0
        : ghiFromCloudCover(cs.ghi, percent ? value / 100 : value);
    if (split && w.kind === 'ghi') {
      // The forecast's own split; the diffuse part follows the GHI's shape within the interval.
      const up = sun.zenith < 90;
      out.push({ ghi, dni: up ? split.dni : 0, dhi: value > 0 ? split.dhi * (ghi / value) : 0 });
    } else out.push(erbs(ghi, sun.zenith, sun.dniExtra));
  }
  return out;
}

interface DayInfo {
  day: number;
  idx: number[];
}

/** The calibration window before the issue: observations, clear sky and the usable daylight days. */
interface PvWindow {
  tz: string;
  site: PvSite;
  albedo: number;
  cap: number;
  windowDays: number;
  issueDay: number;
  firstDay: number;
  evalFirst: number;
  /** start of the window (local midnight of firstDay) */
  from: number;
  hist: RegularSeries;
  stepMs: number;
  times: number[];
  obs: number[];
  sky: Sky;
  usable: DayInfo[];
}

interface Orientation {
  tilt: number;
  azimuth: number;
  /** site factor: power per W/m² of plane-of-array irradiance */
  k: number;
  method: string;
}

/** Expected clear-sky index of a day for a recent-conditions weight, and the best weight. */
interface IndexCalibration {
  expected: (day: number, w: number) => number;
  best: { w: number; mae: number };
}

type Band = { q: number[]; factor: number };

function pvWindow(history: RegularSeries, issueTime: number, opts: PvOptions): PvWindow {
  const { site, timeZone: tz } = opts;
  const windowDays = opts.windowDays ?? 45;
  const evalDays = Math.min(opts.evalDays ?? 28, windowDays - 1);
  const hist = before(history, issueTime);
  const stepMs = hist.stepMs;
  const issueDay = localTime(tz, issueTime).day;
  const firstDay = issueDay - windowDays;
  const from = localDayStart(tz, firstDay);
  const i0 = Math.max(0, Math.ceil((from - hist.start) / stepMs));
  const times: number[] = [];
  const obs: number[] = [];
  for (let i = i0; i < hist.values.length; i++) {
    times.push(hist.start + i * stepMs);
    obs.push(hist.values[i]);
  }
  const sky = clearSky(times, stepMs, site);
  const usable = usableDays(tz, times, obs, sky);
  if (usable.length < MIN_DAYS) {
    throw new Error(
      `too little PV history: ${usable.length} day(s) with daylight data in the ${windowDays} days before the issue time; need at least ${MIN_DAYS}`,
    );
  }
  return {
    tz,
    site,
    albedo: site.albedo ?? 0.2,
    cap: site.capacity ?? Number.POSITIVE_INFINITY,
    windowDays,
    issueDay,
    firstDay,
    evalFirst: issueDay - evalDays,
    from,
    hist,
    stepMs,
    times,
    obs,
    sky,
    usable,
  };
}

/** Daylight intervals grouped by local day; a day is usable with data for 80 % of its daylight. */
function usableDays(tz: string, times: number[], obs: number[], sky: Sky): DayInfo[] {
  const days: DayInfo[] = [];
  for (let i = 0; i < times.length; i++) {
    const d = localTime(tz, times[i]).day;
    if (days.length === 0 || days[days.length - 1].day !== d) days.push({ day: d, idx: [] });
    if (ghiMean(sky, i) > 0) days[days.length - 1].idx.push(i);
  }
  return days.filter(
    (d) => d.idx.filter((i) => Number.isFinite(obs[i])).length >= 0.8 * d.idx.length && d.idx.length > 0,
  );
}

/** Clear days: smooth (line length close to twice the peak) and among the most energetic. */
function findClearDays(w: PvWindow): DayInfo[] {
  const { obs } = w;
  const scored = w.usable.map((d) => {
    let len = 0;
    let peak = 0;
    let energy = 0;
    let prev = Number.NaN;
    for (const i of d.idx) {
      const v = obs[i];
      if (!Number.isFinite(v)) {
        prev = Number.NaN;
        continue;
      }
      if (Number.isFinite(prev)) len += Math.abs(v - prev);
      prev = v;
      peak = Math.max(peak, v);
      energy += v;
    }
    return { d, smooth: peak > 0 ? len / (2 * peak) : Number.POSITIVE_INFINITY, energy };
  });
  const maxEnergy = Math.max(...scored.map((s) => s.energy));
  return scored
    .filter((s) => s.smooth <= 1.25 && s.energy >= 0.6 * maxEnergy && s.energy > 0)
    .sort((a, b) => a.smooth - b.smooth)
    .slice(0, 10)
    .map((s) => s.d);
}

/**
 * Orientation and site factor fitted on the clear days (grid, then 5° refinement), or — without
 * clear days — a latitude-based default whose site factor is set later from an upper quantile.
 */
function fitOrientationOnClearDays(w: PvWindow, clearDays: DayInfo[]): Orientation {
  const { site, sky, obs, albedo, cap } = w;
  const candidates: [number, number][] =
    site.tilt !== undefined && site.azimuth !== undefined
      ? [[site.tilt, site.azimuth]]
      : [[0, 180], ...TILTS.flatMap((t) => AZIMUTHS.map((a) => [t, a] as [number, number]))];
  if (clearDays.length === 0) {
    return {
      tilt: site.tilt ?? Math.min(35, Math.max(10, Math.abs(site.latitude) * 0.7)),
      azimuth: site.azimuth ?? (site.latitude >= 0 ? 180 : 0),
      method: 'upper-quantile',
      k: 0,
    };
  }
  const idx = clearDays.flatMap((d) => d.idx.filter((i) => Number.isFinite(obs[i])));
  let best = { sse: Number.POSITIVE_INFINITY, tilt: 0, az: 180, k: 0 };
  const tryOrientation = (t: number, a: number) => {
    const c = poa(sky, t, a, albedo, sky.irr, idx);
    let pc = 0;
    let cc = 0;
    for (const i of idx) {
      pc += obs[i] * c[i];
      cc += c[i] * c[i];
    }
    const kk = cc > 0 ? pc / cc : 0;
    let sse = 0;
    for (const i of idx) sse += (obs[i] - Math.min(cap, kk * c[i])) ** 2;
    if (sse < best.sse) best = { sse, tilt: t, az: a, k: kk };
  };
  for (const [t, a] of candidates) tryOrientation(t, a);
  if (candidates.length > 1) {
    // Refine around the best grid point in 5° steps.
    const { tilt: t0, az: a0 } = best;
    for (let dt = -10; dt <= 10; dt += 5) {
      for (let da = -25; da <= 25; da += 5) {
        const t = t0 + dt;
        if (t >= 0 && t <= 90 && (dt !== 0 || da !== 0)) tryOrientation(t, (a0 + da + 360) % 360);
      }
    }
  }
  return { tilt: best.tilt, azimuth: best.az, k: best.k, method: `clear-days:${clearDays.length}` };
}

/** Site factor without clear days: the 90th percentile of output / clear-sky POA in the brighter hours. */
function upperQuantileFactor(w: PvWindow, poaCs: Float64Array): number {
  const { obs } = w;
  let peakC = 0;
  for (const c of poaCs) peakC = Math.max(peakC, c);
  const ratios: number[] = [];
  for (let i = 0; i < w.times.length; i++) {
    if (poaCs[i] > 0.3 * peakC && Number.isFinite(obs[i])) ratios.push(obs[i] / poaCs[i]);
  }
  return ratios.length ? quantiles(ratios, [0.9])[0] : 0;
}

const sunMid = (sky: Sky, i: number) => sky.sun[i * sky.m + (sky.m >> 1)];

function shadeAt(shade: ShadingMap | undefined, sky: Sky, i: number): number {
  if (!shade) return 1;
  const sun = sunMid(sky, i);
  return shadingFactor(shade, sun.azimuth, 90 - sun.zenith);
}

/** Obstruction shading map: fitted on the window and on the same season a year before (same sun paths). */
function fitShadingMap(
  w: PvWindow,
  o: Orientation,
  poaCs: Float64Array,
  seasonDays: number | undefined,
): ShadingMap | undefined {
  const { hist, stepMs, tz, issueDay, site } = w;
  const k = o.k;
  const az: number[] = [];
  const el: number[] = [];
  const act: number[] = [];
  const clr: number[] = [];
  const dayOf: number[] = [];
  let peakClear = 0;
  for (const c of poaCs) peakClear = Math.max(peakClear, k * c);
  const add = (skyX: Sky, i: number, y: number, clear: number, d: number) => {
    if (!Number.isFinite(y) || clear < 0.02 * peakClear) return;
    const sun = sunMid(skyX, i);
    az.push(sun.azimuth);
    el.push(90 - sun.zenith);
    act.push(y);
    clr.push(clear);
    dayOf.push(d);
  };
  for (const d of w.usable) for (const i of d.idx) add(w.sky, i, w.obs[i], k * poaCs[i], d.day);
  const season = seasonDays ?? 30;
  const lyFrom = Math.max(hist.start, localDayStart(tz, issueDay - 365 - season));
  const lyTo = Math.min(w.from, localDayStart(tz, issueDay - 365 + season + 1));
  if (lyTo > lyFrom) {
    const lyTimes: number[] = [];
    const lyObs: number[] = [];
    for (let t = hist.start + Math.ceil((lyFrom - hist.start) / stepMs) * stepMs; t < lyTo; t += stepMs) {
      const y = valueAt(hist, t);
      // Output > 0 marks daylight: the sun position is only needed there.
      if (y > 0) {
        lyTimes.push(t);
        lyObs.push(y);
      }
    }
    if (lyTimes.length) {
      const skyLy = clearSky(lyTimes, stepMs, site);
      const poaLy = poa(skyLy, o.tilt, o.azimuth, w.albedo);
      for (let i = 0; i < lyTimes.length; i++)
        add(skyLy, i, lyObs[i], k * poaLy[i], localTime(tz, lyTimes[i]).day);
    }
  }
  return act.length
    ? fitShading({ azimuth: az, elevation: el, actual: act, clear: clr, day: dayOf })
    : undefined;
}

/**
 * Daily clear-sky indices against a clear-sky power series, and the recent-conditions weight
 * with the lowest out-of-sample MAE over the evaluation days.
 */
function calibrateIndex(w: PvWindow, pcsX: Float64Array): IndexCalibration {
  const { obs, firstDay, windowDays } = w;
  const ciX = new Float64Array(windowDays).fill(Number.NaN);
  for (const d of w.usable) {
    let a = 0;
    let c = 0;
    for (const i of d.idx) {
      if (Number.isFinite(obs[i])) {
        a += obs[i];
        c += pcsX[i];
      }
    }
    const di = d.day - firstDay;
    if (c > 0 && di >= 0 && di < windowDays) ciX[di] = Math.max(0, a / c);
  }
  const expected = (day: number, wt: number): number => {
    let s = 0;
    let n = 0;
    for (let d = day - 14; d < day; d++) {
      const v = ciX[d - firstDay];
      if (d >= firstDay && Number.isFinite(v)) {
        s += v;
        n++;
      }
    }
    const mean = n ? s / n : 0.7;
    const y = ciX[day - 1 - firstDay];
    return day - 1 >= firstDay && Number.isFinite(y) ? wt * y + (1 - wt) * mean : mean;
  };
  let best = { w: 0, mae: Number.POSITIVE_INFINITY };
  for (const wt of RECENT_WEIGHTS) {
    let abs = 0;
    let n = 0;
    for (const d of w.usable) {
      if (d.day < w.evalFirst) continue;
      const kap = expected(d.day, wt);
      for (const i of d.idx) {
        if (!Number.isFinite(obs[i])) continue;
        abs += Math.abs(obs[i] - pcsX[i] * kap);
        n++;
      }
    }
    const mae = n ? abs / n : Number.POSITIVE_INFINITY;
    if (mae < best.mae - 1e-12) best = { w: wt, mae };
  }
  return { expected, best };
}

/** The clear-sky power series, with the shading map kept only where it forecasts the evaluation days better. */
function clearSkyPower(w: PvWindow, o: Orientation, poaCs: Float64Array, shadeFit: ShadingMap | undefined) {
  const { cap, sky } = w;
  const k = o.k;
  let pcs = Float64Array.from(poaCs, (c) => Math.min(cap, k * c));
  let cal = calibrateIndex(w, pcs);
  let shade = shadeFit;
  let shadeInfo: { bins: number; thinBins: number; used: boolean } | null = null;
  if (shade) {
    const map = shade;
    const shaded = Float64Array.from(poaCs, (c, i) => Math.min(cap, k * c * shadeAt(map, sky, i)));
    const calShaded = calibrateIndex(w, shaded);
    let shadingUsed = false;
    if (calShaded.best.mae < cal.best.mae) {
      pcs = shaded;
      cal = calShaded;
      shadingUsed = true;
    } else shade = undefined;
    shadeInfo = { bins: map.bins, thinBins: map.thinBins, used: shadingUsed };
  }
  return { pcs, cal, shade, shadeInfo };
}

type WeatherPoint = (i: number, skyX: Sky, t: number) => number;

/** Power at interval i of a sky under the weather input (NaN without weather there). */
function weatherPointFn(
  w: PvWindow,
  o: Orientation,
  shade: ShadingMap | undefined,
  weather: WeatherInput | undefined,
): WeatherPoint {
  const wPercent = weather?.kind === 'cloud_cover' && Array.from(weather.series.values).some((v) => v > 1);
  return (i, skyX, t) => {
    if (!weather) return Number.NaN;
    const v = valueAt(weather.series, t);
    if (!Number.isFinite(v)) return Number.NaN;
    const dni = weather.dni ? valueAt(weather.dni, t) : Number.NaN;
    const dhi = weather.dhi ? valueAt(weather.dhi, t) : Number.NaN;
    const split = Number.isFinite(dni) && Number.isFinite(dhi) ? { dni, dhi } : undefined;
    const irr = weatherIrradiance(skyX, i, weather, v, wPercent, split);
    let s = 0;
    for (let m = 0; m < skyX.m; m++)
      s += planeOfArray(irr[m], skyX.sun[i * skyX.m + m], o.tilt, o.azimuth, w.albedo);
    return Math.min(w.cap, (o.k * s * shadeAt(shade, skyX, i)) / skyX.m);
  };
}

/*
 * Forecast combination with smart persistence: yesterday's output at the same sun time (24 h
 * earlier), scaled by the clear-sky power ratio. It carries what the clear-sky model misses
 * (shading details, yesterday's regime); the model carries the smooth shape and the weather
 * input. The share α of persistence is chosen per site by MAE on the evaluation days.
 */
function smartPersistence(w: PvWindow, pcs: Float64Array) {
  const { cap, obs } = w;
  let peakPcs = 0;
  for (const p of pcs) peakPcs = Math.max(peakPcs, p);
  const perDay = Math.round(86_400_000 / w.stepMs);
  const persistAt = (y: number, clearThen: number, clearNow: number) =>
    Number.isFinite(y)
      ? Math.min(cap, clearThen > 0.05 * peakPcs ? y * Math.min(2, Math.max(0.5, clearNow / clearThen)) : y)
      : Number.NaN;
  const smartHist = (i: number) =>
    i >= perDay ? persistAt(obs[i - perDay], pcs[i - perDay], pcs[i]) : Number.NaN;
  return { peakPcs, persistAt, smartHist };
}

const combine = (model: number, persist: number, alpha: number) =>
  Number.isFinite(persist) ? (1 - alpha) * model + alpha * persist : model;

/** The persistence share with the lowest absolute error on the evaluation days. */
function choosePersistenceShare(
  w: PvWindow,
  kappaOf: (day: number) => number,
  smartHist: (i: number) => number,
  modelAt: (i: number, kap: number) => number,
): number {
  const { obs } = w;
  let best = { alpha: 0, abs: Number.POSITIVE_INFINITY };
  for (const alpha of PERSISTENCE_SHARES) {
    let abs = 0;
    for (const d of w.usable) {
      if (d.day < w.evalFirst) continue;
      const kap = kappaOf(d.day);
      for (const i of d.idx) {
        if (!Number.isFinite(obs[i])) continue;
        const m = modelAt(i, kap);
        if (Number.isFinite(m)) abs += Math.abs(obs[i] - combine(m, smartHist(i), alpha));
      }
    }
    if (abs < best.abs - 1e-12) best = { alpha, abs };
  }
  return best.alpha;
}

/*
 * The residual quantiles come from the brighter intervals (normalising by a tiny clear-sky power
 * at dawn would blow up); widen the band until it covers 80 % of all evaluation-day intervals
 * with daylight, as the backtest counts them, so P10–P90 means what it says.
 */
function calibratedBand(qRaw: number[], points: [number, number, number][], cap: number): Band {
  const widen = (f: number) => [
    qRaw[1] + f * (qRaw[0] - qRaw[1]),
    qRaw[1],
    qRaw[1] + f * (qRaw[2] - qRaw[1]),
  ];
  let factor = 1;
  for (const f of BAND_WIDENING) {
    factor = f;
    const q = widen(f);
    let covered = 0;
    let counted = 0;
    for (const [y, point, clear] of points) {
      const [lo, , hi] = applyQuantiles(point, q, clear, 0, cap);
      if (!(hi > lo || y !== 0)) continue;
      counted++;
      if (y >= lo && y <= hi) covered++;
    }
    if (!counted || covered >= 0.8 * counted) break;
  }
  return { q: widen(factor), factor };
}

/** Residual quantile bands of the κ model and the weather model, fitted on the evaluation days. */
function quantileBands(
  w: PvWindow,
  pcs: Float64Array,
  peakPcs: number,
  kappaOf: (day: number) => number,
  smartHist: (i: number) => number,
  weatherPoint: WeatherPoint,
  alpha: { kappa: number; weather: number },
): { kappa: Band; weather: Band; weatherFitted: boolean } {
  const { obs, sky, times } = w;
  const resKappa: number[] = [];
  const resWeather: number[] = [];
  for (const d of w.usable) {
    if (d.day < w.evalFirst) continue;
    const kap = kappaOf(d.day);
    for (const i of d.idx) {
      if (!Number.isFinite(obs[i]) || pcs[i] < 0.1 * peakPcs) continue;
      const sp = smartHist(i);
      resKappa.push((obs[i] - combine(pcs[i] * kap, sp, alpha.kappa)) / pcs[i]);
      const wp = weatherPoint(i, sky, times[i]);
      if (Number.isFinite(wp)) resWeather.push((obs[i] - combine(wp, sp, alpha.weather)) / pcs[i]);
    }
  }
  const zeros = (n: number) => new Array<number>(n).fill(0);
  // [actual, point, clear-sky power] of every evaluation-day interval with daylight.
  const kappaPoints: [number, number, number][] = [];
  const weatherPoints: [number, number, number][] = [];
  for (const d of w.usable) {
    if (d.day < w.evalFirst) continue;
    const kap = kappaOf(d.day);
    for (const i of d.idx) {
      if (!Number.isFinite(obs[i]) || !(pcs[i] > 0)) continue;
      const sp = smartHist(i);
      kappaPoints.push([obs[i], combine(pcs[i] * kap, sp, alpha.kappa), pcs[i]]);
      if (resWeather.length >= 50) {
        const wp = weatherPoint(i, sky, times[i]);
        if (Number.isFinite(wp)) weatherPoints.push([obs[i], combine(wp, sp, alpha.weather), pcs[i]]);
      }
    }
  }
  const kappa = calibratedBand(
    fitResidualQuantiles(zeros(resKappa.length), resKappa).pooled,
    kappaPoints,
    w.cap,
  );
  const qKappa = kappa.q;
  // Weather-driven bands come from past weather inputs when given; otherwise the κ spread, re-centred.
  const weatherFitted = resWeather.length >= 50;
  const weather = weatherFitted
    ? calibratedBand(fitResidualQuantiles(zeros(resWeather.length), resWeather).pooled, weatherPoints, w.cap)
    : { q: qKappa.map((q) => q - qKappa[1]), factor: kappa.factor };
  return { kappa, weather, weatherFitted };
}

export function forecastPv(
  history: RegularSeries,
  issueTime: number,
  steps: number,
  opts: PvOptions,
): Forecast {
  const w = pvWindow(history, issueTime, opts);
  const { site, tz, stepMs, issueDay, times, obs, sky, cap, albedo } = w;
  const o = fitOrientationOnClearDays(w, findClearDays(w));
  const { tilt, azimuth } = o;
  const poaCs = poa(sky, tilt, azimuth, albedo);
  if (o.method === 'upper-quantile') o.k = upperQuantileFactor(w, poaCs);
  const k = o.k;
  const shadeFit = (opts.shading ?? true) ? fitShadingMap(w, o, poaCs, opts.seasonDays) : undefined;
  const { pcs, cal, shade, shadeInfo } = clearSkyPower(w, o, poaCs, shadeFit);
  const expectedIndex = cal.expected;
  const bestW = cal.best;
  const kappaOf = (day: number) => expectedIndex(day, bestW.w);

  const weather = opts.weather;
  const weatherPoint = weatherPointFn(w, o, shade, weather);
  const { peakPcs, persistAt, smartHist } = smartPersistence(w, pcs);
  const alphaKappa = choosePersistenceShare(w, kappaOf, smartHist, (i, kap) => pcs[i] * kap);
  const alphaWeather = weather
    ? choosePersistenceShare(w, kappaOf, smartHist, (i) => weatherPoint(i, sky, times[i]))
    : 0;
  const bands = quantileBands(w, pcs, peakPcs, kappaOf, smartHist, weatherPoint, {
    kappa: alphaKappa,
    weather: alphaWeather,
  });
  const qKappa = bands.kappa.q;
  const qWeather = bands.weather.q;

  const targetTimes = Array.from({ length: steps }, (_, j) => issueTime + j * stepMs);
  const skyT = clearSky(targetTimes, stepMs, site);
  const poaT = poa(skyT, tilt, azimuth, albedo);
  for (let j = 0; j < steps; j++) poaT[j] *= shadeAt(shade, skyT, j);
  const mean: number[] = [];
  const p10: number[] = [];
  const p50: number[] = [];
  const p90: number[] = [];
  let weatherUsed = 0;
  for (let j = 0; j < steps; j++) {
    const clear = Math.min(cap, k * poaT[j]);
    const day = localTime(tz, targetTimes[j]).day;
    const wp = weatherPoint(j, skyT, targetTimes[j]);
    // Smart persistence: the latest day whose same sun time had ended by the issue.
    let back = targetTimes[j] - 86_400_000;
    while (back + stepMs > issueTime) back -= 86_400_000;
    const bi = Math.round((back - times[0]) / stepMs);
    const sp =
      bi >= 0 && bi < times.length && times[bi] === back ? persistAt(obs[bi], pcs[bi], clear) : Number.NaN;
    let point: number;
    let q: number[];
    if (Number.isFinite(wp)) {
      point = combine(wp, sp, alphaWeather);
      q = qWeather;
      weatherUsed++;
    } else {
      point = combine(clear * expectedIndex(Math.min(day, issueDay), bestW.w), sp, alphaKappa);
      q = qKappa;
    }
    const [a, b, c] = clear > 0 ? applyQuantiles(point, q, clear, 0, cap) : [0, 0, 0];
    mean.push(clear > 0 ? point : 0);
    p10.push(a);
    p50.push(b);
    p90.push(c);
  }
  return {
    kind: 'pv',
    modelVersion: PV_MODEL_VERSION,
    issuedAt: issueTime,
    start: issueTime,
    stepMs,
    mean,
    p10,
    p50,
    p90,
    details: {
      tilt,
      azimuth,
      orientationGiven: site.tilt !== undefined && site.azimuth !== undefined,
      calibration: o.method,
      siteFactorPerWm2: k,
      recentWeight: bestW.w,
      expectedClearSkyIndex: expectedIndex(issueDay, bestW.w),
      weatherIntervals: weatherUsed,
      shading: shadeInfo,
      persistenceShare: weather ? { kappa: alphaKappa, weather: alphaWeather } : alphaKappa,
      bandWidening: bands.weatherFitted
        ? { kappa: bands.kappa.factor, weather: bands.weather.factor }
        : bands.kappa.factor,
    },
  };
}
