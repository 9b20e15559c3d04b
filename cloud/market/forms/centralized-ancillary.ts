import type { TdBid } from '../../../protocols/market/td-interface.ts';
import type { Network } from '../../network/index.ts';
import { aggregateSteps } from '../clearing/curves.ts';
import { ANCILLARY_PRODUCTS, type AncillaryProduct, type ClearingResource } from '../clearing/types.ts';
import { screenAwards } from './centralized.ts';

/**
 * ISO ancillary services in the centralized models (1, 2). The aggregators' reg-up/reg-down/reserve
 * offers go to the ISO in the T-D bid's `ancillary` field (the protocol the Total-DSO path uses);
 * the ISO co-optimizes them with its own units and returns one award and one price per product and
 * hour; the award is split over the offering resources in merit order at that price (uniform-price
 * auction, like the energy awards). Before anything is held or paid, the DGO screens the capacity:
 * a reserved capacity must be deliverable in full, both by the resource (headroom around its energy
 * schedule) and by the feeder (the exact power flow with every upward, or every downward, award called
 * at once on top of the screened energy schedules).
 */

export type AncillaryW = Partial<Record<AncillaryProduct, number>>;

/** Products a call raises injection with; reg_down lowers it. */
const UP: readonly AncillaryProduct[] = ['reg_up', 'reserve'];

/** One hour's ancillary offers of every resource, summed per product as the T-D bid carries them. */
export function ancillaryOffers(
  resources: readonly ClearingResource[],
  t: number,
): TdBid['hours'][number]['ancillary'] {
  return ANCILLARY_PRODUCTS.flatMap((p) => {
    const steps = aggregateSteps(resources.map((r) => r.ancillary?.[p]?.[t] ?? []));
    return steps.length ? [{ product: p, steps }] : [];
  });
}

/**
 * Splits the ISO's award of one product in one hour over the resources that offered it: steps
 * priced below the ISO's price clear in full, steps at the price share the rest pro rata, steps
 * above it clear nothing (the ISO's LP takes a cheaper step before a dearer one).
 */
export function splitAncillaryAward(
  resources: readonly ClearingResource[],
  t: number,
  product: AncillaryProduct,
  price: number,
  totalW: number,
): Map<string, number> {
  const out = new Map<string, number>();
  const eps = 1e-6;
  let firm = 0;
  const marginal: { id: string; q: number }[] = [];
  for (const r of resources) {
    for (const s of r.ancillary?.[product]?.[t] ?? []) {
      if (s.price_per_mwh < price - eps) {
        out.set(r.id, (out.get(r.id) ?? 0) + s.quantity_w);
        firm += s.quantity_w;
      } else if (s.price_per_mwh <= price + eps) marginal.push({ id: r.id, q: s.quantity_w });
    }
  }
  const atPrice = marginal.reduce((s, m) => s + m.q, 0);
  const frac = atPrice > 0 ? Math.min(1, Math.max(0, totalW - firm) / atPrice) : 0;
  for (const m of marginal) out.set(m.id, (out.get(m.id) ?? 0) + m.q * frac);
  // The ISO never awards more than was offered below its price; if it awarded less (solver
  // tolerance), scale everything to its total.
  const sum = [...out.values()].reduce((s, w) => s + w, 0);
  if (sum > totalW + 1e-3 && sum > 0) for (const [id, w] of out) out.set(id, (w * totalW) / sum);
  for (const [id, w] of out) if (w <= 1e-6) out.delete(id);
  return out;
}

export interface AncillaryScreenResource {
  readonly id: string;
  readonly bus: string;
  readonly maxInjectW: number;
  readonly maxWithdrawW: number;
}

export interface AncillaryScreenOutcome {
  /** What the ISO awarded, per product (W). */
  readonly awardW: AncillaryW;
  /** What the DGO lets the resource hold (W). */
  readonly screenedW: AncillaryW;
  /** Why anything was cut (null when nothing was). */
  readonly reason: string | null;
}

/**
 * The DGO's screen of one hour's ancillary awards. `energyW` is the screened energy schedule (+ =
 * into the grid). First each resource's own headroom: reg-up plus reserve fit between its schedule
 * and its registered injection limit, reg-down between the schedule and its withdrawal limit. Then
 * the feeder: every upward award called at once on top of the schedules, and every downward one,
 * must pass the exact power flow; capacity behind a violation is cut (`screenAwards` with the
 * schedules as the fixed base); whatever the iterative cut leaves infeasible is cut to zero.
 * Without a network only the headroom is checked.
 */
export function screenAncillary(
  network: Network | null | undefined,
  resources: readonly AncillaryScreenResource[],
  energyW: ReadonlyMap<string, number>,
  awards: ReadonlyMap<string, AncillaryW>,
  loadsW: ReadonlyMap<string, number>,
  intervalStart: number,
): Map<string, AncillaryScreenOutcome> {
  const res = new Map(resources.map((r) => [r.id, r]));
  const held = new Map<string, AncillaryW>();
  const reasons = new Map<string, string[]>();
  const why = (id: string, text: string) => reasons.set(id, [...(reasons.get(id) ?? []), text]);
  for (const [id, aw] of awards) {
    const r = res.get(id);
    const e = energyW.get(id) ?? 0;
    const h: AncillaryW = { ...aw };
    if (!r) {
      held.set(id, {});
      why(id, 'unknown resource');
      continue;
    }
    const up = (h.reg_up ?? 0) + (h.reserve ?? 0);
    const upRoom = Math.max(0, r.maxInjectW - e);
    if (up > upRoom + 1e-6) {
      for (const p of UP) if (h[p] !== undefined) h[p] = (h[p]! * upRoom) / up;
      why(
        id,
        `resource headroom: ${fmtW(up)} up on a ${fmtW(e)} schedule exceeds the ${fmtW(r.maxInjectW)} injection limit`,
      );
    }
    const down = h.reg_down ?? 0;
    const downRoom = Math.max(0, e + r.maxWithdrawW);
    if (down > downRoom + 1e-6) {
      h.reg_down = downRoom;
      why(
        id,
        `resource headroom: ${fmtW(down)} down on a ${fmtW(e)} schedule exceeds the ${fmtW(r.maxWithdrawW)} withdrawal limit`,
      );
    }
    held.set(id, h);
  }
  if (network) {
    const placed = resources.filter((r) => held.has(r.id) || energyW.has(r.id));
    for (const dir of ['up', 'down'] as const) {
      const sign = dir === 'up' ? 1 : -1;
      const prods = dir === 'up' ? UP : (['reg_down'] as const);
      const called = new Map<string, number>();
      for (const [id, h] of held) {
        const w = prods.reduce((s, p) => s + (h[p] ?? 0), 0);
        if (w > 1e-6) called.set(id, sign * w);
      }
      if (!called.size) continue;
      const s = screenAwards(network, placed, called, loadsW, intervalStart, 25, energyW);
      const after = new Map(s.awardsW);
      if (!s.feasible) for (const id of s.curtailedW.keys()) after.set(id, 0);
      const label = dir === 'up' ? 'full reg-up/reserve call' : 'full reg-down call';
      for (const [id, w] of called) {
        const kept = after.get(id) ?? 0;
        if (Math.abs(w - kept) <= 1e-6) continue;
        const frac = kept / w;
        const h = held.get(id)!;
        for (const p of prods) if (h[p] !== undefined) h[p] = h[p]! * frac;
        why(
          id,
          `DGO feasibility screen, ${label}: ${s.violations.join('; ') || 'power flow infeasible'}` +
            (s.feasible ? '' : ' (not resolved by partial cuts: capacity behind it withheld)'),
        );
      }
    }
  }
  const out = new Map<string, AncillaryScreenOutcome>();
  for (const [id, aw] of awards) {
    const h = held.get(id) ?? {};
    const screenedW: AncillaryW = {};
    for (const p of ANCILLARY_PRODUCTS) if (aw[p] !== undefined) screenedW[p] = round3(h[p] ?? 0);
    out.set(id, { awardW: aw, screenedW, reason: reasons.get(id)?.join('; ') ?? null });
  }
  return out;
}

function fmtW(w: number): string {
  return `${Math.round(w)} W`;
}
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
