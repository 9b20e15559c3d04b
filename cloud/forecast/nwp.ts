/**
 * NWP point forecasts as open weather APIs return them (the Open-Meteo JSON shape): one run per
 * object, `hourly.time` plus one array per variable, with the run's issue time. A forecast issued
 * at T may only use runs issued at or before T — `weatherAt` enforces that, so a backtest over
 * archived runs cannot peek at weather that was not yet known.
 *
 * Accepted per run (errors name the run and the key):
 *   issued_at            ISO 8601 instant with offset or Z (required: when the run was available)
 *   utc_offset_seconds   offset of `hourly.time` strings without an offset (default 0)
 *   radiation_period     'preceding' (default: Open-Meteo's hourly radiation is the mean of the hour
 *                        before the timestamp) or 'following'
 *   hourly.time          ISO local times (with or without offset), hourly
 *   hourly.shortwave_radiation | ghi           GHI, W/m²
 *   hourly.direct_normal_irradiance | dni      DNI, W/m²
 *   hourly.diffuse_radiation | dhi             DHI, W/m²
 *   hourly.cloud_cover | cloudcover            total cloud cover, %
 *   hourly.temperature_2m | temperature        air temperature, °C
 * Nulls are gaps.
 */
import { parseInstant } from './csv.ts';
import type { WeatherInput } from './pv-model.ts';
import type { RegularSeries } from './series.ts';

const HOUR_MS = 3_600_000;

export interface NwpRun {
  issuedAt: number;
  /** First hourly stamp (UTC epoch ms): cloud cover and temperature hold from their stamp on. */
  start: number;
  /** Start of the first hourly radiation interval: radiation values are means over [start + kh, +1 h). */
  radiationStart: number;
  ghi?: Float64Array;
  dni?: Float64Array;
  dhi?: Float64Array;
  /** 0…1 */
  cloudCover?: Float64Array;
  /** °C, at the start of each hour */
  temperature?: Float64Array;
}

type NwpVariable = 'ghi' | 'dni' | 'dhi' | 'cloudCover' | 'temperature';

const VARIABLES: { key: NwpVariable; names: string[]; radiation: boolean }[] = [
  { key: 'ghi', names: ['shortwave_radiation', 'ghi'], radiation: true },
  { key: 'dni', names: ['direct_normal_irradiance', 'dni'], radiation: true },
  { key: 'dhi', names: ['diffuse_radiation', 'dhi'], radiation: true },
  { key: 'cloudCover', names: ['cloud_cover', 'cloudcover'], radiation: false },
  { key: 'temperature', names: ['temperature_2m', 'temperature'], radiation: false },
];

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

function parseTime(s: unknown, offsetS: number, where: string): number {
  if (typeof s !== 'string')
    throw new Error(`${where}: expected an ISO 8601 time string, got ${JSON.stringify(s)}`);
  const withZone = parseInstant(s);
  if (Number.isFinite(withZone)) return withZone;
  const m = LOCAL.exec(s.trim());
  if (!m) throw new Error(`${where}: invalid time "${s}" (expected e.g. 2024-06-01T13:00)`);
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0);
  return t - offsetS * 1000;
}

/** One run from a parsed JSON object; `where` names it in errors (file and index). */
export function parseNwpRun(raw: unknown, where: string): NwpRun {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${where}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  if (o.issued_at === undefined)
    throw new Error(
      `${where}: issued_at is required (when the run was available, ISO 8601 with offset or Z)`,
    );
  const issuedAt = typeof o.issued_at === 'string' ? parseInstant(o.issued_at) : Number.NaN;
  if (!Number.isFinite(issuedAt))
    throw new Error(
      `${where}: issued_at must be an ISO 8601 instant with offset or Z, got ${JSON.stringify(o.issued_at)}`,
    );
  const offset = o.utc_offset_seconds ?? 0;
  if (typeof offset !== 'number' || !Number.isFinite(offset))
    throw new Error(`${where}: utc_offset_seconds must be a number`);
  const period = o.radiation_period ?? 'preceding';
  if (period !== 'preceding' && period !== 'following')
    throw new Error(`${where}: radiation_period must be "preceding" or "following"`);
  const hourly = o.hourly as Record<string, unknown> | undefined;
  if (!hourly || typeof hourly !== 'object')
    throw new Error(`${where}: hourly is required (an object of arrays)`);
  if (!Array.isArray(hourly.time) || hourly.time.length === 0)
    throw new Error(`${where}: hourly.time must be a non-empty array`);
  const times = hourly.time.map((s, i) => parseTime(s, offset, `${where}: hourly.time[${i}]`));
  for (let i = 1; i < times.length; i++)
    if (times[i] - times[i - 1] !== HOUR_MS)
      throw new Error(`${where}: hourly.time[${i}] is not one hour after hourly.time[${i - 1}]`);
  const run: NwpRun = { issuedAt, start: times[0], radiationStart: times[0] };
  let any = false;
  for (const v of VARIABLES) {
    const name = v.names.find((n) => hourly[n] !== undefined);
    if (!name) continue;
    const arr = hourly[name];
    if (!Array.isArray(arr) || arr.length !== times.length)
      throw new Error(`${where}: hourly.${name} must be an array as long as hourly.time (${times.length})`);
    const values = new Float64Array(arr.length);
    arr.forEach((x, i) => {
      if (x === null) values[i] = Number.NaN;
      else if (typeof x === 'number' && Number.isFinite(x)) values[i] = x;
      else
        throw new Error(`${where}: hourly.${name}[${i}] must be a number or null, got ${JSON.stringify(x)}`);
    });
    if (v.key === 'cloudCover') for (let i = 0; i < values.length; i++) values[i] /= 100;
    run[v.key] = values;
    any = true;
  }
  if (!any)
    throw new Error(
      `${where}: hourly has none of ${VARIABLES.flatMap((v) => v.names.slice(0, 1)).join(', ')}`,
    );
  // Radiation stamped at the end of its hour covers the hour before: its intervals start an hour
  // before the stamps. Instantaneous values (cloud cover, temperature) stay at their stamps.
  if (period === 'preceding') run.radiationStart = run.start - HOUR_MS;
  return run;
}

const startOf = (run: NwpRun, key: NwpVariable) =>
  VARIABLES.find((v) => v.key === key)?.radiation ? run.radiationStart : run.start;

/** The JSON text of one run or an array of runs. */
export function parseNwpJson(text: string, source: string): NwpRun[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const list = Array.isArray(raw) ? raw : [raw];
  if (!list.length) throw new Error(`${source}: no forecast run in the file`);
  return list.map((r, i) => parseNwpRun(r, Array.isArray(raw) ? `${source} run ${i}` : source));
}

/** Hourly value of a run's variable for the interval starting at t (NaN outside the run). */
function hourly(run: NwpRun, key: NwpVariable, t: number): number {
  const a = run[key];
  if (!a) return Number.NaN;
  const k = Math.floor((t - startOf(run, key)) / HOUR_MS);
  return k >= 0 && k < a.length ? a[k] : Number.NaN;
}

/**
 * A variable on the grid [from, to) as it was known at `issueTime`: each interval from the latest
 * run issued at or before both the issue time and the interval itself (past intervals get the
 * forecast that was current before them, for honest residual bands), NaN where no such run covers
 * it. Never uses a run issued after `issueTime`.
 */
export function nwpSeries(
  runs: NwpRun[],
  key: NwpVariable,
  issueTime: number,
  from: number,
  to: number,
  stepMs: number,
): RegularSeries {
  const known = runs.filter((r) => r.issuedAt <= issueTime && r[key]).sort((a, b) => b.issuedAt - a.issuedAt);
  const n = Math.max(0, Math.round((to - from) / stepMs));
  const values = new Float64Array(n).fill(Number.NaN);
  for (let i = 0; i < n; i++) {
    const t = from + i * stepMs;
    for (const r of known) {
      if (r.issuedAt > t && t < issueTime) continue; // a past interval only sees runs made before it
      const v = hourly(r, key, t);
      if (Number.isFinite(v)) {
        values[i] = v;
        break;
      }
    }
  }
  return { start: from, stepMs, values };
}

/** The PV weather input at `issueTime`: GHI where the runs have it, else cloud cover; undefined if neither. */
export function nwpWeather(
  runs: NwpRun[],
  issueTime: number,
  from: number,
  to: number,
  stepMs: number,
): WeatherInput | undefined {
  const usable = runs.filter((r) => r.issuedAt <= issueTime);
  if (usable.some((r) => r.ghi)) {
    // With the run's own beam/diffuse split the model uses it instead of splitting GHI itself.
    const split = usable.some((r) => r.dni && r.dhi);
    return {
      kind: 'ghi',
      series: nwpSeries(runs, 'ghi', issueTime, from, to, stepMs),
      ...(split
        ? {
            dni: nwpSeries(runs, 'dni', issueTime, from, to, stepMs),
            dhi: nwpSeries(runs, 'dhi', issueTime, from, to, stepMs),
          }
        : {}),
    };
  }
  if (usable.some((r) => r.cloudCover))
    return { kind: 'cloud_cover', series: nwpSeries(runs, 'cloudCover', issueTime, from, to, stepMs) };
  return undefined;
}
