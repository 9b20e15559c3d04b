import { type Network, NetworkError } from '../../network/index.ts';
import { compileRadial } from '../../network/topology.ts';

/**
 * The distribution network as the market needs it: the radial structure cloud/network compiles
 * (topology.ts: breadth-first from the slack bus, each bus owning the branch to its parent), with
 * per-unit impedances on the LP's 1 MVA base and squared voltage bands, for the LinDistFlow
 * constraints inside the clearing LP.
 */

/** Base power of the per-unit system inside the LP: 1 MVA, so per-unit power reads as MW. */
export const LP_BASE_VA = 1e6;

export interface CompiledFeeder {
  readonly network: Network;
  /** Bus ids in topological order; index 0 is the slack (T-D interface) bus. */
  readonly buses: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** Parent bus index (-1 for the root). */
  readonly parent: Int32Array;
  /** Branch feeding each bus (index into network.branches, -1 for root). */
  readonly branchOf: Int32Array;
  readonly rPu: Float64Array;
  readonly xPu: Float64Array;
  /** Branch rating in MVA per bus's feeding branch (Infinity if unrated). */
  readonly ratingMva: Float64Array;
  readonly vminSq: Float64Array;
  readonly vmaxSq: Float64Array;
  readonly v0Sq: number;
}

export class FeederError extends Error {
  override name = 'FeederError';
}

export function compileFeeder(network: Network): CompiledFeeder {
  const slack = network.buses.filter((b) => b.type === 'slack');
  if (slack.length !== 1) throw new FeederError(`feeder needs exactly one slack bus, has ${slack.length}`);
  const known = new Set(network.buses.map((b) => b.id));
  for (const br of network.branches)
    if (br.in_service && (!known.has(br.from_bus) || !known.has(br.to_bus)))
      throw new FeederError(`branch ${br.id} refers to an unknown bus`);
  let radial: ReturnType<typeof compileRadial>;
  try {
    radial = compileRadial(network);
  } catch (err) {
    // A loop or an island: the LinDistFlow rows are exact only on a radial feeder.
    if (err instanceof NetworkError) throw new FeederError(`feeder is not radial: ${err.message}`);
    throw err;
  }
  const order = radial.busIds;
  const index = radial.indexOf;
  const branchIds = radial.branchOf;
  const zBase = network.base_voltage_v ** 2 / LP_BASE_VA;
  const n = order.length;
  const rPu = new Float64Array(n);
  const xPu = new Float64Array(n);
  const ratingMva = new Float64Array(n).fill(Infinity);
  const vminSq = new Float64Array(n);
  const vmaxSq = new Float64Array(n);
  const byId = new Map(network.buses.map((b) => [b.id, b]));
  for (let i = 0; i < n; i++) {
    const bus = byId.get(order[i])!;
    vminSq[i] = bus.vmin_pu ** 2;
    vmaxSq[i] = bus.vmax_pu ** 2;
    if (i === 0) continue;
    const br = network.branches[branchIds[i]];
    rPu[i] = br.r_ohm / zBase;
    xPu[i] = br.x_ohm / zBase;
    if (br.rating_va !== undefined) ratingMva[i] = br.rating_va / LP_BASE_VA;
  }
  return {
    network,
    buses: order,
    index,
    parent: Int32Array.from(radial.parent),
    branchOf: Int32Array.from(radial.branchOf),
    rPu,
    xPu,
    ratingMva,
    vminSq,
    vmaxSq,
    v0Sq: network.slack_voltage_pu ** 2,
  };
}

/** Buses on the path from the root to `i` (excluding the root), nearest first. */
export function pathToRoot(f: CompiledFeeder, i: number): number[] {
  const out: number[] = [];
  for (let k = i; k > 0; k = f.parent[k]) out.push(k);
  return out;
}

/**
 * Lossless LinDistFlow state of a feeder for given net injections per bus (W, positive into the
 * grid) and reactive injections (var): branch flows (W, positive = towards the bus) and voltages.
 * Used to screen trades and awards linearly; the exact AC check is the network's power flow.
 */
export function linDistFlow(
  f: CompiledFeeder,
  pInjW: Float64Array,
  qInjVar: Float64Array,
): { flowW: Float64Array; flowVar: Float64Array; vPu: Float64Array } {
  const n = f.buses.length;
  const flowW = new Float64Array(n);
  const flowVar = new Float64Array(n);
  for (let i = n - 1; i > 0; i--) {
    flowW[i] -= pInjW[i];
    flowVar[i] -= qInjVar[i];
    flowW[f.parent[i]] += flowW[i];
    flowVar[f.parent[i]] += flowVar[i];
  }
  const vSq = new Float64Array(n);
  vSq[0] = f.v0Sq;
  for (let i = 1; i < n; i++) {
    vSq[i] = vSq[f.parent[i]] - (2 * (f.rPu[i] * flowW[i] + f.xPu[i] * flowVar[i])) / LP_BASE_VA;
  }
  flowW[0] = 0;
  flowVar[0] = 0;
  return { flowW, flowVar, vPu: vSq.map(Math.sqrt) };
}
