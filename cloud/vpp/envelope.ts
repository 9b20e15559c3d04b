/**
 * A VPP's flexibility envelope: how far the group can move its net power at the meters up (more
 * export: battery discharge) or down (less export: battery charge, PV curtailment), now and per
 * forecast interval.
 *
 * - now: from measured output, ratings, state of charge and the sites' import/export limits.
 * - per interval: cloud/forecast's flexibilityEnvelope per site, with the edge's default behaviour
 *   (self-consumption) as baseline. Load and PV per interval come from a forecast provider when one
 *   is given; otherwise persistence (the measured values held), which the response says.
 */
import { flexibilityEnvelope } from '../forecast/envelope.ts';
import {
  batteryRange,
  type GroupState,
  isBattery,
  isCurtailablePv,
  type SiteState,
  type StateOptions,
} from './state.ts';

/** Site load (consumption +) and PV (generation +) per interval, W. */
export type SiteForecastProvider = (
  site: string,
  start: number,
  stepMs: number,
  steps: number,
) => Promise<{ load: number[]; pv: number[] } | undefined>;

export interface SiteFlex {
  site: string;
  /** W the site can add to (up) or take from (down) its export now, relative to what it does now. */
  upW: number;
  downW: number;
  /** Device-level range, before the site limits clip it. */
  devicesUpW: number;
  devicesDownW: number;
}

/** Flexibility now of one site, from fresh devices only. `hours` > 0 also bounds batteries by SoC. */
export function siteFlexNow(s: SiteState, opts: StateOptions, hours = 0): SiteFlex {
  let up = 0;
  let down = 0;
  for (const d of s.devices) {
    if (!d.fresh) continue;
    const w = d.w ?? 0;
    if (isBattery(d)) {
      const r = batteryRange(d, opts, hours);
      up += Math.max(0, r.maxW - w);
      down += Math.max(0, w - r.minW);
    } else if (isCurtailablePv(d)) down += Math.max(0, w);
  }
  let upW = up;
  let downW = down;
  if (s.meterW !== undefined) {
    if (s.limits.export_w_max !== undefined)
      upW = Math.min(upW, Math.max(0, s.limits.export_w_max - s.meterW));
    if (s.limits.import_w_max !== undefined)
      downW = Math.min(downW, Math.max(0, s.limits.import_w_max + s.meterW));
  }
  return { site: s.id, upW, downW, devicesUpW: up, devicesDownW: down };
}

export interface GroupEnvelope {
  at: number;
  now: { upW: number; downW: number; sites: SiteFlex[] };
  stepMs: number;
  forecastSource: 'provider' | 'persistence';
  intervals: {
    t: number;
    baselineMeterW: number;
    upW: number;
    downW: number;
    /** Energy the batteries could still discharge / absorb from this interval on (Wh). */
    upWh: number;
    downWh: number;
  }[];
}

export async function groupEnvelope(
  g: GroupState,
  opts: StateOptions,
  q: { start: number; stepMs: number; steps: number; forecast?: SiteForecastProvider },
): Promise<GroupEnvelope> {
  const sites = g.sites.map((s) => siteFlexNow(s, opts));
  const intervals = Array.from({ length: q.steps }, (_, j) => ({
    t: q.start + j * q.stepMs,
    baselineMeterW: 0,
    upW: 0,
    downW: 0,
    upWh: 0,
    downWh: 0,
  }));
  let usedProvider = false;
  for (const s of g.sites) {
    const fresh = s.devices.filter((d) => d.fresh);
    const pvNow = fresh.filter((d) => d.kind === 'inverter').reduce((a, d) => a + Math.max(0, d.w ?? 0), 0);
    const curtailable = fresh.filter(isCurtailablePv).reduce((a, d) => a + Math.max(0, d.w ?? 0), 0);
    const batNow = fresh.filter((d) => d.kind === 'battery').reduce((a, d) => a + (d.w ?? 0), 0);
    // Site balance: meter = pv + battery − load.
    const loadNow = s.meterW !== undefined ? Math.max(0, pvNow + batNow - s.meterW) : 0;
    const fc = await q.forecast?.(s.id, q.start, q.stepMs, q.steps);
    if (fc) usedProvider = true;
    const env = flexibilityEnvelope({
      start: q.start,
      stepMs: q.stepMs,
      steps: q.steps,
      load: fc?.load ?? intervals.map(() => loadNow),
      pv: fc?.pv ?? intervals.map(() => pvNow),
      baseline: 'self-consumption',
      batteries: fresh
        .filter((d) => isBattery(d) && d.whCapacity && d.socPct !== undefined)
        .map((d) => ({
          energyCapacity: d.whCapacity as number,
          soc: Math.min(1, Math.max(0, (d.socPct as number) / 100)),
          minSoc: opts.socMinPct / 100,
          maxSoc: opts.socMaxPct / 100,
          maxCharge: d.chargeMaxW,
          maxDischarge: d.dischargeMaxW,
        })),
      // Curtailing PV acts like switching on a load of up to the PV output.
      flexibleLoads:
        curtailable > 0 ? [{ name: 'pv-curtailment', maxReduce: 0, maxIncrease: curtailable }] : [],
      importLimit: s.limits.import_w_max,
      exportLimit: s.limits.export_w_max,
    });
    env.forEach((e, j) => {
      const iv = intervals[j];
      iv.baselineMeterW += e.baselineNet;
      iv.upW += e.up;
      iv.downW += e.down;
      iv.upWh += e.upEnergy;
      iv.downWh += e.downEnergy;
    });
  }
  return {
    at: g.at,
    now: {
      upW: sites.reduce((a, s) => a + s.upW, 0),
      downW: sites.reduce((a, s) => a + s.downW, 0),
      sites,
    },
    stepMs: q.stepMs,
    forecastSource: usedProvider ? 'provider' : 'persistence',
    intervals,
  };
}
