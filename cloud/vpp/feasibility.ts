/**
 * Feasibility of a dispatch before it is accepted: can the group move its meters by the required
 * delta, and hold it for the window? Checked in order, each with its own reason:
 *  1. device limits — ratings of the fresh, controllable devices, from what they do now;
 *  2. state of charge — batteries sustaining the move for the whole window (socMin…socMax);
 *  3. site limits — the sites' import/export limits at the point of common coupling;
 *  4. network limits — through a NetworkCheck hook when one is configured (cloud/network's
 *     checkFeasibility via the grid service, see ./cloud-hooks.ts), else reported as not checked.
 */
import { siteFlexNow } from './envelope.ts';
import type { GroupState, StateOptions } from './state.ts';

/** Network feasibility of per-site changes at their network nodes; see ./cloud-hooks.ts. */
export type NetworkCheck = (q: {
  start: number;
  end: number;
  /** Per site: its measured meter power now (export +) and its share of the move (W). */
  injections: { site: string; node: string | null; meterW: number | null; deltaW: number }[];
}) => Promise<{ feasible: boolean; reasons: string[] }>;

export interface Feasibility {
  feasible: boolean;
  /** Change at the meters the target needs, from the measured meter total now (W, export +). */
  requiredDeltaW: number;
  /** What the group can deliver of it (same sign), and the rest. */
  achievableDeltaW: number;
  shortfallW: number;
  reasons: string[];
  warnings: string[];
  checks: {
    deviceLimits: { upW: number; downW: number };
    stateOfCharge: { upW: number; downW: number; hours: number };
    siteLimits: { upW: number; downW: number };
    network: { checked: boolean; feasible: boolean | null; reasons: string[] };
  };
}

const kw = (w: number) => `${(w / 1000).toFixed(1)} kW`;

export async function checkDispatchFeasibility(
  g: GroupState,
  opts: StateOptions,
  q: { targetMeterW: number; start: number; end: number; network?: NetworkCheck },
): Promise<Feasibility> {
  const hours = (q.end - Math.max(q.start, g.at)) / 3_600_000;
  const meterNow = g.sites.reduce((a, s) => a + (s.meterW ?? 0), 0);
  const required = q.targetMeterW - meterNow;
  const warnings: string[] = [];
  const reasons: string[] = [];
  const noMeter = g.sites.filter((s) => s.meterW === undefined).map((s) => s.id);
  if (noMeter.length) warnings.push(`sites without a meter value count as 0 W: ${noMeter.join(', ')}`);
  const staleSites = g.sites.filter((s) => s.devices.some((d) => !d.fresh)).map((s) => s.id);
  if (staleSites.length) warnings.push(`stale devices are left out at sites: ${staleSites.join(', ')}`);

  const power = g.sites.map((s) => siteFlexNow(s, opts, 0));
  const sustained = g.sites.map((s) => siteFlexNow(s, opts, hours));
  const dev = {
    upW: power.reduce((a, s) => a + s.devicesUpW, 0),
    downW: power.reduce((a, s) => a + s.devicesDownW, 0),
  };
  const soc = {
    upW: sustained.reduce((a, s) => a + s.devicesUpW, 0),
    downW: sustained.reduce((a, s) => a + s.devicesDownW, 0),
    hours,
  };
  const site = {
    upW: sustained.reduce((a, s) => a + s.upW, 0),
    downW: sustained.reduce((a, s) => a + s.downW, 0),
  };
  const up = required > 0;
  const need = Math.abs(required);
  const cap = (x: { upW: number; downW: number }) => (up ? x.upW : x.downW);
  const dir = up ? 'increase' : 'decrease';
  const mins = Math.round(hours * 60);
  if (g.sites.length === 0) reasons.push('the group has no sites');
  if (need > cap(dev) + 1)
    reasons.push(
      `device limits: the target needs a ${dir} of ${kw(need)} at the meters; the group's controllable devices can ${dir} by at most ${kw(cap(dev))} now`,
    );
  else if (need > cap(soc) + 1)
    reasons.push(
      `state of charge: sustaining a ${dir} of ${kw(need)} for ${mins} min needs ${((need * hours) / 1000).toFixed(1)} kWh; the batteries can sustain at most ${kw(cap(soc))} over the window (SoC ${opts.socMinPct}–${opts.socMaxPct}%)`,
    );
  if (need > cap(site) + 1 && need <= cap(soc) + 1) {
    const limited = sustained
      .filter((s) => (up ? s.upW < s.devicesUpW : s.downW < s.devicesDownW))
      .map((s) => s.site);
    reasons.push(
      `site limits: the ${up ? 'export' : 'import'} limits of ${limited.join(', ')} cap the ${dir} at ${kw(cap(site))}`,
    );
  }
  let achievable = Math.sign(required) * Math.min(need, cap(dev), cap(soc), cap(site));

  const network: Feasibility['checks']['network'] = { checked: false, feasible: null, reasons: [] };
  if (q.network && achievable !== 0) {
    // Each site's share of the move, in proportion to what it can contribute.
    const total = sustained.reduce((a, s) => a + (up ? s.upW : s.downW), 0) || 1;
    const r = await q.network({
      start: q.start,
      end: q.end,
      injections: g.sites.map((s, i) => ({
        site: s.id,
        node: s.node,
        meterW: s.meterW ?? null,
        deltaW: (achievable * (up ? sustained[i].upW : sustained[i].downW)) / total,
      })),
    });
    network.checked = true;
    network.feasible = r.feasible;
    network.reasons = r.reasons;
    if (!r.feasible) {
      reasons.push(...r.reasons.map((x) => `network limits: ${x}`));
      achievable = 0;
    }
  } else if (!q.network) network.reasons.push('no network model configured: network limits not checked');

  const shortfall = required - achievable;
  return {
    feasible: Math.abs(shortfall) <= 1 && reasons.length === 0,
    requiredDeltaW: Math.round(required),
    achievableDeltaW: Math.round(achievable),
    shortfallW: Math.round(shortfall),
    reasons,
    warnings,
    checks: { deviceLimits: dev, stateOfCharge: soc, siteLimits: site, network },
  };
}
