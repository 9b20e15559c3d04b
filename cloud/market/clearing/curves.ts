import type { Bid, Step } from '../model/bids.ts';
import type { Resource, ResourceRegistry } from '../model/resources.ts';
import { ANCILLARY_PRODUCTS, type AncillaryProduct, type ClearingResource } from './types.ts';

/**
 * Turns accepted bids into the clearing model's per-resource, per-period curves.
 * `periodOf` maps a bid's interval start to a period index (or -1 to ignore it).
 */
export function resourcesFromBids(
  bids: readonly Bid[],
  registry: ResourceRegistry,
  periods: number,
  periodOf: (intervalStart: number) => number,
  socOverride?: ReadonlyMap<string, number>,
): ClearingResource[] {
  const byRes = new Map<
    string,
    { r: Resource; sell: Step[][]; buy: Step[][]; anc: Partial<Record<AncillaryProduct, Step[][]>> }
  >();
  for (const b of bids) {
    const t = periodOf(b.interval_start);
    if (t < 0 || t >= periods) continue;
    const r = registry.get(b.resource);
    if (!r) continue;
    let e = byRes.get(r.id);
    if (!e) {
      e = { r, sell: empty(periods), buy: empty(periods), anc: {} };
      byRes.set(r.id, e);
    }
    if (b.product === 'energy') (b.side === 'sell' ? e.sell : e.buy)[t].push(...b.steps);
    else if ((ANCILLARY_PRODUCTS as readonly string[]).includes(b.product)) {
      const p = b.product as AncillaryProduct;
      e.anc[p] ??= empty(periods);
      e.anc[p]![t].push(...b.steps);
    }
  }
  return [...byRes.values()].map(({ r, sell, buy, anc }) => ({
    id: r.id,
    bus: r.bus,
    sell,
    buy,
    capability: { maxInjectW: r.max_inject_w, maxWithdrawW: r.max_withdraw_w },
    ...(r.energy_wh !== undefined
      ? {
          storage: {
            energyWh: r.energy_wh,
            soc0Wh: socOverride?.get(r.id) ?? r.soc0_wh ?? r.energy_wh / 2,
            efficiency: r.efficiency ?? 0.95,
          },
        }
      : {}),
    ...(Object.keys(anc).length ? { ancillary: anc } : {}),
  }));
}

function empty(n: number): Step[][] {
  return Array.from({ length: n }, () => []);
}

/** Sums many offer curves into one (sorted by price), as an aggregator or the DSO offers them upward. */
export function aggregateSteps(curves: Iterable<readonly Step[]>, side: 'sell' | 'buy' = 'sell'): Step[] {
  const byPrice = new Map<number, number>();
  for (const c of curves)
    for (const s of c) byPrice.set(s.price_per_mwh, (byPrice.get(s.price_per_mwh) ?? 0) + s.quantity_w);
  const out = [...byPrice].map(([price_per_mwh, quantity_w]) => ({ price_per_mwh, quantity_w }));
  return out.sort((a, b) =>
    side === 'sell' ? a.price_per_mwh - b.price_per_mwh : b.price_per_mwh - a.price_per_mwh,
  );
}
