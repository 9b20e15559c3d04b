import type { RegularSeries } from '../forecast/index.ts';
import type { Device } from '../storage/registry/registry.ts';
import type { Bucket, TimeSeriesStore } from '../storage/timeseries/types.ts';

/** The forecast grid: 15-minute buckets aligned to multiples of 15 min (UTC epoch). */
export const STEP_MS = 15 * 60_000;

export interface SiteHistory {
  /** Site load (consumption positive), or null with the reason it cannot be derived. */
  load: RegularSeries | null;
  pv: RegularSeries | null;
  reasons: { load?: string; pv?: string };
  /** Telemetry devices the registry does not know (left out: their role at the bus is unknown). */
  unknownDevices: string[];
}

/**
 * Sum of the listed devices' bucket means with the given signs. A bucket is a gap (NaN) unless every
 * device that has started reporting by then has a value in it: a missing inverter must not read as
 * a drop in PV or load.
 */
function combine(
  byDevice: Map<string, Bucket[]>,
  terms: { device: string; sign: number }[],
  from: number,
  n: number,
  stepMs: number,
): Float64Array {
  const out = new Float64Array(n);
  const seen = new Uint16Array(n);
  const required = new Uint16Array(n);
  for (const { device, sign } of terms) {
    const buckets = byDevice.get(device) ?? [];
    if (!buckets.length) continue;
    const first = Math.round((buckets[0].t - from) / stepMs);
    for (let k = Math.max(0, first); k < n; k++) required[k]++;
    for (const b of buckets) {
      const k = Math.round((b.t - from) / stepMs);
      if (k < 0 || k >= n) continue;
      out[k] += sign * b.mean;
      seen[k]++;
    }
  }
  for (let k = 0; k < n; k++) if (required[k] === 0 || seen[k] < required[k]) out[k] = Number.NaN;
  return out;
}

/** Drops leading gaps so the models do not scan weeks of nothing. */
function trimmed(from: number, values: Float64Array, stepMs: number): RegularSeries | null {
  let i = 0;
  while (i < values.length && Number.isNaN(values[i])) i++;
  if (i === values.length) return null;
  return { start: from + i * stepMs, stepMs, values: values.slice(i) };
}

/**
 * Load and PV history of one site from stored telemetry, per the canonical sign convention
 * (protocols/canonical/sign-convention.ts): devices deliver positive W into the site bus, the meter
 * at the PCC reads positive export. So PV = Σ inverter w, and
 *   site load = Σ device w (generation + discharge − charging) − meter w (export).
 * Batteries count as devices: their charging shows as negative W and is not part of the load, which
 * is therefore the consumption not measured by a device of its own (the base load to forecast).
 */
export async function siteHistory(
  store: TimeSeriesStore,
  site: string,
  devices: Device[],
  from: number,
  to: number,
  /** Bucket length (default the 15-minute forecast grid; intraday updates use 5 minutes). */
  stepMs = STEP_MS,
): Promise<SiteHistory> {
  const buckets = await store.range({ sites: [site], points: ['w'], from, to, bucketMs: stepMs });
  const byDevice = new Map<string, Bucket[]>();
  for (const b of buckets) {
    const list = byDevice.get(b.device);
    if (list) list.push(b);
    else byDevice.set(b.device, [b]);
  }
  for (const list of byDevice.values()) list.sort((a, b) => a.t - b.t);
  const kind = new Map(devices.map((d) => [d.id, d.kind]));
  const reporting = [...byDevice.keys()];
  const unknownDevices = reporting.filter((d) => !kind.has(d));
  const known = reporting.filter((d) => kind.has(d));
  const meters = known.filter((d) => kind.get(d) === 'meter');
  const inverters = known.filter((d) => kind.get(d) === 'inverter');
  const n = Math.round((to - from) / stepMs);
  const reasons: SiteHistory['reasons'] = {};

  let pv: RegularSeries | null = null;
  if (!inverters.length) reasons.pv = 'no inverter telemetry (w) for this site';
  else {
    pv = trimmed(
      from,
      combine(
        byDevice,
        inverters.map((device) => ({ device, sign: 1 })),
        from,
        n,
        stepMs,
      ),
      stepMs,
    );
    if (!pv) reasons.pv = 'no complete 15-minute interval of inverter telemetry';
  }
  let load: RegularSeries | null = null;
  if (!meters.length) reasons.load = 'no meter telemetry (w): site load cannot be derived';
  else {
    const terms = known.map((device) => ({ device, sign: kind.get(device) === 'meter' ? -1 : 1 }));
    load = trimmed(from, combine(byDevice, terms, from, n, stepMs), stepMs);
    if (!load) reasons.load = 'no complete 15-minute interval of meter and device telemetry';
  }
  return { load, pv, reasons, unknownDevices };
}
