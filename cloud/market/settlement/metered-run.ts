import type { Registry } from '../../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../../storage/timeseries/types.ts';
import { GRID_SERVICES, type Product } from '../model/bids.ts';
import type { AwardRecord, ResourceLink, RunHistory } from '../model/records.ts';
import type { ResourceRegistry } from '../model/resources.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../model/time.ts';
import type { FeeConfig } from './ledger.ts';
import { type MeteredPosition, SETTLEMENT_PERIODS_PER_HOUR, settleMetered } from './metered-settlement.ts';
import { type DrPerformance, drPerformance, type IntervalEnergy, meteredEnergy } from './metering.ts';

/**
 * Gathers what the metered settlement of one hour needs from the stores: the latest schedules (RT
 * awards per interval, else the DA award of the hour), the settlement prices (RT DLMPs, else the
 * DA DLMP of the hour), and each resource's delivered energy from telemetry:
 *
 * - a resource linked to a device is sub-metered by that device's own `w` / counters;
 * - a resource linked to a site only is metered at the site's PCC (its `meter` devices); several
 *   such resources at one site share the PCC imbalance in proportion to their scheduled |energy|;
 * - demand response (`flex_load`, `ev` at a PCC) delivers the reduction against the site's
 *   "10 of 10" baseline with day-of adjustment: delivered = -(actual load - baseline load);
 * - a resource without a link, or an unmeasured interval, settles at its schedule (no imbalance),
 *   and says so in `meter`.
 */

export interface MeteredRunInput {
  readonly hourStart: number;
  readonly store: RunHistory;
  readonly timeseries: TimeSeriesStore;
  readonly registry: Registry;
  readonly resources: ResourceRegistry;
  readonly links: ReadonlyMap<string, ResourceLink>;
  readonly iso: string;
  readonly dgo: string;
  readonly dmo: string;
  readonly fees: FeeConfig;
}

export interface MeterReport {
  readonly resource: string;
  readonly site: string | null;
  readonly meteredAt: 'device' | 'pcc' | 'pcc-baseline' | 'unmetered';
  readonly intervals: IntervalEnergy[];
  readonly dr?: DrPerformance;
  readonly error?: string;
}

const DR_KINDS = new Set(['flex_load', 'ev']);

export async function meteredRun(inp: MeteredRunInput) {
  const { hourStart } = inp;
  const hourEnd = hourStart + HOUR_MS;
  const daAll = await inp.store.awards({ market: 'DA', from: hourStart, to: hourStart + 1 });
  const rt = (await inp.store.awards({ market: 'RT', from: hourStart, to: hourEnd })).filter(
    (a) => a.product === 'energy',
  );
  const daPrices = await inp.store.prices({ market: 'DA', from: hourStart, to: hourStart + 1 });
  const rtPrices = await inp.store.prices({ market: 'RT', from: hourStart, to: hourEnd });
  const rtRuns = await inp.store.runs({ market: 'RT', from: hourStart, to: hourEnd });
  const daRun = (await inp.store.runs({ market: 'DA', from: Math.floor(hourStart / DAY_MS) * DAY_MS }))[0];
  const h = Math.round((hourStart - Math.floor(hourStart / DAY_MS) * DAY_MS) / HOUR_MS);
  const daLmp = Number((daRun?.summary.lmp as number[] | undefined)?.[h] ?? 0);
  const priceKey = (bus: string, t: number) => `${bus}|${t}`;
  const rtPrice = new Map(rtPrices.map((p) => [priceKey(p.bus, p.intervalStart), p.dlmp]));
  const daPrice = new Map(daPrices.map((p) => [p.bus, p.dlmp]));
  const ifacePrice = new Map(rtRuns.map((r) => [r.intervalStart, Number(r.summary.interfacePrice)]));
  const sched = latestSchedules(hourStart, daAll, rt);
  const { reports, delivered, pccShared } = await meterResources(inp, h, sched);
  splitPccImbalance(pccShared, delivered, sched);
  const positions: MeteredPosition[] = [...sched].map(([id, s]) => ({
    resource: id,
    account: s.account,
    bus: s.bus,
    scheduleW: s.w,
    deliveredWh: delivered.get(id)!,
  }));
  const { ledger, lines } = settleMetered({
    hourStart,
    positions,
    priceAt: (bus, t) => rtPrice.get(priceKey(bus, t)) ?? daPrice.get(bus) ?? daLmp,
    interfacePriceAt: (t) => ifacePrice.get(t) ?? daLmp,
    iso: inp.iso,
    dgo: inp.dgo,
    dmo: inp.dmo,
    fees: inp.fees,
  });
  return { ledger, lines, reports };
}

type Schedules = Map<string, { account: string; bus: string; w: number[] }>;
/** Delivered energy per resource and settlement period (Wh); null where nothing was measured. */
type Delivered = Map<string, (number | null)[]>;

/**
 * Schedules per resource and period: the RT award of the interval, else the DA award; DA
 * grid-service calls (grid-services.ts) are scheduled energy on top of the energy award.
 */
function latestSchedules(
  hourStart: number,
  daAll: readonly AwardRecord[],
  rt: readonly AwardRecord[],
): Schedules {
  const n = SETTLEMENT_PERIODS_PER_HOUR;
  const da = daAll.filter((a) => a.product === 'energy');
  const svcW = new Map<string, number>();
  for (const a of daAll)
    if (GRID_SERVICES.includes(a.product as Product))
      svcW.set(a.resource, (svcW.get(a.resource) ?? 0) + a.awardW);
  const sched: Schedules = new Map();
  for (const a of da)
    sched.set(a.resource, {
      account: a.participant,
      bus: a.bus,
      w: Array(n).fill(a.awardW + (svcW.get(a.resource) ?? 0)),
    });
  for (const a of rt) {
    const k = Math.round((a.intervalStart - hourStart) / RT_INTERVAL_MS);
    let s = sched.get(a.resource);
    if (!s) {
      s = { account: a.participant, bus: a.bus, w: Array(n).fill(0) };
      sched.set(a.resource, s);
    }
    s.w[k] = a.awardW + (svcW.get(a.resource) ?? 0);
  }
  return sched;
}

/**
 * Meters each scheduled resource (device, PCC, PCC against the DR baseline, or unmetered) and
 * lists the resources that share a PCC meter per site.
 */
async function meterResources(inp: MeteredRunInput, h: number, sched: Schedules) {
  const { hourStart } = inp;
  const hourEnd = hourStart + HOUR_MS;
  const n = SETTLEMENT_PERIODS_PER_HOUR;
  const reports: MeterReport[] = [];
  const delivered: Delivered = new Map();
  const pccShared = new Map<string, string[]>(); // site -> resources metered at its PCC
  const metersOf = async (site: string) =>
    (await inp.registry.listDevices(site)).filter((d) => d.kind === 'meter').map((d) => d.id);
  const eventDays = new Set(
    (await inp.store.runs({ market: 'DA' })).map((r) => Math.floor(r.intervalStart / DAY_MS)),
  );
  const measured = (iv: readonly IntervalEnergy[]) => iv.map((x) => (x.method === 'none' ? null : x.wh));
  for (const id of sched.keys()) {
    const link = inp.links.get(id);
    const r = inp.resources.get(id);
    if (!link?.site || !r) {
      reports.push({ resource: id, site: null, meteredAt: 'unmetered', intervals: [] });
      delivered.set(id, Array(n).fill(null));
      continue;
    }
    if (link.device) {
      const iv = await meteredEnergy(
        inp.timeseries,
        link.site,
        [link.device],
        hourStart,
        hourEnd,
        RT_INTERVAL_MS,
      );
      reports.push({ resource: id, site: link.site, meteredAt: 'device', intervals: iv });
      delivered.set(id, measured(iv));
      continue;
    }
    const meters = await metersOf(link.site);
    const iv = await meteredEnergy(inp.timeseries, link.site, meters, hourStart, hourEnd, RT_INTERVAL_MS);
    if (DR_KINDS.has(r.kind)) {
      const dr = await drDelivered(inp, h, link.site, meters, iv, eventDays);
      delivered.set(id, dr.deliveredWh);
      reports.push({ resource: id, site: link.site, meteredAt: 'pcc-baseline', intervals: iv, ...dr.report });
      continue;
    }
    reports.push({ resource: id, site: link.site, meteredAt: 'pcc', intervals: iv });
    delivered.set(id, measured(iv));
    const list = pccShared.get(link.site) ?? [];
    list.push(id);
    pccShared.set(link.site, list);
  }
  return { reports, delivered, pccShared };
}

/**
 * Demand response at a PCC: delivered reduction = baseline load - actual load; only the reduction
 * counts as injection. Without a baseline (RangeError) nothing counts as measured.
 */
async function drDelivered(
  inp: MeteredRunInput,
  h: number,
  site: string,
  meters: string[],
  iv: readonly IntervalEnergy[],
  eventDays: ReadonlySet<number>,
): Promise<{ deliveredWh: (number | null)[]; report: { dr: DrPerformance } | { error: string } }> {
  const day = Math.floor(inp.hourStart / DAY_MS);
  try {
    // Earlier DA days with an award to this resource are event days, not baseline days.
    const perf = await drPerformance(
      inp.timeseries,
      site,
      meters,
      day,
      { start: h, end: h + 1 },
      new Set([...eventDays].filter((d) => d !== day)),
    );
    const baselineWh = (perf.baselineW[0] * RT_INTERVAL_MS) / HOUR_MS;
    return {
      deliveredWh: iv.map((x) => (x.method === 'none' ? null : x.wh + baselineWh)),
      report: { dr: perf },
    };
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return { deliveredWh: Array(SETTLEMENT_PERIODS_PER_HOUR).fill(null), report: { error: err.message } };
  }
}

/** Several resources behind one PCC meter: split the site's metered energy by scheduled |energy|. */
function splitPccImbalance(pccShared: ReadonlyMap<string, string[]>, delivered: Delivered, sched: Schedules) {
  for (const ids of pccShared.values()) {
    if (ids.length < 2) continue;
    const total = delivered.get(ids[0])!;
    for (let k = 0; k < SETTLEMENT_PERIODS_PER_HOUR; k++) {
      if (total[k] === null) continue;
      const site = total[k] as number;
      const scheduled = ids.map((id) => sched.get(id)!.w[k]);
      const sum = scheduled.reduce((a, b) => a + b, 0);
      const weights = scheduled.map((w) => Math.abs(w));
      const wsum = weights.reduce((a, b) => a + b, 0);
      const imbWh = site - (sum * RT_INTERVAL_MS) / HOUR_MS;
      ids.forEach((id, j) => {
        const share = wsum > 0 ? weights[j] / wsum : 1 / ids.length;
        delivered.get(id)![k] = (scheduled[j] * RT_INTERVAL_MS) / HOUR_MS + imbWh * share;
      });
    }
  }
}
