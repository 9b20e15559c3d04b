import { BASE_POWER_VA, type Network, NetworkError } from './model.ts';

/**
 * A network compiled for the radial solvers: buses in breadth-first order from the slack bus,
 * each non-slack bus owning the in-service branch to its parent. Arrays, not objects, because
 * the power flow sweeps them thousands of times.
 */
export interface Radial {
  readonly n: number;
  /** Bus ids by internal index; index 0 is the slack bus. */
  readonly busIds: readonly string[];
  readonly indexOf: ReadonlyMap<string, number>;
  /** Parent bus of each bus (-1 for the slack). Parents always come before children. */
  readonly parent: Int32Array;
  /** Index into network.branches of the branch from the parent to each bus (-1 for the slack). */
  readonly branchOf: Int32Array;
  /** true when that branch's from_bus is the child (the CSV orientation is against the tree). */
  readonly reversed: Uint8Array;
  /** Parent-branch impedance per bus, per unit on BASE_POWER_VA and the feeder base voltage. */
  readonly r: Float64Array;
  readonly x: Float64Array;
  /** Parent-branch rating per bus, per unit (0 = unrated). */
  readonly rating: Float64Array;
  readonly vmin: Float64Array;
  readonly vmax: Float64Array;
  /** Children of bus i are childIdx[childStart[i] .. childStart[i+1]). */
  readonly childStart: Int32Array;
  readonly childIdx: Int32Array;
  /** Base-case net consumption per bus (loads minus fixed DERs), per unit. */
  readonly pDemand: Float64Array;
  readonly qDemand: Float64Array;
  readonly zBaseOhm: number;
}

const cache = new WeakMap<Network, Radial>();

/**
 * Compiles (and caches per network object) the radial structure of the in-service branches.
 * Throws NetworkError when the in-service branches form a loop or leave buses unconnected to the
 * slack bus: the sweep power flow and the LinDistFlow OPF are exact only for radial feeders.
 */
export function compileRadial(network: Network): Radial {
  const hit = cache.get(network);
  if (hit) return hit;

  const nBus = network.buses.length;
  const localIndex = new Map<string, number>();
  for (const [i, b] of network.buses.entries()) localIndex.set(b.id, i);

  // Adjacency over in-service branches (CSR built from edge list).
  const deg = new Int32Array(nBus + 1);
  const live: number[] = [];
  network.branches.forEach((br, k) => {
    if (!br.in_service) return;
    live.push(k);
    deg[localIndex.get(br.from_bus)! + 1]++;
    deg[localIndex.get(br.to_bus)! + 1]++;
  });
  for (let i = 0; i < nBus; i++) deg[i + 1] += deg[i];
  const adj = new Int32Array(deg[nBus]);
  const fill = deg.slice(0, nBus);
  for (const k of live) {
    const a = localIndex.get(network.branches[k].from_bus)!;
    const b = localIndex.get(network.branches[k].to_bus)!;
    adj[fill[a]++] = k;
    adj[fill[b]++] = k;
  }

  const slackLocal = network.buses.findIndex((b) => b.type === 'slack');
  const order = new Int32Array(nBus);
  const newIndex = new Int32Array(nBus).fill(-1);
  const parentLocal = new Int32Array(nBus).fill(-1);
  const viaBranch = new Int32Array(nBus).fill(-1);
  order[0] = slackLocal;
  newIndex[slackLocal] = 0;
  let head = 0;
  let tail = 1;
  while (head < tail) {
    const u = order[head++];
    for (let e = deg[u]; e < deg[u + 1]; e++) {
      const k = adj[e];
      if (k === viaBranch[u]) continue;
      const br = network.branches[k];
      const a = localIndex.get(br.from_bus)!;
      const v = a === u ? localIndex.get(br.to_bus)! : a;
      if (newIndex[v] !== -1) {
        throw new NetworkError(
          `in-service branches form a loop (closing at branch ${br.id}); open a switch (in_service=0) to make the feeder radial`,
        );
      }
      newIndex[v] = tail;
      order[tail++] = v;
      parentLocal[v] = u;
      viaBranch[v] = k;
    }
  }
  if (tail < nBus) {
    const islanded = network.buses.filter((_, i) => newIndex[i] === -1).map((b) => b.id);
    const shown =
      islanded.slice(0, 10).join(', ') + (islanded.length > 10 ? ` and ${islanded.length - 10} more` : '');
    throw new NetworkError(`buses not connected to the slack bus by in-service branches: ${shown}`);
  }

  const vbase = network.base_voltage_v;
  const zBase = (vbase * vbase) / BASE_POWER_VA;
  const n = nBus;
  const parent = new Int32Array(n);
  const branchOf = new Int32Array(n);
  const reversed = new Uint8Array(n);
  const r = new Float64Array(n);
  const x = new Float64Array(n);
  const rating = new Float64Array(n);
  const vmin = new Float64Array(n);
  const vmax = new Float64Array(n);
  const busIds: string[] = new Array(n);
  const indexOf = new Map<string, number>();
  const childCount = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const local = order[i];
    const bus = network.buses[local];
    busIds[i] = bus.id;
    indexOf.set(bus.id, i);
    vmin[i] = bus.vmin_pu;
    vmax[i] = bus.vmax_pu;
    parent[i] = parentLocal[local] === -1 ? -1 : newIndex[parentLocal[local]];
    branchOf[i] = viaBranch[local];
    if (i > 0) {
      const br = network.branches[branchOf[i]];
      reversed[i] = br.from_bus === bus.id ? 1 : 0;
      r[i] = br.r_ohm / zBase;
      x[i] = br.x_ohm / zBase;
      rating[i] = br.rating_va !== undefined ? br.rating_va / BASE_POWER_VA : 0;
      childCount[parent[i] + 1]++;
    }
  }
  for (let i = 0; i < n; i++) childCount[i + 1] += childCount[i];
  const childStart = childCount;
  const childIdx = new Int32Array(Math.max(0, n - 1));
  const cursor = childStart.slice(0, n);
  for (let i = 1; i < n; i++) childIdx[cursor[parent[i]]++] = i;

  const pDemand = new Float64Array(n);
  const qDemand = new Float64Array(n);
  for (const l of network.loads) {
    const i = indexOf.get(l.bus)!;
    pDemand[i] += l.p_w / BASE_POWER_VA;
    qDemand[i] += l.q_var / BASE_POWER_VA;
  }
  for (const d of network.ders) {
    const i = indexOf.get(d.bus)!;
    pDemand[i] -= d.p_w / BASE_POWER_VA;
    qDemand[i] -= d.q_var / BASE_POWER_VA;
  }

  const radial: Radial = {
    n,
    busIds,
    indexOf,
    parent,
    branchOf,
    reversed,
    r,
    x,
    rating,
    vmin,
    vmax,
    childStart,
    childIdx,
    pDemand,
    qDemand,
    zBaseOhm: zBase,
  };
  cache.set(network, radial);
  return radial;
}
