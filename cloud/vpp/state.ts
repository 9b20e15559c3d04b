/**
 * Live state of a group of sites, read from the registry (devices, nameplates, site limits) and the
 * time-series store (latest values). Everything VPP-related (aggregate, envelope, feasibility, the
 * dispatch loop) works on this one snapshot so that they agree with each other.
 *
 * Signs follow protocols/canonical/sign-convention.ts: device w + = delivered into the site bus
 * (PV generation, battery discharge); meter w + = export at the point of common coupling.
 */
import type { Registry } from '../storage/registry/registry.ts';
import type { Bucket, RangeQuery, TimeSeriesStore } from '../storage/timeseries/types.ts';

export interface StateOptions {
  /** A value older than this is stale: the device no longer counts as controllable (ms). */
  staleMs: number;
  /** Batteries are not dispatched below / above these states of charge (%). */
  socMinPct: number;
  socMaxPct: number;
}

export const DEFAULT_STATE_OPTIONS: StateOptions = { staleMs: 15_000, socMinPct: 10, socMaxPct: 100 };

export interface DeviceState {
  site: string;
  id: string;
  kind: string;
  controls: string[];
  /** Latest measured active power (device convention), undefined if never reported. */
  w?: number;
  ts?: number;
  fresh: boolean;
  socPct?: number;
  whCapacity?: number;
  /** Ratings (positive W); 0 when unknown. */
  wMax: number;
  chargeMaxW: number;
  dischargeMaxW: number;
}

export interface SiteState {
  id: string;
  status: string;
  mode: string | null;
  node: string | null;
  feeder: string | null;
  limits: { import_w_max?: number; export_w_max?: number };
  /** Sum of the site's meters (export +), undefined when the site has no meter value. */
  meterW?: number;
  meterTs?: number;
  meterFresh: boolean;
  /** Ids of the site's meter devices. */
  meterIds: string[];
  devices: DeviceState[];
}

export interface GroupState {
  at: number;
  sites: SiteState[];
}

/** Sites per range query: a 50,000-site VPP would pass SQLite's limit of bound parameters. */
const RANGE_SITES = 5000;

/** store.range over a fleet of sites, a chunk of sites per query. */
export async function rangeOfSites(store: TimeSeriesStore, q: RangeQuery): Promise<Bucket[]> {
  if (q.sites.length <= RANGE_SITES) return store.range(q);
  const out: Bucket[] = [];
  for (let i = 0; i < q.sites.length; i += RANGE_SITES)
    out.push(...(await store.range({ ...q, sites: q.sites.slice(i, i + RANGE_SITES) })));
  return out;
}

export async function readGroupState(
  registry: Registry,
  store: TimeSeriesStore,
  siteIds: readonly string[],
  now: number,
  opts: StateOptions,
): Promise<GroupState> {
  const sites: SiteState[] = [];
  const rows = await registry.listSites([...siteIds]);
  // Devices of the whole group in one pass (not one query per site).
  const ids = rows.map((s) => s.id);
  const devicesOf = await registry.listDevicesOf(ids);
  // Latest values likewise, where the backend can (SQLite); otherwise one query per site.
  const latestOf = store.latestOfSites ? await store.latestOfSites(ids) : undefined;
  for (const s of rows) {
    const devices = devicesOf.get(s.id) ?? [];
    const latest = latestOf ? (latestOf.get(s.id) ?? []) : await store.latest(s.id);
    const byDev = new Map<string, Map<string, { value: number; ts: number; quality?: string }>>();
    for (const l of latest) {
      if (l.quality && l.quality !== 'good') continue;
      const m = byDev.get(l.device) ?? new Map();
      m.set(l.point, l);
      byDev.set(l.device, m);
    }
    const site: SiteState = {
      id: s.id,
      status: s.status,
      mode: s.mode,
      node: s.node,
      feeder: s.feeder,
      limits: (s.limits ?? {}) as SiteState['limits'],
      meterFresh: false,
      meterIds: [],
      devices: [],
    };
    for (const d of devices) {
      const pts = byDev.get(d.id);
      const w = pts?.get('w');
      const np = d.nameplate;
      if (d.kind === 'meter') {
        site.meterIds.push(d.id);
        if (w) {
          site.meterW = (site.meterW ?? 0) + w.value;
          site.meterTs = Math.min(site.meterTs ?? w.ts, w.ts);
        }
        continue;
      }
      site.devices.push({
        site: s.id,
        id: d.id,
        kind: d.kind,
        controls: d.controls,
        w: w?.value,
        ts: w?.ts,
        fresh: w !== undefined && now - w.ts <= opts.staleMs,
        socPct: pts?.get('soc_pct')?.value,
        whCapacity: np.wh_capacity ?? pts?.get('wh_capacity')?.value,
        wMax: np.w_max ?? np.va_max ?? 0,
        chargeMaxW: np.w_charge_max ?? np.w_max ?? 0,
        dischargeMaxW: np.w_discharge_max ?? np.w_max ?? 0,
      });
    }
    site.meterFresh = site.meterTs !== undefined && now - site.meterTs <= opts.staleMs;
    sites.push(site);
  }
  return { at: now, sites };
}

export const isBattery = (d: DeviceState) => d.kind === 'battery' && d.controls.includes('battery_power');
export const isCurtailablePv = (d: DeviceState) =>
  d.kind === 'inverter' && d.controls.includes('active_power_limit');

/**
 * A battery's power range (device convention) sustainable for `hours` from its state of charge:
 * discharge no deeper than socMin, charge no higher than socMax. hours = 0: power limits only,
 * except that an empty battery cannot discharge and a full one cannot charge.
 */
export function batteryRange(
  d: DeviceState,
  opts: StateOptions,
  hours: number,
): { minW: number; maxW: number } {
  let maxW = d.dischargeMaxW;
  let minW = -d.chargeMaxW;
  if (d.socPct !== undefined) {
    if (d.socPct <= opts.socMinPct) maxW = 0;
    if (d.socPct >= opts.socMaxPct) minW = 0;
    if (d.whCapacity && hours > 0) {
      const downWh = (Math.max(0, d.socPct - opts.socMinPct) / 100) * d.whCapacity;
      const upWh = (Math.max(0, opts.socMaxPct - d.socPct) / 100) * d.whCapacity;
      maxW = Math.min(maxW, downWh / hours);
      minW = Math.max(minW, -upWh / hours);
    }
  }
  return { minW, maxW };
}

export interface Aggregate {
  at: number;
  sites: number;
  sitesOnline: number;
  /** Σ meters at the sites (export +); only sites with a meter value count. */
  meterW: number;
  meterSites: number;
  /** Σ device outputs (device convention) by kind, and in total. */
  deviceW: number;
  pvW: number;
  batteryW: number;
  devices: number;
  staleDevices: number;
  /** Battery energy stored now and usable capacity (Wh), SoC weighted by capacity (%). */
  storedWh: number;
  capacityWh: number;
  socPct: number | null;
  perSite: {
    id: string;
    status: string;
    mode: string | null;
    meterW: number | null;
    pvW: number;
    batteryW: number;
    socPct: number | null;
    stale: boolean;
  }[];
}

export function aggregateState(g: GroupState): Aggregate {
  const a: Aggregate = {
    at: g.at,
    sites: g.sites.length,
    sitesOnline: g.sites.filter((s) => s.status === 'online').length,
    meterW: 0,
    meterSites: 0,
    deviceW: 0,
    pvW: 0,
    batteryW: 0,
    devices: 0,
    staleDevices: 0,
    storedWh: 0,
    capacityWh: 0,
    socPct: null,
    perSite: [],
  };
  for (const s of g.sites) {
    let pv = 0;
    let bat = 0;
    let stored = 0;
    let cap = 0;
    let stale = !s.meterFresh;
    if (s.meterW !== undefined) {
      a.meterW += s.meterW;
      a.meterSites++;
    }
    for (const d of s.devices) {
      a.devices++;
      if (!d.fresh) {
        a.staleDevices++;
        stale = true;
      }
      const w = d.w ?? 0;
      a.deviceW += w;
      if (d.kind === 'inverter') pv += w;
      if (d.kind === 'battery') {
        bat += w;
        if (d.whCapacity && d.socPct !== undefined) {
          stored += (d.socPct / 100) * d.whCapacity;
          cap += d.whCapacity;
        }
      }
    }
    a.pvW += pv;
    a.batteryW += bat;
    a.storedWh += stored;
    a.capacityWh += cap;
    a.perSite.push({
      id: s.id,
      status: s.status,
      mode: s.mode,
      meterW: s.meterW ?? null,
      pvW: pv,
      batteryW: bat,
      socPct: cap > 0 ? (stored / cap) * 100 : null,
      stale,
    });
  }
  a.socPct = a.capacityWh > 0 ? (a.storedWh / a.capacityWh) * 100 : null;
  return a;
}
