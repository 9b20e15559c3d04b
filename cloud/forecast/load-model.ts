/**
 * Load model: similar-day profiles with recency weights, a recent-level correction and an optional
 * temperature term, with its configuration chosen per site by out-of-sample error on the weeks just
 * before the issue time.
 *
 * For each target interval the forecast combines the same wall-clock slot (smoothed with its
 * neighbours) on recent days of the same kind — either the same day type (weekday / Saturday /
 * Sunday-or-holiday) or the same weekday — as a recency-weighted mean or median. Averaging several
 * similar days is what beats "same as yesterday / last week": it keeps the daily and weekly shape and
 * drops most of the noise a single day carries.
 */
import { type DayMatrix, dayMatrix, dayType, holidaySet, type TargetCell, targetCells } from './calendar.ts';
import { applyQuantiles, fitResidualQuantiles } from './quantiles.ts';
import { before, HOUR_MS, type RegularSeries } from './series.ts';
import { weightedMedian } from './stats.ts';
import { localTime, weekdayOfDay } from './timezone.ts';
import type { Forecast } from './types.ts';

export const LOAD_MODEL_VERSION = 'load-similar-day/1';

export interface LoadOptions {
  timeZone: string;
  /** Local dates (YYYY-MM-DD or day numbers) that behave like Sundays. */
  holidays?: Iterable<string | number>;
  /** Air temperature in °C on the same grid, covering history and (as a forecast) the horizon. */
  temperature?: RegularSeries;
  /** Days of history the model looks at (default 70). */
  windowDays?: number;
  /** Days just before the issue used to choose the configuration and fit quantiles (default 28). */
  evalDays?: number;
}

interface Config {
  match: 'daytype' | 'weekday';
  agg: 'mean' | 'median';
  level: boolean;
}

const BASE_CONFIGS: Omit<Config, 'level'>[] = [
  { match: 'daytype', agg: 'mean' },
  { match: 'daytype', agg: 'median' },
  { match: 'weekday', agg: 'mean' },
  { match: 'weekday', agg: 'median' },
];

const HEATING_BASE_C = 15.5;
const COOLING_BASE_C = 22;
const MIN_HISTORY_DAYS = 7;

interface Ctx {
  y: DayMatrix;
  types: Int8Array; // per matrix day
  holidays: Set<number>;
}

function typeOf(ctx: Ctx, day: number): number {
  const d = day - ctx.y.firstDay;
  return d >= 0 && d < ctx.types.length ? ctx.types[d] : dayType(day, ctx.holidays);
}

/** One day's value at a slot, smoothed with its neighbours (timing jitter of appliances). */
function smoothed(m: DayMatrix, d: number, slot: number, smooth: boolean): number {
  const base = d * m.slotsPerDay;
  const c = m.values[base + slot];
  if (!smooth) return c;
  let sum = 0;
  let w = 0;
  if (!Number.isNaN(c)) {
    sum += c;
    w += 1;
  }
  if (slot > 0 && !Number.isNaN(m.values[base + slot - 1])) {
    sum += 0.5 * m.values[base + slot - 1];
    w += 0.5;
  }
  if (slot + 1 < m.slotsPerDay && !Number.isNaN(m.values[base + slot + 1])) {
    sum += 0.5 * m.values[base + slot + 1];
    w += 0.5;
  }
  return w >= 1 ? sum / w : Number.NaN;
}

const vals: number[] = [];
const wts: number[] = [];

/** Profile value for (day, slot) from days strictly before `day`, read from matrix m. */
function profile(
  ctx: Ctx,
  m: DayMatrix,
  cfg: Omit<Config, 'level'>,
  day: number,
  slot: number,
  agg = cfg.agg,
): number {
  const smooth = m.slotMs <= 15 * 60_000;
  const type = typeOf(ctx, day);
  const weekday = weekdayOfDay(day);
  const isHoliday = ctx.holidays.has(day);
  const k = cfg.match === 'weekday' ? 4 : type === 0 ? 10 : 4;
  const halfLife = cfg.match === 'weekday' ? 28 : 14;
  vals.length = 0;
  wts.length = 0;
  for (let d = day - 1; d >= m.firstDay && vals.length < k; d--) {
    const di = d - m.firstDay;
    if (di >= m.nDays) continue;
    const ok =
      cfg.match === 'daytype' || isHoliday
        ? typeOf(ctx, d) === type
        : weekdayOfDay(d) === weekday && !ctx.holidays.has(d);
    if (!ok) continue;
    const v = smoothed(m, di, slot, smooth);
    if (Number.isNaN(v)) continue;
    vals.push(v);
    wts.push(0.5 ** ((day - d) / halfLife));
  }
  if (vals.length === 0) return Number.NaN;
  if (agg === 'median') return weightedMedian(vals, wts);
  let s = 0;
  let w = 0;
  for (let i = 0; i < vals.length; i++) {
    s += vals[i] * wts[i];
    w += wts[i];
  }
  return s / w;
}

function degreeMatrices(temp: DayMatrix): { heat: DayMatrix; cool: DayMatrix } {
  const heat = {
    ...temp,
    values: temp.values.map((t) => (Number.isNaN(t) ? t : Math.max(0, HEATING_BASE_C - t))),
  };
  const cool = {
    ...temp,
    values: temp.values.map((t) => (Number.isNaN(t) ? t : Math.max(0, t - COOLING_BASE_C))),
  };
  return { heat, cool };
}

/** Recent-level factor: how far actual load ran above or below the profile over the 7 days before `day`. */
function levelFactor(y: DayMatrix, fc: Float64Array, fcFirstDay: number, day: number): number {
  let a = 0;
  let f = 0;
  const spd = y.slotsPerDay;
  for (let d = day - 7; d < day; d++) {
    const fi = d - fcFirstDay;
    const yi = d - y.firstDay;
    if (fi < 0 || yi < 0 || yi >= y.nDays) continue;
    for (let s = 0; s < spd; s++) {
      const av = y.values[yi * spd + s];
      const fv = fc[fi * spd + s];
      if (!Number.isNaN(av) && !Number.isNaN(fv)) {
        a += av;
        f += fv;
      }
    }
  }
  if (f <= 0 || a <= 0) return 1;
  const ratio = Math.min(1.25, Math.max(0.8, a / f));
  return 1 + 0.5 * (ratio - 1); // shrunk: a week is a noisy estimate of a level shift
}

/**
 * The out-of-sample evaluation: pseudo-forecasts for the `nPseudo` days from `pseudoFirst`, each
 * from data before that day only; the last `nPseudo - 7` of them are the evaluation days.
 */
interface Evaluation {
  ctx: Ctx;
  y: DayMatrix;
  spd: number;
  firstDay: number;
  pseudoFirst: number;
  nPseudo: number;
}

interface TemperatureTerm {
  heat: DayMatrix;
  cool: DayMatrix;
  full: DayMatrix;
  bh: number;
  bc: number;
}

type ChosenConfig = { ci: number; level: boolean; mae: number };

function countDaysWithData(y: DayMatrix): number {
  const spd = y.slotsPerDay;
  const daysWithData = new Set<number>();
  for (let d = 0; d < y.nDays; d++) {
    for (let s = 0; s < spd; s++) {
      if (!Number.isNaN(y.values[d * spd + s])) {
        daysWithData.add(d);
        break;
      }
    }
  }
  return daysWithData.size;
}

/** Out-of-sample forecasts for the days before the issue, one series per base configuration. */
function pseudoForecasts(e: Evaluation): Float64Array[] {
  const { ctx, y, spd, firstDay, pseudoFirst, nPseudo } = e;
  return BASE_CONFIGS.map((cfg) => {
    const fc = new Float64Array(nPseudo * spd).fill(Number.NaN);
    for (let p = 0; p < nPseudo; p++) {
      const day = pseudoFirst + p;
      if (day - firstDay < MIN_HISTORY_DAYS) continue;
      for (let s = 0; s < spd; s++) fc[p * spd + s] = profile(ctx, y, cfg, day, s);
    }
    return fc;
  });
}

/** The configuration (and whether to apply the level factor) with the lowest MAE on the evaluation days. */
function chooseConfig(e: Evaluation, pseudo: Float64Array[]): ChosenConfig {
  const { y, spd, firstDay, pseudoFirst, nPseudo } = e;
  let best = { ci: 0, level: false, mae: Number.POSITIVE_INFINITY };
  for (let ci = 0; ci < BASE_CONFIGS.length; ci++) {
    for (const level of [false, true]) {
      let abs = 0;
      let n = 0;
      for (let p = 7; p < nPseudo; p++) {
        const day = pseudoFirst + p;
        const yi = day - firstDay;
        if (yi < 0) continue;
        const lf = level ? levelFactor(y, pseudo[ci], pseudoFirst, day) : 1;
        for (let s = 0; s < spd; s++) {
          const a = y.values[yi * spd + s];
          const f = pseudo[ci][p * spd + s];
          if (Number.isNaN(a) || Number.isNaN(f)) continue;
          abs += Math.abs(a - f * lf);
          n++;
        }
      }
      const mae = n ? abs / n : Number.POSITIVE_INFINITY;
      if (mae < best.mae - 1e-12) best = { ci, level, mae };
    }
  }
  return best;
}

/** Temperature term fitted on the evaluation days' residuals against degree-hour deviations. */
function fitTemperature(
  e: Evaluation,
  cfg: Omit<Config, 'level'>,
  fcPseudo: Float64Array,
  level: boolean,
  full: DayMatrix,
): TemperatureTerm | undefined {
  const { ctx, y, spd, firstDay, pseudoFirst, nPseudo } = e;
  const { heat, cool } = degreeMatrices(full);
  let shh = 0;
  let scc = 0;
  let shc = 0;
  let shr = 0;
  let scr = 0;
  let n = 0;
  for (let p = 7; p < nPseudo; p++) {
    const day = pseudoFirst + p;
    const yi = day - firstDay;
    if (yi < 0) continue;
    const lf = level ? levelFactor(y, fcPseudo, pseudoFirst, day) : 1;
    for (let s = 0; s < spd; s++) {
      const a = y.values[yi * spd + s];
      const f = fcPseudo[p * spd + s];
      const h = heat.values[yi * spd + s];
      const c = cool.values[yi * spd + s];
      if (Number.isNaN(a) || Number.isNaN(f) || Number.isNaN(h)) continue;
      const dh = h - profile(ctx, heat, cfg, day, s, 'mean');
      const dc = c - profile(ctx, cool, cfg, day, s, 'mean');
      if (Number.isNaN(dh) || Number.isNaN(dc)) continue;
      const r = a - f * lf;
      shh += dh * dh;
      scc += dc * dc;
      shc += dh * dc;
      shr += dh * r;
      scr += dc * r;
      n++;
    }
  }
  if (n < 96) return undefined;
  // Ridge-regularized 2×2 normal equations; a season without cooling leaves bc ≈ 0.
  const lam = 1e-3 * (shh + scc) + 1e-9;
  const a11 = shh + lam;
  const a22 = scc + lam;
  const det = a11 * a22 - shc * shc;
  const bh = (a22 * shr - shc * scr) / det;
  const bc = (a11 * scr - shc * shr) / det;
  return { heat, cool, full, bh, bc };
}

/** The temperature term's contribution at a day and slot (0 without a fitted term or data there). */
function temperatureTermFn(
  ctx: Ctx,
  cfg: Omit<Config, 'level'>,
  temp: TemperatureTerm | undefined,
  spd: number,
): (day: number, slot: number) => number {
  return (day, slot) => {
    if (!temp) return 0;
    const d = day - temp.full.firstDay;
    if (d < 0 || d >= temp.full.nDays) return 0;
    const h = temp.heat.values[d * spd + slot];
    const c = temp.cool.values[d * spd + slot];
    if (Number.isNaN(h)) return 0;
    const dh = h - profile(ctx, temp.heat, cfg, day, slot, 'mean');
    const dc = c - profile(ctx, temp.cool, cfg, day, slot, 'mean');
    if (Number.isNaN(dh) || Number.isNaN(dc)) return 0;
    return temp.bh * dh + temp.bc * dc;
  };
}

/** Residuals of the chosen model on the evaluation days → quantiles per local hour. */
function hourlyResidualQuantiles(
  e: Evaluation,
  fcPseudo: Float64Array,
  level: boolean,
  stepMs: number,
  tempTerm: (day: number, slot: number) => number,
) {
  const { y, spd, firstDay, pseudoFirst, nPseudo } = e;
  const hours: number[] = [];
  const res: number[] = [];
  for (let p = 7; p < nPseudo; p++) {
    const day = pseudoFirst + p;
    const yi = day - firstDay;
    if (yi < 0) continue;
    const lf = level ? levelFactor(y, fcPseudo, pseudoFirst, day) : 1;
    for (let s = 0; s < spd; s++) {
      const a = y.values[yi * spd + s];
      const f = fcPseudo[p * spd + s];
      if (Number.isNaN(a) || Number.isNaN(f)) continue;
      hours.push(Math.floor((s * stepMs) / HOUR_MS));
      res.push(a - (f * lf + tempTerm(day, s)));
    }
  }
  return fitResidualQuantiles(hours, res);
}

export function forecastLoad(
  history: RegularSeries,
  issueTime: number,
  steps: number,
  opts: LoadOptions,
): Forecast {
  const tz = opts.timeZone;
  const hist = before(history, issueTime);
  const stepMs = hist.stepMs;
  const windowDays = opts.windowDays ?? 70;
  const evalDays = opts.evalDays ?? 28;
  const issueDay = localTime(tz, issueTime).day;
  const firstDay = issueDay - windowDays;
  const holidays = holidaySet(opts.holidays);
  const y = dayMatrix(hist, tz, firstDay, windowDays + 1);
  const spd = y.slotsPerDay;

  const withData = countDaysWithData(y);
  if (withData < MIN_HISTORY_DAYS) {
    throw new Error(
      `too little load history: ${withData} day(s) with data in the ${windowDays} days before the issue time; need at least ${MIN_HISTORY_DAYS}`,
    );
  }
  const types = new Int8Array(y.nDays);
  for (let d = 0; d < y.nDays; d++) types[d] = dayType(firstDay + d, holidays);
  const ctx: Ctx = { y, types, holidays };
  let nonNegative = true;
  for (const v of hist.values) if (v < 0) nonNegative = false;

  const e: Evaluation = {
    ctx,
    y,
    spd,
    firstDay,
    pseudoFirst: issueDay - evalDays - 7,
    nPseudo: evalDays + 7,
  };
  const pseudo = pseudoForecasts(e);
  const best = chooseConfig(e, pseudo);
  const cfg = BASE_CONFIGS[best.ci];
  const fcPseudo = pseudo[best.ci];

  let temp: TemperatureTerm | undefined;
  if (opts.temperature) {
    const lastTargetDay = localTime(tz, issueTime + (steps - 1) * stepMs).day;
    const full = dayMatrix(opts.temperature, tz, firstDay, lastTargetDay - firstDay + 1);
    temp = fitTemperature(e, cfg, fcPseudo, best.level, full);
  }
  const tempTerm = temperatureTermFn(ctx, cfg, temp, spd);
  const rq = hourlyResidualQuantiles(e, fcPseudo, best.level, stepMs, tempTerm);

  const targets: TargetCell[] = targetCells(tz, issueTime, stepMs, steps);
  const lfIssue = best.level ? levelFactor(y, fcPseudo, e.pseudoFirst, issueDay) : 1;
  const mean: number[] = [];
  const p10: number[] = [];
  const p50: number[] = [];
  const p90: number[] = [];
  const lower = nonNegative ? 0 : Number.NEGATIVE_INFINITY;
  for (const tc of targets) {
    let f = profile(ctx, y, cfg, tc.day, tc.slot);
    if (Number.isNaN(f)) f = profile(ctx, y, { match: 'daytype', agg: 'mean' }, tc.day, tc.slot);
    if (Number.isNaN(f)) f = nearestSlotMean(y, tc.slot);
    const point = f * lfIssue + tempTerm(tc.day, tc.slot);
    const [a, b, c] = applyQuantiles(point, rq.byHour[tc.hour], 1, lower);
    mean.push(Math.max(lower, point));
    p10.push(a);
    p50.push(b);
    p90.push(c);
  }
  return {
    kind: 'load',
    modelVersion: LOAD_MODEL_VERSION,
    issuedAt: issueTime,
    start: issueTime,
    stepMs,
    mean,
    p10,
    p50,
    p90,
    details: {
      match: cfg.match,
      aggregate: cfg.agg,
      levelFactor: best.level ? lfIssue : null,
      temperature: temp ? { heatingPerDegree: temp.bh, coolingPerDegree: temp.bc } : null,
      evalMae: best.mae,
      residuals: rq.count,
    },
  };
}

/** Last resort for a slot no similar day covers: the mean of that slot over all days in the window. */
function nearestSlotMean(m: DayMatrix, slot: number): number {
  let s = 0;
  let n = 0;
  for (let d = 0; d < m.nDays; d++) {
    const v = m.values[d * m.slotsPerDay + slot];
    if (!Number.isNaN(v)) {
      s += v;
      n++;
    }
  }
  return n ? s / n : 0;
}
