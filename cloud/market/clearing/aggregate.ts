import type { Step } from '../model/bids.ts';
import type { ClearingResource, ClearingResult } from './types.ts';

/**
 * Exact size reduction of the clearing LP: energy-only resources (no storage, no ancillary offers)
 * at the same bus are merged into one resource per bus whose steps are summed by price. Their step
 * columns are identical in the LP (one coefficient in the bus's balance row) so a merged column with
 * the summed bound has the same optimum and the same duals. The merged schedule is split back by the
 * bus DLMP: steps priced strictly inside the money clear fully, outside not at all, and the marginal
 * price level shares the rest pro rata (the straightforward LP picks an arbitrary split among such
 * ties). Storage keeps its own state-of-charge rows and stays individual, as do grid-service calls
 * and the resources they belong to (they share SoC and capability rows, clearing.ts `serviceOf`).
 */

interface Level {
  readonly price: number;
  qty: number;
  readonly members: { readonly k: number; readonly q: number }[];
}

interface Group {
  readonly key: string;
  readonly id: string;
  readonly bus: string;
  readonly members: number[];
  readonly sell: Map<number, Level>[];
  readonly buy: Map<number, Level>[];
}

export interface BusAggregation {
  /** What the LP clears: individual resources plus one merged resource per bus. */
  readonly resources: readonly ClearingResource[];
  /** Per-resource schedules of the original resources, or null if the split is inconsistent. */
  disaggregate(result: ClearingResult): ClearingResult | null;
}

const AGG_ID = '\u0000bus-aggregate:';

/** Storage, ancillary offers and grid-service calls with the resources they belong to keep their own columns. */
function mergeable(r: ClearingResource, linked: ReadonlySet<string>): boolean {
  return !r.storage && !r.ancillary && r.serviceOf === undefined && !linked.has(r.id);
}

/** Null when no bus has two mergeable resources (nothing to gain). */
export function aggregateByBus(
  resources: readonly ClearingResource[],
  periods: number,
  copperPlate: boolean,
): BusAggregation | null {
  const linked = new Set(resources.flatMap((r) => (r.serviceOf === undefined ? [] : [r.serviceOf])));
  const groups = new Map<string, Group>();
  resources.forEach((r, k) => {
    if (!mergeable(r, linked)) return;
    const key = copperPlate ? 'copper-plate' : r.bus;
    let g = groups.get(key);
    if (!g) {
      g = {
        key,
        id: `${AGG_ID}${key}`,
        bus: r.bus,
        members: [],
        sell: Array.from({ length: periods }, () => new Map()),
        buy: Array.from({ length: periods }, () => new Map()),
      };
      groups.set(key, g);
    }
    g.members.push(k);
    for (let t = 0; t < periods; t++) {
      addSteps(g.sell[t], r.sell[t], k);
      addSteps(g.buy[t], r.buy[t], k);
    }
  });
  if (![...groups.values()].some((g) => g.members.length > 1)) return null;
  const lp: ClearingResource[] = resources.filter((r) => !mergeable(r, linked));
  const toSteps = (m: Map<number, Level>): Step[] =>
    [...m.values()].map((l) => ({ price_per_mwh: l.price, quantity_w: l.qty }));
  for (const g of groups.values()) {
    lp.push({ id: g.id, bus: g.bus, sell: g.sell.map(toSteps), buy: g.buy.map(toSteps) });
  }
  return {
    resources: lp,
    disaggregate: (res) => split(res, resources, [...groups.values()], periods),
  };
}

function addSteps(levels: Map<number, Level>, steps: readonly Step[] | undefined, k: number): void {
  for (const s of steps ?? []) {
    if (!(s.quantity_w > 0)) continue;
    let l = levels.get(s.price_per_mwh);
    if (!l) {
      l = { price: s.price_per_mwh, qty: 0, members: [] };
      levels.set(s.price_per_mwh, l);
    }
    l.qty += s.quantity_w;
    l.members.push({ k, q: s.quantity_w });
  }
}

/** Relative tolerance for "step price equals the DLMP" (HiGHS dual feasibility is 1e-7). */
const PRICE_TOL = 1e-6;

function split(
  res: ClearingResult,
  resources: readonly ClearingResource[],
  groups: readonly Group[],
  periods: number,
): ClearingResult | null {
  const net = new Map<number, number[]>();
  for (const g of groups) {
    const agg = res.schedules.get(g.id)!.netW;
    for (const k of g.members) net.set(k, new Array(periods).fill(0));
    for (let t = 0; t < periods; t++) {
      const lam = res.prices[t].get(g.key)!.dlmp;
      const tol = (p: number) => PRICE_TOL * Math.max(1, Math.abs(p));
      // Fully cleared levels, then what the marginal level(s) must carry.
      let rest = agg[t];
      const margSell: Level[] = [];
      const margBuy: Level[] = [];
      const full: [Level, number][] = [];
      for (const l of g.sell[t].values()) {
        if (l.price < lam - tol(l.price)) {
          full.push([l, 1]);
          rest -= l.qty;
        } else if (l.price <= lam + tol(l.price)) margSell.push(l);
      }
      for (const l of g.buy[t].values()) {
        if (l.price > lam + tol(l.price)) {
          full.push([l, -1]);
          rest += l.qty;
        } else if (l.price >= lam - tol(l.price)) margBuy.push(l);
      }
      const cap = (ls: Level[]) => ls.reduce((s, l) => s + l.qty, 0);
      const marg = rest >= 0 ? margSell : margBuy;
      const capW = cap(marg);
      const need = Math.abs(rest);
      // More than a milliwatt per level beyond what the marginal steps hold: the split is not
      // consistent with the duals (numerical trouble); the caller re-solves without merging.
      if (need > capW + 1e-3 * (marg.length + full.length + 1)) return null;
      const frac = capW > 0 ? Math.min(1, need / capW) : 0;
      for (const [l, sign] of full) for (const m of l.members) net.get(m.k)![t] += sign * m.q;
      const sign = rest >= 0 ? 1 : -1;
      if (frac > 0) for (const l of marg) for (const m of l.members) net.get(m.k)![t] += sign * frac * m.q;
    }
  }
  const schedules: ClearingResult['schedules'] = new Map();
  resources.forEach((r, k) => {
    const n = net.get(k);
    schedules.set(r.id, n ? { netW: n.map(clean) } : res.schedules.get(r.id)!);
  });
  return { ...res, schedules };
}

/** Same sub-milliwatt rounding as the clearing's own schedules. */
function clean(w: number): number {
  const r = Math.round(w * 1000) / 1000;
  return r === 0 ? 0 : r;
}
