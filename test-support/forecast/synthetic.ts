/**
 * Synthetic series with known structure, for tests and benchmarks (no real dataset can be fetched
 * here). Deterministic for a given seed.
 */

import { erbs, planeOfArray } from '../../cloud/forecast/irradiance.ts';
import { clearSky, type PvSite } from '../../cloud/forecast/pv-model.ts';
import type { RegularSeries } from '../../cloud/forecast/series.ts';
import { localTime, parseLocalDate } from '../../cloud/forecast/timezone.ts';
import { seededRandom as rng } from '../../cloud/random.ts';

export function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

const bump = (h: number, center: number, width: number) => Math.exp(-0.5 * ((h - center) / width) ** 2);

/** Household-like daily shapes in kW by local hour: weekday, Saturday, Sunday/holiday. */
export function householdShape(hour: number, type: 0 | 1 | 2): number {
  if (type === 0)
    return 0.25 + 0.7 * bump(hour, 7.2, 0.8) + 0.2 * bump(hour, 13, 2) + 1.3 * bump(hour, 19.5, 1.6);
  if (type === 1)
    return 0.3 + 0.6 * bump(hour, 9.5, 1.5) + 0.6 * bump(hour, 13.5, 2) + 1.1 * bump(hour, 19, 2);
  return 0.3 + 0.9 * bump(hour, 11, 1.8) + 0.4 * bump(hour, 16, 2) + 1.0 * bump(hour, 18.5, 1.8);
}

export interface SyntheticLoadOptions {
  start: number;
  days: number;
  stepMs: number;
  timeZone: string;
  seed: number;
  /** relative noise per interval (default 0.25) */
  noise?: number;
  holidays?: string[];
  /** temperature °C per instant; adds heatingPerDegree × max(0, 15.5 − T) kW */
  temperature?: (t: number) => number;
  heatingPerDegree?: number;
  scale?: number;
}

export function syntheticLoad(o: SyntheticLoadOptions): RegularSeries {
  const r = rng(o.seed);
  const n = Math.round((o.days * 86_400_000) / o.stepMs);
  const values = new Float64Array(n);
  const hol = new Set((o.holidays ?? []).map(parseLocalDate));
  const noise = o.noise ?? 0.25;
  const scale = o.scale ?? 1;
  for (let i = 0; i < n; i++) {
    const t = o.start + i * o.stepMs;
    const lt = localTime(o.timeZone, t);
    const wd = lt.weekday;
    const type = hol.has(lt.day) || wd === 0 ? 2 : wd === 6 ? 1 : 0;
    const hour = lt.msOfDay / 3_600_000;
    let v = householdShape(hour, type) * (1 + noise * gaussian(r));
    if (r() < 0.02) v += 1.5 * r(); // kettle, oven: short spikes
    if (o.temperature) v += (o.heatingPerDegree ?? 0) * Math.max(0, 15.5 - o.temperature(t));
    values[i] = Math.max(0, v) * scale;
  }
  return { start: o.start, stepMs: o.stepMs, values };
}

export interface SyntheticPvOptions {
  start: number;
  days: number;
  stepMs: number;
  seed: number;
  site: PvSite & { tilt: number; azimuth: number; capacity: number };
  /** probability that a day is clear (default 1: clear-sky only) */
  clearProbability?: number;
  /** system efficiency relative to POA/1000 × capacity (default 0.85) */
  performanceRatio?: number;
}

/** PV power from clear-sky POA × performance ratio, attenuated on cloudy days (Markov weather). */
export function syntheticPv(o: SyntheticPvOptions): RegularSeries {
  const r = rng(o.seed);
  const n = Math.round((o.days * 86_400_000) / o.stepMs);
  const times = Array.from({ length: n }, (_, i) => o.start + i * o.stepMs);
  const sky = clearSky(times, o.stepMs, o.site);
  const pr = o.performanceRatio ?? 0.85;
  const pClear = o.clearProbability ?? 1;
  const values = new Float64Array(n);
  let day = -1;
  let kind = 0; // 0 clear, 1 broken clouds, 2 overcast
  let base = 1;
  for (let i = 0; i < n; i++) {
    const d = Math.floor(times[i] / 86_400_000);
    if (d !== day) {
      day = d;
      // Weather persists: keep yesterday's kind with probability 0.5.
      if (r() >= 0.5 || day === Math.floor(times[0] / 86_400_000))
        kind = r() < pClear ? 0 : r() < 0.6 ? 1 : 2;
      base = kind === 0 ? 1 : kind === 1 ? 0.55 + 0.3 * r() : 0.15 + 0.2 * r();
    }
    let s = 0;
    for (let k = 0; k < sky.m; k++) {
      s += planeOfArray(sky.irr[i * sky.m + k], sky.sun[i * sky.m + k], o.site.tilt, o.site.azimuth);
    }
    const poa = s / sky.m;
    const kappa = kind === 1 ? Math.min(1.1, Math.max(0.1, base + 0.35 * gaussian(r))) : base;
    values[i] = Math.min(o.site.capacity, (o.site.capacity * pr * poa * kappa) / 1000);
  }
  return { start: o.start, stepMs: o.stepMs, values };
}

/**
 * An obstruction on the horizon seen from the array: between two azimuths (degrees clockwise from
 * north, `from` → `to` clockwise) the sky is hidden below `elevation` degrees. Direct sun behind it
 * passes with `transmittance` (0: a building; trees: more in winter, when deciduous trees are bare).
 */
export interface Obstruction {
  from: number;
  to: number;
  elevation: number;
  transmittance?: number | { summer: number; winter: number };
}

export interface SyntheticResidentialPvOptions {
  start: number;
  days: number;
  stepMs: number;
  seed: number;
  site: PvSite & { tilt: number; azimuth: number; capacity: number };
  obstructions: Obstruction[];
  /** system efficiency relative to POA/1000 × capacity (default 0.85) */
  performanceRatio?: number;
  /** 'clear': every day cloudless (clear-sky index 1), to see the obstructions alone. */
  weather?: 'variable' | 'clear';
  /** Filled with the simulated GHI (W/m², interval mean) when given: the "truth" a weather forecast approximates. */
  ghiOut?: Float64Array;
}

const inArc = (az: number, from: number, to: number) =>
  from <= to ? az >= from && az <= to : az >= from || az <= to;

/** 0 in mid-winter, 1 in mid-summer (northern hemisphere; flipped south of the equator). */
function summerness(t: number, latitude: number): number {
  const doy = (t - Date.UTC(new Date(t).getUTCFullYear(), 0, 1)) / 86_400_000;
  const s = (1 - Math.cos((2 * Math.PI * (doy - 10)) / 365.25)) / 2;
  return latitude >= 0 ? s : 1 - s;
}

/**
 * A small residential rooftop: clear-sky irradiance (Ineichen) scaled by a weather process, split
 * into beam and diffuse (Erbs), the beam blocked or thinned by obstructions on the horizon (houses,
 * trees: strongest in winter, at low sun), transposed onto the array and clipped at the inverter.
 *
 * Weather: each day is clear, broken or overcast, kept from the day before with probability 0.45
 * and otherwise drawn with seasonal odds (winter: mostly overcast; summer: mostly clear or broken).
 * Broken days have an AR(1) clear-sky index (15-min lag correlation 0.75) around a daily level; clear
 * days a thin haze; overcast days a low, slowly varying index.
 */
export function syntheticResidentialPv(o: SyntheticResidentialPvOptions): RegularSeries {
  const r = rng(o.seed);
  const n = Math.round((o.days * 86_400_000) / o.stepMs);
  const times = Array.from({ length: n }, (_, i) => o.start + i * o.stepMs);
  const sky = clearSky(times, o.stepMs, o.site);
  const pr = o.performanceRatio ?? 0.85;
  const values = new Float64Array(n);
  const rho = 0.75 ** (o.stepMs / 900_000);
  let day = Number.NaN;
  let kind = 1; // 0 clear, 1 broken, 2 overcast
  let level = 0.7;
  let ar = 0;
  for (let i = 0; i < n; i++) {
    const t = times[i];
    const d = Math.floor(t / 86_400_000);
    const summer = summerness(t, o.site.latitude);
    if (d !== day) {
      if (Number.isNaN(day) || r() >= 0.45) {
        const pClear = 0.15 + 0.25 * summer;
        const pOvercast = 0.5 - 0.35 * summer;
        const u = r();
        kind = u < pClear ? 0 : u < pClear + pOvercast ? 2 : 1;
      }
      day = d;
      level = kind === 0 ? 0.93 + 0.05 * r() : kind === 1 ? 0.45 + 0.35 * r() : 0.12 + 0.2 * r();
    }
    ar = rho * ar + Math.sqrt(1 - rho * rho) * gaussian(r);
    const kappa =
      o.weather === 'clear'
        ? 1
        : kind === 0
          ? Math.min(1.02, level + 0.01 * ar)
          : kind === 1
            ? Math.min(1.15, Math.max(0.08, level + 0.28 * ar))
            : Math.max(0.05, level + 0.04 * ar);
    let s = 0;
    for (let k = 0; k < sky.m; k++) {
      const sun = sky.sun[i * sky.m + k];
      const cs = sky.irr[i * sky.m + k];
      if (sun.zenith >= 90 || cs.ghi <= 0) continue;
      const irr = erbs(cs.ghi * kappa, sun.zenith, sun.dniExtra);
      if (o.ghiOut) o.ghiOut[i] += irr.ghi / sky.m;
      const elevation = 90 - sun.zenith;
      let beam = 1;
      for (const ob of o.obstructions) {
        if (elevation < ob.elevation && inArc(sun.azimuth, ob.from, ob.to)) {
          const tr = ob.transmittance ?? 0;
          const x = typeof tr === 'number' ? tr : tr.winter + (tr.summer - tr.winter) * summer;
          beam = Math.min(beam, x);
        }
      }
      // Obstructions also hide a little of the sky dome.
      s += planeOfArray(
        { ghi: irr.ghi, dni: irr.dni * beam, dhi: irr.dhi * 0.92 },
        sun,
        o.site.tilt,
        o.site.azimuth,
      );
    }
    values[i] = Math.min(o.site.capacity, (o.site.capacity * pr * (s / sky.m)) / 1000);
  }
  return { start: o.start, stepMs: o.stepMs, values };
}
