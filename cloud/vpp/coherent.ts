/**
 * The dispatch loop's feedback: a site's uncontrolled power U = Σ meters − Σ controlled devices, taken
 * at ONE instant.
 *
 * The latest values are not one instant: a gateway polls the meter and each device separately, some
 * tens of ms (under load: hundreds) apart. When a setpoint change takes effect between a device's poll
 * and the meter's, the latest pair disagrees by the whole change, U is off by that much and the loop
 * re-allocates the phantom in full (seen in HIL runs: a 4 kW error in one tick; a lag that repeats
 * tick after tick makes the loop oscillate). So U is read at the newest meter sample for which every
 * other term is known at that instant: it has samples at or on both sides of it that agree within the
 * term's tolerance (nothing changed in between). This costs at most one poll period of latency.
 */
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import { rangeOfSites } from './state.ts';

export interface CoherentSite {
  site: string;
  /** Meter device ids (export +); the first is the anchor whose sample instants are tried. */
  meterIds: string[];
  /** Disagreement allowed around the anchor's instant for any further meter (W). */
  meterTolW: number;
  /** Controlled devices (device convention) with the disagreement their bracket may show (W). */
  devices: { id: string; tolW: number }[];
}

type Sample = { t: number; w: number };

/** The term's value at instant t when its samples around t agree within tolW, else undefined. */
export function valueAt(samples: readonly Sample[], t: number, tolW: number): number | undefined {
  let before: Sample | undefined;
  let after: Sample | undefined;
  for (const s of samples) {
    if (s.t <= t && (!before || s.t > before.t)) before = s;
    if (s.t >= t && (!after || s.t < after.t)) after = s;
  }
  if (!before || !after || Math.abs(after.w - before.w) > tolW) return undefined;
  return t - before.t <= after.t - t ? before.w : after.w;
}

/** U per site at its newest coherent instant within [from, to); sites without one are left out. */
export async function coherentUncontrolled(
  store: TimeSeriesStore,
  sites: readonly CoherentSite[],
  from: number,
  to: number,
): Promise<Map<string, { w: number; at: number }>> {
  const out = new Map<string, { w: number; at: number }>();
  const wanted = sites.filter((s) => s.meterIds.length > 0);
  if (!wanted.length || to <= from) return out;
  const devices = [...new Set(wanted.flatMap((s) => [...s.meterIds, ...s.devices.map((d) => d.id)]))];
  // 1 ms buckets: one row per stored sample.
  const rows = await rangeOfSites(store, {
    sites: wanted.map((s) => s.site),
    devices,
    points: ['w'],
    from,
    to,
    bucketMs: 1,
  });
  const series = new Map<string, Sample[]>();
  for (const r of rows) {
    const key = `${r.site}\u0000${r.device}`;
    const list = series.get(key) ?? [];
    list.push({ t: r.t, w: r.mean });
    series.set(key, list);
  }
  const of = (site: string, device: string) => series.get(`${site}\u0000${device}`) ?? [];
  for (const s of wanted) {
    const anchor = [...of(s.site, s.meterIds[0])].sort((a, b) => b.t - a.t);
    for (const m of anchor) {
      let u = m.w;
      for (const id of s.meterIds.slice(1)) {
        const v = valueAt(of(s.site, id), m.t, s.meterTolW);
        u = v === undefined ? Number.NaN : u + v;
      }
      for (const d of s.devices) {
        const v = valueAt(of(s.site, d.id), m.t, d.tolW);
        u = v === undefined ? Number.NaN : u - v;
      }
      if (Number.isFinite(u)) {
        out.set(s.site, { w: u, at: m.t });
        break;
      }
    }
  }
  return out;
}
