/**
 * JSON shapes of the `gridlayer powerflow` and `gridlayer dlmp` outputs (issue 6 contract):
 * powers in kW/kvar as in the CSV inputs, prices in $/MWh.
 */
import type { DlmpResult } from './opf.ts';
import type { PowerFlowResult } from './powerflow.ts';

const kw = (w: number) => w / 1000;

export function powerFlowJson(pf: PowerFlowResult) {
  return {
    converged: pf.converged,
    iterations: pf.iterations,
    buses: pf.buses.map((b) => ({ bus: b.bus, v_pu: b.v_pu, angle_deg: b.angle_deg })),
    branches: pf.branches.map((b) => ({
      from_bus: b.from_bus,
      to_bus: b.to_bus,
      p_kw: kw(b.p_w),
      q_kvar: kw(b.q_var),
      loss_kw: kw(b.loss_w),
      ...(b.loading_pct !== undefined ? { loading_pct: b.loading_pct } : {}),
    })),
    losses_kw: kw(pf.losses_w),
    losses_kvar: kw(pf.losses_var),
    min_voltage: pf.min_voltage,
    max_voltage: pf.max_voltage,
  };
}

export function dlmpJson(r: DlmpResult) {
  return {
    converged: r.converged,
    iterations: r.iterations,
    lmp_per_mwh: r.lmp_per_mwh,
    cost_per_h: r.cost_per_h,
    import_kw: kw(r.import_w),
    losses_kw: kw(r.losses_w),
    buses: r.buses,
    branches: powerFlowJson(r.powerflow).branches,
    offers: r.offers.map((o) => ({
      id: o.id,
      bus: o.bus,
      direction: o.direction,
      quantity_kw: kw(o.quantity_w),
      price_per_mwh: o.price_per_mwh,
      cleared_kw: kw(o.cleared_w),
    })),
    binding: r.binding,
    min_voltage: r.powerflow.min_voltage,
    max_voltage: r.powerflow.max_voltage,
    check: r.check,
  };
}
