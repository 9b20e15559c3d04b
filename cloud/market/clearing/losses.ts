import { buildNetwork, type Network, PowerFlowError } from '../../network/index.ts';
import { demandWithOverrides, describeSweep, type SweepResult, sweep } from '../../network/powerflow.ts';
import { compileRadial } from '../../network/topology.ts';
import { clearArea, openArea } from './clearing.ts';
import { type CompiledFeeder, LP_BASE_VA } from './feeder.ts';
import type { BranchLossLinearization, BusPrice, ClearingInput, ClearingResult } from './types.ts';

/**
 * Marginal losses for the (otherwise lossless LinDistFlow) market LP, from the network module's exact
 * AC power flow run at a cleared schedule.
 *
 * Branch i (feeding bus i, receiving-end flow P_i) is linearized as losing a_i P_i + c_i: the LP makes
 * the parent bus supply (1 + a_i) P_i + c_i, so the DLMP's loss component is LMP x (product of
 * (1 + a_k) along the path - 1) = LMP x dLosses/dDemand at the bus.
 */

const TAN_PHI = Math.tan(Math.acos(0.95));
const acNetworks = new WeakMap<object, Network>();

/** The feeder as a cloud/network model with no loads or DERs of its own (the market supplies them). */
function acNetwork(f: CompiledFeeder): Network {
  let n = acNetworks.get(f.network);
  if (!n) {
    const src = f.network;
    n = buildNetwork({
      name: src.name,
      base_voltage_v: src.base_voltage_v,
      slack_voltage_pu: src.slack_voltage_pu,
      buses: src.buses.map((b) => ({ id: b.id, type: b.type, vmin_pu: b.vmin_pu, vmax_pu: b.vmax_pu })),
      branches: src.branches.map((b) => ({ ...b })),
    });
    acNetworks.set(f.network, n);
  }
  return n;
}

export interface AcState {
  readonly linearization: BranchLossLinearization;
  /** Exact AC losses per period (W). */
  readonly lossW: number[];
}

/** Net active/reactive injections per bus (W, var; + = into the grid) of a cleared schedule. */
export function scheduleInjections(
  inp: ClearingInput,
  res: ClearingResult,
  t: number,
): Record<string, { p_w: number; q_var: number }> {
  const out: Record<string, { p_w: number; q_var: number }> = {};
  const add = (bus: string, p: number, q: number) => {
    const e = out[bus] ?? { p_w: 0, q_var: 0 };
    out[bus] = e;
    e.p_w += p;
    e.q_var += q;
  };
  for (const [bus, series] of inp.fixedLoadW) {
    const w = series[t] ?? 0;
    add(bus, -w, inp.fixedLoadVar ? 0 : -Math.max(0, w) * TAN_PHI);
  }
  if (inp.fixedLoadVar) for (const [bus, series] of inp.fixedLoadVar) add(bus, 0, -(series[t] ?? 0));
  for (const r of inp.resources) add(r.bus, res.schedules.get(r.id)?.netW[t] ?? 0, 0);
  return out;
}

/**
 * Runs the AC power flow of every period at the cleared schedule and linearizes the losses there.
 * Marginal loss factors MLF_b = dLosses/dDemand_b are exact (finite differences of the sweep, one
 * per bus: O(n^2) per period, milliseconds for a 100-bus feeder), so they include what the LP's
 * lossless voltage model cannot see (losses rising as voltages sag). Branch factors are chosen so
 * their product along each path reproduces them: 1 + a_i = (1 + MLF_i) / (1 + MLF_parent); the
 * constants make the LP's losses equal the AC losses at the linearization point.
 * Throws PowerFlowError when a period has no power-flow solution (voltage collapse).
 */
export function linearizeLosses(inp: ClearingInput, res: ClearingResult): AcState {
  const f = inp.feeder;
  if (!f) throw new RangeError('losses need a feeder (a copper plate is lossless)');
  const net = acNetwork(f);
  const radial = compileRadial(net);
  const v0 = net.slack_voltage_pu;
  const n = f.buses.length;
  const at = f.buses.map((b) => radial.indexOf.get(b)!);
  const factor: Float64Array[] = [];
  const constantMw: Float64Array[] = [];
  const lossW: number[] = [];
  const DELTA = 1e-4; // 100 W of extra demand, per unit
  const lossOf = (s: SweepResult) => {
    let l = 0;
    for (let k = 1; k < radial.n; k++) l += radial.r[k] * (s.ir[k] * s.ir[k] + s.ii[k] * s.ii[k]);
    return l;
  };
  for (let t = 0; t < inp.periods; t++) {
    const [pd, qd] = demandWithOverrides(net, radial, { injections: scheduleInjections(inp, res, t) });
    const s0 = sweep(radial, pd, qd, v0);
    const pf = describeSweep(net, radial, s0, pd, qd);
    const l0 = lossOf(s0);
    const mlf = new Float64Array(n);
    for (let i = 1; i < n; i++) {
      pd[at[i]] += DELTA;
      mlf[i] = (lossOf(sweep(radial, pd, qd, v0)) - l0) / DELTA;
      pd[at[i]] -= DELTA;
    }
    const a = new Float64Array(n);
    const c = new Float64Array(n);
    for (let i = 1; i < n; i++) {
      const br = pf.branches[f.branchOf[i]];
      const forward = br.from_bus === f.buses[f.parent[i]];
      // Receiving-end flow into bus i (per unit on the LP's 1 MVA base).
      const p = (forward ? br.p_w - br.loss_w : -br.p_w) / LP_BASE_VA;
      a[i] = (1 + mlf[i]) / (1 + mlf[f.parent[i]]) - 1;
      c[i] = br.loss_w / LP_BASE_VA - a[i] * p;
    }
    factor.push(a);
    constantMw.push(c);
    lossW.push(pf.losses_w);
  }
  return { linearization: { factor, constantMw }, lossW };
}

export interface LossyClearing {
  readonly result: ClearingResult;
  /** Linearization the result was cleared with (null: lossless, e.g. a copper plate). */
  readonly losses: BranchLossLinearization | null;
  /** Exact AC losses per period at the returned schedule (W), when computed. */
  readonly lossW: number[] | null;
}

/**
 * Clears with marginal losses: starting from `inp.losses` (or a lossless solve), re-linearizes at
 * each cleared schedule and re-clears, `iterations` times. With no feeder or 0 iterations it is
 * `clearArea`. Without `prepare` only the loss coefficients change between solves, so the LP stays
 * loaded and each re-clear starts warm from the last basis (real-time intervals). `prepare` lets a
 * caller rebuild input that depends on the losses (grid-service offers priced at the loss-inclusive
 * energy price); each iteration is then a fresh clearing.
 */
export async function clearWithLosses(
  inp: ClearingInput,
  iterations: number,
  prepare?: (inp: ClearingInput) => ClearingInput,
): Promise<LossyClearing> {
  if (!inp.feeder || iterations <= 0) {
    return { result: await clearArea(prepare ? prepare(inp) : inp), losses: inp.losses ?? null, lossW: null };
  }
  if (!prepare) {
    const area = await openArea(inp);
    try {
      let result = area.solve(inp.interfacePrice, 'LDA clearing');
      for (let k = 0; k < iterations; k++) {
        area.setLosses(linearizeLosses(area.input, result).linearization);
        result = area.solve(inp.interfacePrice, 'LDA loss re-clearing');
      }
      // Losses reported for the schedule actually returned.
      return { result, losses: area.input.losses ?? null, lossW: linearizeLosses(area.input, result).lossW };
    } finally {
      area.dispose();
    }
  }
  let cur = prepare(inp);
  let result = await clearArea(cur);
  for (let k = 0; k < iterations; k++) {
    cur = prepare({ ...inp, losses: linearizeLosses(cur, result).linearization });
    result = await clearArea(cur);
  }
  return { result, losses: cur.losses ?? null, lossW: linearizeLosses(cur, result).lossW };
}

/** Total losses of a feeder at a schedule, W per period, or null when the power flow fails. */
export function acLossesW(inp: ClearingInput, res: ClearingResult): number[] | null {
  try {
    return linearizeLosses(inp, res).lossW;
  } catch (err) {
    if (err instanceof PowerFlowError) return null;
    throw err;
  }
}

/**
 * Loss surplus of a period ($/h): what withdrawals pay and injections are paid for energy + losses
 * at their buses, minus what the interface import costs at the LMP. Marginal losses are about twice
 * average losses, so this is positive (roughly LMP x losses) on a feeder that imports.
 */
export function lossSurplusPerH(inp: ClearingInput, res: ClearingResult, t: number): number {
  const inj = Object.entries(scheduleInjections(inp, res, t)).map(([bus, e]) => [bus, e.p_w] as const);
  return lossSurplusAt(inj, res.interfaceImportW[t], res.prices[t], inp.interfacePrice[t]);
}

/**
 * The same for any net injections per bus (W, + = into the grid; a bus may repeat) and interface
 * import (W) at one period's prices: e.g. real-time deviations from the day-ahead schedule.
 */
export function lossSurplusAt(
  injectionsW: Iterable<readonly [string, number]>,
  importW: number,
  prices: ReadonlyMap<string, BusPrice>,
  lmp: number,
): number {
  let s = 0;
  for (const [bus, w] of injectionsW) {
    const p = prices.get(bus);
    if (p) s -= (w / 1e6) * (p.energy + p.loss);
  }
  return s - (importW / 1e6) * lmp;
}
