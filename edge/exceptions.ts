/**
 * Report by exception: after each poll, only the points that moved beyond their deadband since they
 * were last *reported* (or whose quality changed, or that appeared) go out, right away; every point is
 * sent again at each device's heartbeat so the cloud's latest values never age out while nothing moves.
 * Comparing with the last reported value (not the last polled one) means a slow drift is reported once
 * it adds up to the deadband, never lost in steps each below it.
 */
import type { CanonicalPoint } from '../protocols/canonical/points.ts';
import type { Sample } from '../protocols/mqtt/payloads.ts';

/**
 * Default deadband per canonical point, in the point's canonical unit (protocols/canonical/points.ts).
 * A change is reported when |new − last reported| > deadband; 0 reports any change. Chosen around
 * the resolution that matters to control and settlement, not the sensor's noise floor.
 */
export const DEFAULT_DEADBANDS: Readonly<Record<CanonicalPoint, number>> = {
  w: 50, // W: the control loop's own deadband (control.deadbandW)
  var: 50, // var
  va: 50, // VA
  dc_w: 50, // W
  pf: 0.01, // power factor (unitless)
  hz: 0.01, // Hz: 10 mHz, frequency-response events are tens of mHz
  v: 1, // V: ~0.4 % of 230 V
  a: 0.2, // A
  wh_out: 100, // Wh: lifetime counters also go out at every heartbeat
  wh_in: 100, // Wh
  soc_pct: 0.5, // %
  soh_pct: 0.5, // %
  wh_capacity: 100, // Wh
  temp_c: 1, // °C
  w_lim_pct: 0, // %: a control state, any change
  state: 0, // operating state code, any change
};

export interface ExceptionOptions {
  /** Per-point overrides of DEFAULT_DEADBANDS (canonical units). */
  deadband?: Partial<Record<CanonicalPoint, number>>;
  /** Every point of a device is sent at least this often (ms). */
  heartbeatMs: number;
}

export type Reported = { sample: Sample; heartbeat: boolean } | undefined;

interface DeviceState {
  values: Partial<Record<string, number>>;
  quality: Partial<Record<string, string>>;
  heartbeatMs: number;
}

export class ExceptionFilter {
  private readonly deadband: Record<string, number>;
  private readonly devices = new Map<string, DeviceState>();

  constructor(private readonly opts: ExceptionOptions) {
    this.deadband = { ...DEFAULT_DEADBANDS, ...opts.deadband };
  }

  /**
   * What of `sample` to report now: the whole sample at the device's first sample and at its
   * heartbeat, else only the points beyond deadband or with a changed quality; undefined when nothing.
   */
  filter(sample: Sample, nowMs: number): Reported {
    const st = this.devices.get(sample.device);
    const quality = sample.quality ?? {};
    if (!st || nowMs - st.heartbeatMs >= this.opts.heartbeatMs) {
      this.devices.set(sample.device, {
        values: { ...sample.values },
        quality: { ...quality },
        heartbeatMs: nowMs,
      });
      return { sample, heartbeat: true };
    }
    const values: Sample['values'] = {};
    const changedQuality: NonNullable<Sample['quality']> = {};
    let any = false;
    for (const [k, v] of Object.entries(sample.values)) {
      if (v === undefined) continue;
      const last = st.values[k];
      const q = quality[k as CanonicalPoint];
      const qualityMoved = (q ?? 'good') !== (st.quality[k] ?? 'good');
      if (last === undefined || qualityMoved || Math.abs(v - last) > (this.deadband[k] ?? 0)) {
        values[k as CanonicalPoint] = v;
        if (q) changedQuality[k as CanonicalPoint] = q;
        st.values[k] = v;
        if (q) st.quality[k] = q;
        else delete st.quality[k];
        any = true;
      }
    }
    // A withheld value (normalize flags it `invalid` and sends no number): its quality alone is news.
    for (const [k, q] of Object.entries(quality)) {
      if (q === undefined || k in sample.values || st.quality[k] === q) continue;
      changedQuality[k as CanonicalPoint] = q;
      st.quality[k] = q;
      delete st.values[k]; // the next valid value goes out as new
      any = true;
    }
    if (!any) return undefined;
    const out: Sample = { ts: sample.ts, device: sample.device, values };
    if (Object.keys(changedQuality).length) out.quality = changedQuality;
    return { sample: out, heartbeat: false };
  }

  /** Forgets a device's reported state: its next sample goes out whole. */
  reset(device?: string): void {
    if (device === undefined) this.devices.clear();
    else this.devices.delete(device);
  }
}
