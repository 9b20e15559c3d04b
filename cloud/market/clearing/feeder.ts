/**
 * The distribution network as the market needs it: a radial feeder compiled into parent pointers
 * and per-unit impedances, for the LinDistFlow constraints inside the clearing LP.
 *
 * `FeederNetwork` is structurally the `Network` of cloud/network (model.ts), so a network loaded or
 * generated there is passed straight in; the market only reads these fields.
 */

export interface FeederNetwork {
  readonly name: string;
  readonly base_voltage_v: number;
  readonly slack_voltage_pu: number;
  readonly buses: readonly { id: string; type: 'slack' | 'pq'; vmin_pu: number; vmax_pu: number }[];
  readonly branches: readonly {
    id: string;
    from_bus: string;
    to_bus: string;
    r_ohm: number;
    x_ohm: number;
    rating_va?: number;
    in_service: boolean;
  }[];
}

/** Base power of the per-unit system inside the LP: 1 MVA, so per-unit power reads as MW. */
export const LP_BASE_VA = 1e6;

export interface CompiledFeeder {
  readonly network: FeederNetwork;
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

export function compileFeeder(network: FeederNetwork): CompiledFeeder {
  const slack = network.buses.filter((b) => b.type === 'slack');
  if (slack.length !== 1) throw new FeederError(`feeder needs exactly one slack bus, has ${slack.length}`);
  const adj = new Map<string, { to: string; k: number }[]>();
  for (const b of network.buses) adj.set(b.id, []);
  network.branches.forEach((br, k) => {
    if (!br.in_service) return;
    const a = adj.get(br.from_bus);
    const b = adj.get(br.to_bus);
    if (!a || !b) throw new FeederError(`branch ${br.id} refers to an unknown bus`);
    a.push({ to: br.to_bus, k });
    b.push({ to: br.from_bus, k });
  });
  const order: string[] = [slack[0].id];
  const index = new Map<string, number>([[slack[0].id, 0]]);
  const parentIds: number[] = [-1];
  const branchIds: number[] = [-1];
  for (let i = 0; i < order.length; i++) {
    for (const e of adj.get(order[i])!) {
      if (index.has(e.to)) {
        if (parentIds[i] !== index.get(e.to) || branchIds[i] !== e.k) {
          throw new FeederError(`feeder is not radial: loop through bus ${e.to}`);
        }
        continue;
      }
      index.set(e.to, order.length);
      order.push(e.to);
      parentIds.push(i);
      branchIds.push(e.k);
    }
  }
  if (order.length !== network.buses.length) {
    const island = network.buses.find((b) => !index.has(b.id))!;
    throw new FeederError(`bus ${island.id} is not connected to the substation`);
  }
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
    parent: Int32Array.from(parentIds),
    branchOf: Int32Array.from(branchIds),
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
