import type { Registry } from '../../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../../storage/timeseries/types.ts';
import type { LedgerEntry, ResourceLink } from '../model/records.ts';
import type { ResourceRegistry } from '../model/resources.ts';
import { DAY_MS, HOUR_MS } from '../model/time.ts';
import { Ledger } from './ledger.ts';
import { drPerformance, type MeterMethod, meteredEnergy } from './metering.ts';

/**
 * Metered settlement of a peer-to-peer delivery interval, from stored telemetry.
 *
 * The interval's close (service/p2p.ts) settled each trade at its price and booked, with the utility
 * as provider of last resort (PoLR), the imbalance it could only assume then: the unmatched demand
 * of live buy orders, or the caller's meter readings. Once the interval is over, this run measures
 * what each resource delivered, the same way the nodal metered settlement does (metered-run.ts):
 *
 * - a resource linked to a device: that device's lifetime counters (`wh_out` - `wh_in`), else its
 *   integrated `w`;
 * - a resource linked to a site only: the site's PCC meters; several such resources at one site
 *   share the PCC reading in proportion to their traded |energy|;
 * - demand response (`flex_load`, `ev` at a PCC): against the site's "10 of 10" baseline with day-of
 *   adjustment: delivered = baseline load - actual load (days the resource traded are event days,
 *   not baseline days);
 * - no link or no reading: unmetered, the close's assumption stands.
 *
 * It then reverses the close's assumed PoLR lines of each measured resource (the exact ledger
 * entries, so nothing is re-rounded) and books the metered imbalance (metered - traded) at the
 * close's LMP -/+ the PoLR fee; the utility balances the net change with the ISO at the LMP. The
 * statement shows, per resource, the traded, assumed and metered energy, how it was metered, and
 * the baseline used. Fees stay as the close charged them (on traded energy and assumed withdrawals).
 */

export interface P2pMeteredInput {
  readonly intervalStart: number;
  readonly intervalEnd: number;
  /** Net traded energy per resource (+ = sold), from the close's awards. */
  readonly tradedWh: ReadonlyMap<string, number>;
  /** Settlement account per resource (the close's). */
  readonly accountOf: ReadonlyMap<string, string>;
  /** The close's PoLR lines (kind polr), to reverse for each measured resource. */
  readonly closePolr: readonly LedgerEntry[];
  /** The imbalance the close assumed per resource (Wh, + = delivered beyond its trades): its summary's `polr`. */
  readonly assumedImbalanceWh: ReadonlyMap<string, number>;
  readonly lmp: number;
  readonly polrFeePerMWh: number;
  readonly utility: string;
  readonly iso: string;
  readonly timeseries: TimeSeriesStore;
  readonly registry: Registry;
  readonly resources: ResourceRegistry;
  readonly links: ReadonlyMap<string, ResourceLink>;
  /** Days (epoch ms / DAY_MS) each resource traded on: event days, never baseline days. */
  readonly eventDays: (resource: string) => Promise<ReadonlySet<number>>;
}

export interface P2pBaselineUsed {
  readonly method: '10-of-10 with day-of adjustment';
  readonly usedDays: string[];
  readonly adjustment: number;
  /** Adjusted baseline load per hour the interval touches (W). */
  readonly baselineW: number[];
  /** Metered load per hour (W). */
  readonly actualW: number[];
  /** Baseline energy over the interval (Wh). */
  readonly baselineWh: number;
}

export interface P2pStatementLine {
  readonly resource: string;
  readonly participant: string;
  readonly site: string | null;
  readonly meteredAt: 'device' | 'pcc' | 'pcc-baseline' | 'unmetered';
  readonly method: MeterMethod;
  readonly coverage: number;
  /** Net traded energy (Wh, + = sold). */
  readonly tradedWh: number;
  /** What the close assumed was delivered (traded + its PoLR imbalance). */
  readonly assumedWh: number;
  /** Metered net delivery (Wh, + = into the grid); null: unmetered, the close's assumption stands. */
  readonly meteredWh: number | null;
  readonly baseline?: P2pBaselineUsed;
  readonly error?: string;
  /** Metered - traded (Wh), bought/sold by the PoLR. */
  readonly imbalanceWh: number;
  /** PoLR price of the imbalance: LMP - fee for a surplus, LMP + fee for a shortfall ($/MWh). */
  readonly pricePerMWh: number;
  /** Net cents this run moves to the participant for the resource (reversal of the close + metered). */
  readonly cents: number;
}

const DR_KINDS = new Set(['flex_load', 'ev']);
const EPS = 1e-6;

interface Measured {
  meteredAt: P2pStatementLine['meteredAt'];
  method: MeterMethod;
  coverage: number;
  wh: number | null;
  site: string | null;
  baseline?: P2pBaselineUsed;
  error?: string;
}

async function measure(inp: P2pMeteredInput, id: string): Promise<Measured> {
  const { intervalStart: from, intervalEnd: to } = inp;
  const link = inp.links.get(id);
  const r = inp.resources.get(id);
  const none = { method: 'none' as const, coverage: 0, wh: null };
  if (!link?.site || !r) return { meteredAt: 'unmetered', site: null, ...none };
  const site = link.site;
  if (link.device) {
    const [iv] = await meteredEnergy(inp.timeseries, site, [link.device], from, to, to - from);
    return {
      meteredAt: 'device',
      site,
      method: iv.method,
      coverage: iv.coverage,
      wh: iv.method === 'none' ? null : iv.wh,
    };
  }
  const meters = (await inp.registry.listDevices(site)).filter((d) => d.kind === 'meter').map((d) => d.id);
  const [iv] = await meteredEnergy(inp.timeseries, site, meters, from, to, to - from);
  const measured = { method: iv.method, coverage: iv.coverage, wh: iv.method === 'none' ? null : iv.wh };
  if (!DR_KINDS.has(r.kind)) return { meteredAt: 'pcc', site, ...measured };
  const day = Math.floor(from / DAY_MS);
  const h0 = Math.floor((from - day * DAY_MS) / HOUR_MS);
  const h1 = Math.ceil((to - day * DAY_MS) / HOUR_MS);
  if (h1 > 24)
    return {
      meteredAt: 'pcc-baseline',
      site,
      ...none,
      error: 'a baseline needs an interval inside one UTC day',
    };
  try {
    const days = new Set([...(await inp.eventDays(id))].filter((d) => d !== day));
    const perf = await drPerformance(inp.timeseries, site, meters, day, { start: h0, end: h1 }, days);
    // Baseline energy: each hour's adjusted baseline load over the part of the hour in the interval.
    let baselineWh = 0;
    for (let h = h0; h < h1; h++) {
      const hs = day * DAY_MS + h * HOUR_MS;
      const overlap = Math.min(to, hs + HOUR_MS) - Math.max(from, hs);
      baselineWh += (perf.baselineW[h - h0] * overlap) / HOUR_MS;
    }
    const baseline: P2pBaselineUsed = {
      method: '10-of-10 with day-of adjustment',
      usedDays: perf.usedDays.map((d) => new Date(d * DAY_MS).toISOString().slice(0, 10)),
      adjustment: perf.adjustment,
      baselineW: perf.baselineW,
      actualW: perf.actualW,
      baselineWh,
    };
    // PCC export is minus the load: delivered reduction = baseline load - actual load.
    return {
      meteredAt: 'pcc-baseline',
      site,
      ...measured,
      wh: measured.wh === null ? null : measured.wh + baselineWh,
      baseline,
    };
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return { meteredAt: 'pcc-baseline', site, ...none, error: err.message };
  }
}

export async function settleP2pMetered(
  inp: P2pMeteredInput,
): Promise<{ ledger: Ledger; lines: P2pStatementLine[] }> {
  const start = inp.intervalStart;
  const ids = [...new Set([...inp.tradedWh.keys(), ...inp.assumedImbalanceWh.keys()])].sort();
  const m = new Map<string, Measured>();
  for (const id of ids) m.set(id, await measure(inp, id));
  // Several resources behind one PCC: the site's reading split by traded |energy|.
  const bySite = new Map<string, string[]>();
  for (const [id, x] of m)
    if (x.meteredAt === 'pcc' && x.site) bySite.set(x.site, [...(bySite.get(x.site) ?? []), id]);
  for (const group of bySite.values()) {
    if (group.length < 2) continue;
    const siteWh = m.get(group[0])!.wh;
    if (siteWh === null) continue;
    const traded = group.map((id) => inp.tradedWh.get(id) ?? 0);
    const imb = siteWh - traded.reduce((a, b) => a + b, 0);
    const weights = traded.map(Math.abs);
    const wsum = weights.reduce((a, b) => a + b, 0);
    group.forEach((id, j) => {
      m.get(id)!.wh = traded[j] + imb * (wsum > 0 ? weights[j] / wsum : 1 / group.length);
    });
  }

  const ledger = new Ledger();
  const lines: P2pStatementLine[] = [];
  const fee = inp.polrFeePerMWh;
  // Change of what the participants delivered beyond their trades (Wh): the PoLR sells it on to the ISO.
  let polrChange = 0;
  for (const id of ids) {
    const x = m.get(id)!;
    const acct = inp.accountOf.get(id)!;
    const traded = inp.tradedWh.get(id) ?? 0;
    const assumed = inp.closePolr.filter((e) => e.ref === `imbalance:${id}`);
    // Energy of the assumed imbalance, signed as delivered by the resource (+ = it sold to the PoLR).
    const assumedImbWh = inp.assumedImbalanceWh.get(id) ?? 0;
    const base = {
      resource: id,
      participant: acct,
      site: x.site,
      meteredAt: x.meteredAt,
      method: x.method,
      coverage: x.coverage,
      tradedWh: traded,
      assumedWh: traded + assumedImbWh,
      meteredWh: x.wh,
      ...(x.baseline ? { baseline: x.baseline } : {}),
      ...(x.error ? { error: x.error } : {}),
    };
    if (x.wh === null) {
      lines.push({
        ...base,
        imbalanceWh: assumedImbWh,
        pricePerMWh: polrPrice(inp.lmp, fee, assumedImbWh),
        cents: 0,
      });
      continue;
    }
    const before = sumTo(ledger, acct);
    for (const e of assumed) ledger.transfer(start, e.to, e.from, e.cents, 'polr', `reversal:${id}`);
    const imb = x.wh - traded;
    const price = polrPrice(inp.lmp, fee, imb);
    if (Math.abs(imb) > EPS) ledger.energy(start, acct, imb, price, 'polr', `metered:${id}`, inp.utility);
    polrChange += imb - assumedImbWh;
    lines.push({ ...base, imbalanceWh: imb, pricePerMWh: price, cents: sumTo(ledger, acct) - before });
  }
  // The PoLR balances the change of its position with the ISO at the LMP.
  if (Math.abs(polrChange) > EPS)
    ledger.energy(start, inp.utility, polrChange, inp.lmp, 'polr', 'metered wholesale balance', inp.iso);
  return { ledger, lines };
}

function polrPrice(lmp: number, fee: number, imbWh: number) {
  return imbWh > 0 ? lmp - fee : lmp + fee;
}

function sumTo(ledger: Ledger, acct: string): number {
  return ledger.balances().get(acct) ?? 0;
}
