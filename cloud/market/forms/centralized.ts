import { checkFeasibility, type Network, type Violation } from '../../network/index.ts';
import { type CompiledFeeder, compileFeeder } from '../clearing/feeder.ts';
import type { ClearingResource } from '../clearing/types.ts';
import type { Step } from '../model/bids.ts';

/**
 * Centralized models (1, 2): the ISO is the market operator and sees each aggregator at the T-D
 * node; it does not see the distribution network. The ISO clears at one LMP per hour; the
 * aggregators' awards are split over their DER in merit order; then the DGO screens the awards with
 * the exact power flow (cloud/network checkFeasibility) and curtails the DER behind any violation
 * before dispatch, so no ISO dispatch is infeasible on the distribution network.
 */

/** Net import of a set of curves at price p: bids at or above p buy, offers at or below p sell. */
export function netCurvePoints(
  resources: readonly ClearingResource[],
  t: number,
  fixedImportW: number,
): { price_per_mwh: number; import_w: number }[] {
  const prices = new Set<number>([-1000, 10000]);
  for (const r of resources) {
    for (const s of r.sell[t] ?? []) prices.add(s.price_per_mwh);
    for (const s of r.buy[t] ?? []) prices.add(s.price_per_mwh);
  }
  const sorted = [...prices].sort((a, b) => a - b);
  return sorted.map((p) => {
    let imp = fixedImportW;
    for (const r of resources) {
      for (const s of r.buy[t] ?? []) if (s.price_per_mwh >= p) imp += s.quantity_w;
      for (const s of r.sell[t] ?? []) if (s.price_per_mwh <= p) imp -= s.quantity_w;
    }
    return { price_per_mwh: p, import_w: imp };
  });
}

/** Each resource's net award (W) at a uniform price; steps exactly at the price clear pro rata to meet `targetImportW`. */
export function awardsAtPrice(
  resources: readonly ClearingResource[],
  t: number,
  price: number,
  fixedImportW: number,
  targetImportW: number,
): Map<string, number> {
  const out = new Map<string, number>();
  let imp = fixedImportW;
  const marginal: { id: string; sign: 1 | -1; q: number }[] = [];
  const eps = 1e-9;
  for (const r of resources) {
    let net = 0;
    const take = (steps: readonly Step[] | undefined, sign: 1 | -1) => {
      for (const s of steps ?? []) {
        const inMerit = sign === 1 ? s.price_per_mwh < price - eps : s.price_per_mwh > price + eps;
        if (inMerit) net += sign * s.quantity_w;
        else if (Math.abs(s.price_per_mwh - price) <= eps) marginal.push({ id: r.id, sign, q: s.quantity_w });
      }
    };
    take(r.sell[t], 1);
    take(r.buy[t], -1);
    out.set(r.id, net);
    imp -= net;
  }
  // Marginal steps at the price: buy ones raise import, sell ones lower it; clear a common fraction.
  const gap = targetImportW - imp;
  const sameDir = marginal.filter((m) => (gap > 0 ? m.sign === -1 : m.sign === 1));
  const avail = sameDir.reduce((s, m) => s + m.q, 0);
  const frac = avail > 0 ? Math.min(1, Math.abs(gap) / avail) : 0;
  for (const m of sameDir) out.set(m.id, out.get(m.id)! + m.sign * m.q * frac);
  return out;
}

export interface ScreenResult {
  readonly awardsW: Map<string, number>;
  readonly curtailedW: Map<string, number>;
  readonly violationsBefore: number;
  /** What the exact power flow found on the unscreened awards, human-readable (the curtailment's reason). */
  readonly violations: string[];
  readonly iterations: number;
  readonly feasible: boolean;
}

/**
 * DGO feasibility screen of one hour's awards. While the exact power flow shows a violation, the
 * awards of DER electrically behind it are scaled back (injections for over-voltage or reverse
 * overload, withdrawals for under-voltage or forward overload). `baseW`, when given, is injected
 * too but never cut (the ancillary screen: energy schedules stay, the capacity a call adds is cut).
 */
export function screenAwards(
  network: Network,
  resources: readonly { id: string; bus: string }[],
  awardsW: ReadonlyMap<string, number>,
  loadsW: ReadonlyMap<string, number>,
  intervalStart: number,
  maxIterations = 25,
  baseW?: ReadonlyMap<string, number>,
): ScreenResult {
  const f: CompiledFeeder = compileFeeder(network);
  const awards = new Map(awardsW);
  const tan = Math.tan(Math.acos(0.95));
  const loads = Object.fromEntries(
    [...loadsW].map(([bus, w]) => [bus, { p_w: w, q_var: Math.max(0, w) * tan }]),
  );
  const check = () => {
    const injections: Record<string, { p_w: number; q_var: number }> = {};
    for (const r of resources) {
      const w = (awards.get(r.id) ?? 0) + (baseW?.get(r.id) ?? 0);
      injections[r.bus] = { p_w: (injections[r.bus]?.p_w ?? 0) + w, q_var: 0 };
    }
    return checkFeasibility(network, { intervals: [{ start: intervalStart, injections, loads }] })
      .intervals[0];
  };
  const behind = (bus: string, at: number) => {
    for (let k = f.index.get(bus)!; k > 0; k = f.parent[k]) if (k === at) return true;
    return false;
  };
  let iv = check();
  const before = iv.violations.length;
  const violations = iv.violations.map(describeViolation);
  let it = 0;
  while (!iv.feasible && it < maxIterations) {
    it++;
    for (const v of iv.violations) {
      let at = 0;
      let cut: 'inject' | 'withdraw' = 'inject';
      if (v.kind === 'voltage') {
        at = f.index.get(v.bus)!;
        cut = v.limit === 'max' ? 'inject' : 'withdraw';
        // Cut along the whole lateral: walk up to the bus just below the substation.
        while (at > 0 && f.parent[at] > 0) at = f.parent[at];
      } else if (v.kind === 'thermal') {
        at = f.index.get(v.to_bus)!;
        if (f.parent[at] !== f.index.get(v.from_bus)) at = f.index.get(v.from_bus)!;
        let down = 0;
        for (const r of resources)
          if (behind(r.bus, at)) down += (awards.get(r.id) ?? 0) + (baseW?.get(r.id) ?? 0);
        cut = down > 0 ? 'inject' : 'withdraw';
      } else continue;
      for (const r of resources) {
        if (at > 0 && !behind(r.bus, at)) continue;
        const w = awards.get(r.id) ?? 0;
        if ((cut === 'inject' && w > 0) || (cut === 'withdraw' && w < 0)) awards.set(r.id, w * 0.8);
      }
    }
    iv = check();
  }
  const curtailedW = new Map<string, number>();
  for (const [id, w] of awardsW) {
    const d = w - (awards.get(id) ?? 0);
    if (Math.abs(d) > 1e-6) curtailedW.set(id, d);
  }
  return {
    awardsW: awards,
    curtailedW,
    violationsBefore: before,
    violations,
    iterations: it,
    feasible: iv.feasible,
  };
}

function describeViolation(v: Violation): string {
  if (v.kind === 'voltage')
    return `voltage ${v.v_pu.toFixed(4)} pu at bus ${v.bus} beyond the ${v.limit} of ${v.limit_pu} pu`;
  if (v.kind === 'thermal')
    return `branch ${v.branch} (${v.from_bus}-${v.to_bus}) loaded ${v.loading_pct.toFixed(1)} % of its rating`;
  return `power flow: ${v.message}`;
}
