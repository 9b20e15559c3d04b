import type { Bucket, TimeSeriesStore } from '../../storage/timeseries/types.ts';
import { DAY_MS, HOUR_MS } from '../model/time.ts';
import { type DayLoad, tenOfTenBaseline } from './baseline.ts';

/**
 * Delivered energy from stored telemetry, for settlement. Sign: + = export into the grid (the
 * canonical convention: meter `w` at the PCC reads positive export, a device's `w` positive
 * delivery into the site bus).
 *
 * Per settlement interval the energy comes from the meter's lifetime counters when they are there
 * (`wh_out` - `wh_in`, delta of the last reading in the interval against the last reading of the
 * interval before): the meter integrates continuously (revenue-grade), a gap in telemetry inside
 * the interval loses nothing, and consecutive deltas telescope, so no Wh is dropped or counted
 * twice between intervals. Without counters (or after a counter reset) it integrates `w`: the mean
 * of each minute that has samples times its length, minutes without samples filled with the
 * interval's mean (coverage says how much was measured).
 */

export type MeterMethod = 'counters' | 'power' | 'none';

export interface IntervalEnergy {
  readonly start: number;
  /** Net energy exported in the interval (Wh); 0 when method is 'none'. */
  readonly wh: number;
  readonly method: MeterMethod;
  /** Fraction of the interval's minutes with power samples (1 for counters). */
  readonly coverage: number;
}

const MINUTE_MS = 60_000;

/** Net exported energy of `devices` of `site` (summed) per interval in [from, to). */
export async function meteredEnergy(
  store: TimeSeriesStore,
  site: string,
  devices: readonly string[],
  from: number,
  to: number,
  stepMs: number,
): Promise<IntervalEnergy[]> {
  const n = Math.round((to - from) / stepMs);
  const total = Array.from({ length: n }, (_, k) => ({
    start: from + k * stepMs,
    wh: 0,
    method: 'none' as MeterMethod,
    coverage: 0,
  }));
  if (!devices.length) return total;
  const [counters, power] = await Promise.all([
    store.range({
      sites: [site],
      devices: [...devices],
      points: ['wh_out', 'wh_in'],
      from: from - stepMs,
      to,
      bucketMs: stepMs,
    }),
    store.range({ sites: [site], devices: [...devices], points: ['w'], from, to, bucketMs: MINUTE_MS }),
  ]);
  const last = new Map<string, number>(); // device|point|bucket start -> last (max) counter value
  for (const b of counters) last.set(`${b.device}|${b.point}|${b.t}`, b.max);
  const minutes = new Map<string, Bucket[]>(); // device|interval -> minute buckets
  for (const b of power) {
    const k = `${b.device}|${Math.floor((b.t - from) / stepMs)}`;
    const list = minutes.get(k);
    if (list) list.push(b);
    else minutes.set(k, [b]);
  }
  const perInterval = stepMs / MINUTE_MS;
  const rank: Record<MeterMethod, number> = { counters: 0, power: 1, none: 2 };
  for (let k = 0; k < n; k++) {
    const t = from + k * stepMs;
    const iv = total[k];
    iv.method = 'counters';
    iv.coverage = 1;
    for (const device of devices) {
      const c = (point: string, at: number) => last.get(`${device}|${point}|${at}`);
      const [out1, out0, in1, in0] = [
        c('wh_out', t),
        c('wh_out', t - stepMs),
        c('wh_in', t),
        c('wh_in', t - stepMs),
      ];
      let m: MeterMethod = 'none';
      let cov = 0;
      if (
        out1 !== undefined &&
        out0 !== undefined &&
        in1 !== undefined &&
        in0 !== undefined &&
        out1 >= out0 &&
        in1 >= in0
      ) {
        iv.wh += out1 - out0 - (in1 - in0);
        m = 'counters';
        cov = 1;
      } else {
        const mins = minutes.get(`${device}|${k}`);
        if (mins?.length) {
          const mean = mins.reduce((s, b) => s + b.mean, 0) / mins.length;
          iv.wh += (mean * stepMs) / HOUR_MS;
          m = 'power';
          cov = mins.length / perInterval;
        }
      }
      // One unmeasured device leaves the interval unmeasured; the weakest method names the total.
      if (rank[m] > rank[iv.method]) iv.method = m;
      iv.coverage = Math.min(iv.coverage, cov);
    }
    if (iv.method === 'none') iv.wh = 0;
  }
  return total;
}

/** Hourly mean site load (W, consumption positive = minus the PCC meters' export) per UTC day. */
export async function hourlyLoadByDay(
  store: TimeSeriesStore,
  site: string,
  meters: readonly string[],
  fromDay: number,
  toDay: number,
): Promise<Map<number, (number | undefined)[]>> {
  const out = new Map<number, (number | undefined)[]>();
  if (!meters.length) return out;
  const buckets = await store.range({
    sites: [site],
    devices: [...meters],
    points: ['w'],
    from: fromDay * DAY_MS,
    to: toDay * DAY_MS,
    bucketMs: HOUR_MS,
  });
  const perMeter = new Map<string, number>(); // day|hour -> meters seen
  for (const b of buckets) {
    const day = Math.floor(b.t / DAY_MS);
    const h = Math.floor((b.t - day * DAY_MS) / HOUR_MS);
    let row = out.get(day);
    if (!row) {
      row = Array.from({ length: 24 }, () => undefined);
      out.set(day, row);
    }
    row[h] = (row[h] ?? 0) - b.mean;
    perMeter.set(`${day}|${h}`, (perMeter.get(`${day}|${h}`) ?? 0) + 1);
  }
  // An hour where one of several meters is missing is not a measured site load.
  for (const [day, row] of out)
    for (let h = 0; h < 24; h++) if ((perMeter.get(`${day}|${h}`) ?? 0) < meters.length) row[h] = undefined;
  return out;
}

export interface DrPerformance {
  readonly eventHours: { start: number; end: number };
  readonly usedDays: number[];
  readonly adjustment: number;
  /** Adjusted baseline load per event hour (W). */
  readonly baselineW: number[];
  /** Metered load per event hour (W). */
  readonly actualW: number[];
  /** Baseline minus actual per event hour (W): the delivered reduction. */
  readonly reductionW: number[];
}

/**
 * Demand-response performance of a site on an event day: "10 of 10" baseline with day-of
 * adjustment (baseline.ts) over the site's stored history. Eligible days are complete (24 measured
 * hours), before the event day, of the same day type (weekday/weekend) and not event days
 * themselves (`excludeDays`), looking back up to 45 days.
 */
export async function drPerformance(
  store: TimeSeriesStore,
  site: string,
  meters: readonly string[],
  eventDay: number,
  eventHours: { start: number; end: number },
  excludeDays: ReadonlySet<number> = new Set(),
): Promise<DrPerformance> {
  const byDay = await hourlyLoadByDay(store, site, meters, eventDay - 45, eventDay + 1);
  const weekend = (d: number) => [0, 6].includes(new Date(d * DAY_MS).getUTCDay());
  const history: DayLoad[] = [];
  for (const [day, row] of byDay) {
    if (day >= eventDay || excludeDays.has(day) || weekend(day) !== weekend(eventDay)) continue;
    if (row.every((v) => v !== undefined)) history.push({ day, hourlyW: row as number[] });
  }
  const today = byDay.get(eventDay) ?? Array.from({ length: 24 }, () => undefined);
  // Unmeasured hours of the event day are filled with the plain 10-day mean (a neutral adjustment);
  // unmeasured event hours make the performance unknown, which the caller must not pay.
  const prior = history.sort((a, b) => b.day - a.day).slice(0, 10);
  const mean = (h: number) => prior.reduce((s, d) => s + d.hourlyW[h], 0) / Math.max(1, prior.length);
  for (let h = eventHours.start; h < eventHours.end; h++)
    if (today[h] === undefined)
      throw new RangeError(`site ${site}: no metered load in event hour ${h} of day ${eventDay}`);
  const filled = today.map((v, h) => v ?? mean(h));
  const r = tenOfTenBaseline(history, { day: eventDay, hourlyW: filled }, eventHours);
  return {
    eventHours,
    usedDays: r.usedDays,
    adjustment: r.adjustment,
    baselineW: r.adjustedW.slice(eventHours.start, eventHours.end),
    actualW: filled.slice(eventHours.start, eventHours.end),
    reductionW: r.reductionW,
  };
}
