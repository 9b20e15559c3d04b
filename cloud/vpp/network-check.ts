/**
 * The dispatch feasibility hook onto cloud/network: each site's share of the move becomes an extra
 * injection at its network node (sites.node = a bus id), checked with the exact power flow for
 * voltage band and thermal ratings. Sites without a node cannot be placed and are named in the
 * reasons; they do not make a dispatch infeasible on their own.
 */
import { checkFeasibility } from '../network/feasibility.ts';
import type { Network } from '../network/model.ts';
import type { NetworkCheck } from './feasibility.ts';

export function networkCheckFor(network: Network): NetworkCheck {
  const buses = new Set(network.buses.map((b) => b.id));
  return async ({ start, injections }) => {
    const reasons: string[] = [];
    const perBus: Record<string, { p_w: number; q_var: number }> = {};
    const unplaced = injections.filter((i) => !i.node).map((i) => i.site);
    if (unplaced.length)
      reasons.push(`sites without a network node were not checked: ${unplaced.join(', ')}`);
    for (const i of injections) {
      if (!i.node) continue;
      if (!buses.has(i.node))
        return {
          feasible: false,
          reasons: [`site ${i.site}: node ${i.node} is not in network ${network.name}`],
        };
      perBus[i.node] = { p_w: (perBus[i.node]?.p_w ?? 0) + i.deltaW, q_var: 0 };
    }
    const r = checkFeasibility(network, { intervals: [{ start, injections: perBus }] });
    for (const v of r.intervals.flatMap((iv) => iv.violations)) {
      if (v.kind === 'voltage')
        reasons.push(
          `bus ${v.bus} voltage ${v.v_pu.toFixed(4)} pu beyond its ${v.limit} of ${v.limit_pu} pu`,
        );
      else if (v.kind === 'thermal')
        reasons.push(
          `branch ${v.branch} loaded ${v.loading_pct.toFixed(0)} % of ${(v.rating_va / 1000).toFixed(0)} kVA`,
        );
      else reasons.push(`power flow: ${v.message}`);
    }
    return { feasible: r.feasible, reasons };
  };
}
