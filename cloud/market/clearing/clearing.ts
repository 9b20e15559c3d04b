import type { Basis, Highs, Model } from 'highs';
import { aggregateByBus } from './aggregate.ts';
import { type CompiledFeeder, LP_BASE_VA } from './feeder.ts';
import {
  applyEdits,
  getHighs,
  type LpArrays,
  LpBuilder,
  type LpEdits,
  type LpSolution,
  modelFromArrays,
  runModel,
} from './lp.ts';
import {
  ANCILLARY_PRODUCTS,
  type AncillaryProduct,
  type BidPriceLimits,
  type BranchLossLinearization,
  type BusPrice,
  type ClearingInput,
  type ClearingResource,
  type ClearingResult,
} from './types.ts';

/**
 * Local distribution area (LDA) clearing: one LP over all periods of a market run.
 *
 * - Offers/bids are stepwise curves per resource and period; each step is a bounded variable.
 * - The network enters as lossless LinDistFlow on the radial feeder (branch active-power flows with
 *   thermal limits, squared-voltage drops with voltage bands; reactive flows from the forecast
 *   loads at a fixed power factor). Without a feeder the area clears as a copper plate.
 * - The T-D interface is a free import variable priced at the (forecast or known) ISO LMP.
 * - Storage couples the periods through state-of-charge rows and an end-of-horizon SoC floor.
 * - A DSO grid-service call (`serviceOf`) is the offering resource's own power: it enters that
 *   resource's SoC rows and, in the called periods, a capability row with its energy steps.
 * - ISO ancillary awards (re-optimization) become requirement rows shared by the resources'
 *   ancillary offers, limited by each resource's headroom around its energy schedule.
 *
 * Prices: DLMP(bus, t) = dual of the bus's balance row / period length, decomposed exactly along
 * the path from the substation: energy (interface price) + loss (marginal loss factors, when
 * `losses` linearizes them from an AC power flow; zero otherwise) + congestion (thermal duals and
 * interface limit) + voltage (voltage-band duals).
 */

const VOLL = 10_000; // $/MWh for unserved load
const SPILL = 1_000; // $/MWh for dumping surplus (the price floor)
const ANC_SHORTFALL = 1_000;
const MW = 1 / LP_BASE_VA;

interface Built {
  readonly lp: LpBuilder;
  readonly ifaceCol: number[];
  readonly balRow: number[][]; // [t][bus]
  readonly flowCol: number[][]; // [t][bus] (root -1)
  readonly voltRow: number[][];
  readonly shedCol: number[][];
  readonly spillCol: number[][];
  readonly resCols: {
    sell: number[][];
    buy: number[][];
    soc?: number[];
    anc: Partial<Record<AncillaryProduct, number[][]>>;
  }[];
  readonly ancRow: Partial<Record<AncillaryProduct, number[]>>;
  readonly busIds: readonly string[];
  /** Interface, flow, voltage and SoC columns: a nonsingular basis for the equality rows. */
  readonly basic: number[];
  /** Non-participating load per period and bus (MW), without loss constants. */
  readonly loadMw: Float64Array[];
}

function build(inp: ClearingInput): Built {
  const lp = new LpBuilder();
  const f = inp.feeder;
  const busIds = f ? f.buses : ['copper-plate'];
  const busIndex = f ? f.index : new Map([['copper-plate', 0]]);
  const nb = busIds.length;
  const busOf = (bus: string): number => {
    if (!f) return 0;
    const i = busIndex.get(bus);
    if (i === undefined) throw new RangeError(`resource or load at unknown bus "${bus}"`);
    return i;
  };
  const { loadAt, qAt } = fixedLoadsMw(inp, nb, busOf);
  const net = addNetworkRows(lp, inp, nb, loadAt, qAt);
  const ancRow = addAncillaryRequirements(lp, inp);
  const resCols = addResources(lp, inp, { busOf, balRow: net.balRow, ancRow, basic: net.basic });
  return { lp, ...net, resCols, ancRow, busIds, loadMw: loadAt };
}

/** The non-participating load per period and bus (MW) and its reactive part (Mvar). */
function fixedLoadsMw(inp: ClearingInput, nb: number, busOf: (bus: string) => number) {
  const T = inp.periods;
  const loadAt: Float64Array[] = Array.from({ length: T }, () => new Float64Array(nb));
  const qAt: Float64Array[] = Array.from({ length: T }, () => new Float64Array(nb));
  const tanPhi = Math.tan(Math.acos(0.95));
  for (const [bus, series] of inp.fixedLoadW) {
    const i = busOf(bus);
    for (let t = 0; t < T; t++) {
      loadAt[t][i] += (series[t] ?? 0) * MW;
      if (!inp.fixedLoadVar) qAt[t][i] += Math.max(0, series[t] ?? 0) * MW * tanPhi;
    }
  }
  if (inp.fixedLoadVar) {
    for (const [bus, series] of inp.fixedLoadVar) {
      const i = busOf(bus);
      for (let t = 0; t < T; t++) qAt[t][i] += (series[t] ?? 0) * MW;
    }
  }
  return { loadAt, qAt };
}

/**
 * The network per period: a balance row per bus, the interface import, LinDistFlow branch flows
 * with their voltage-drop rows and squared-voltage columns, and unserved-load / spill slacks.
 */
function addNetworkRows(
  lp: LpBuilder,
  inp: ClearingInput,
  nb: number,
  loadAt: readonly Float64Array[],
  qAt: readonly Float64Array[],
) {
  const T = inp.periods;
  const dur = inp.durationH;
  const f = inp.feeder;
  const limit = inp.interfaceLimitW !== undefined ? inp.interfaceLimitW * MW : Infinity;
  const balRow: number[][] = [];
  const voltRow: number[][] = [];
  const flowCol: number[][] = [];
  const shedCol: number[][] = [];
  const spillCol: number[][] = [];
  const ifaceCol: number[] = [];
  const basic: number[] = [];
  const children: number[][] = Array.from({ length: nb }, () => []);
  if (f) for (let i = 1; i < nb; i++) children[f.parent[i]].push(i);
  const lossAt = inp.losses && f ? lossConstants(f, inp.losses, T) : null;
  for (let t = 0; t < T; t++) {
    const dem = lossAt ? loadAt[t].map((d, i) => d + lossAt[t][i]) : loadAt[t];
    balRow.push(Array.from({ length: nb }, (_, i) => lp.addRow(dem[i], dem[i])));
    // Reactive flow on each bus's feeding branch = reactive load downstream (fixed).
    const qFlow = new Float64Array(nb);
    if (f)
      for (let i = nb - 1; i > 0; i--) {
        qFlow[i] += qAt[t][i];
        qFlow[f.parent[i]] += qFlow[i];
      }
    const vr: number[] = [-1];
    if (f)
      for (let i = 1; i < nb; i++) {
        const rhs = -2 * f.xPu[i] * qFlow[i];
        vr.push(lp.addRow(rhs, rhs));
      }
    voltRow.push(vr);
    ifaceCol.push(lp.addCol(inp.interfacePrice[t] * dur, -limit, limit, [balRow[t][0]], [1]));
    const fc: number[] = [-1];
    if (f) {
      for (let i = 1; i < nb; i++) {
        const rating = f.ratingMva[i];
        fc.push(
          lp.addCol(
            0,
            -rating,
            rating,
            [balRow[t][i], balRow[t][f.parent[i]], vr[i]],
            [1, -1 - (inp.losses?.factor[t][i] ?? 0), 2 * f.rPu[i]],
          ),
        );
      }
      addVoltageCols(lp, f, children, vr, basic);
    }
    flowCol.push(fc);
    basic.push(ifaceCol[t], ...fc.slice(1));
    shedCol.push(
      Array.from({ length: nb }, (_, i) => lp.addCol(VOLL * dur, 0, Infinity, [balRow[t][i]], [1])),
    );
    spillCol.push(
      Array.from({ length: nb }, (_, i) => lp.addCol(SPILL * dur, 0, Infinity, [balRow[t][i]], [-1])),
    );
  }
  return { ifaceCol, balRow, flowCol, voltRow, shedCol, spillCol, basic };
}

/**
 * Squared voltages of one period (root fixed at the slack set point): +1 in the bus's own drop row,
 * -1 in each child's, i.e. v_child = v_bus - 2 (r F + x Q). Non-root columns join the basis.
 */
function addVoltageCols(
  lp: LpBuilder,
  f: CompiledFeeder,
  children: readonly number[][],
  vr: readonly number[],
  basic: number[],
) {
  for (let i = 0; i < f.buses.length; i++) {
    const rows: number[] = [];
    const vals: number[] = [];
    if (i > 0) {
      rows.push(vr[i]);
      vals.push(1);
    }
    for (const c of children[i]) {
      rows.push(vr[c]);
      vals.push(-1);
    }
    const lo = i === 0 ? f.v0Sq : f.vminSq[i];
    const hi = i === 0 ? f.v0Sq : f.vmaxSq[i];
    const v = lp.addCol(0, lo, hi, rows, vals);
    if (i > 0) basic.push(v);
  }
}

/** The ISO ancillary requirement rows per product and period, each with a priced shortfall column. */
function addAncillaryRequirements(lp: LpBuilder, inp: ClearingInput) {
  const ancRow: Partial<Record<AncillaryProduct, number[]>> = {};
  for (const p of ANCILLARY_PRODUCTS) {
    const req = inp.ancillaryRequirementW?.[p];
    if (!req) continue;
    ancRow[p] = req.map((w) => lp.addRow(w * MW, Infinity));
    for (let t = 0; t < inp.periods; t++)
      lp.addCol(ANC_SHORTFALL * inp.durationH, 0, Infinity, [ancRow[p]![t]], [1]);
  }
  return ancRow;
}

/** What the resources' columns attach to: the bus balance rows, the ancillary rows, the basis. */
type ResourceRows = {
  readonly busOf: (bus: string) => number;
  readonly balRow: readonly number[][];
  readonly ancRow: Partial<Record<AncillaryProduct, number[]>>;
  readonly basic: number[];
};

/** A resource whose grid-service calls link to it: its SoC rows, efficiency and capability rows. */
type CallLink = { soc: number[]; eta: number; pow: number[] };

/**
 * Every resource's columns. The grid-service calls (`serviceOf`) are built after every other
 * resource so they find the rows they share with the resource they are called from.
 */
function addResources(lp: LpBuilder, inp: ClearingInput, rows: ResourceRows): Built['resCols'] {
  const called = calledPeriods(inp);
  const shared = new Map<string, CallLink>();
  const order = inp.resources.map((_, k) => k);
  order.sort((a, c) => Number(!!inp.resources[a].serviceOf) - Number(!!inp.resources[c].serviceOf));
  const resCols: Built['resCols'] = new Array(inp.resources.length);
  for (const k of order) resCols[k] = addResource(lp, inp, rows, inp.resources[k], called, shared);
  return resCols;
}

/** Periods in which grid-service calls are linked to each resource (`serviceOf`). */
function calledPeriods(inp: ClearingInput) {
  const called = new Map<string, Set<number>>();
  for (const r of inp.resources) {
    if (r.serviceOf === undefined) continue;
    const ts = called.get(r.serviceOf) ?? new Set<number>();
    for (let t = 0; t < inp.periods; t++) if (r.sell[t]?.length || r.buy[t]?.length) ts.add(t);
    called.set(r.serviceOf, ts);
  }
  return called;
}

/**
 * One resource: its storage rows, the capability rows of its called periods, headroom rows when it
 * offers ancillary services, a column per energy step and a column per ancillary step.
 */
function addResource(
  lp: LpBuilder,
  inp: ClearingInput,
  rows: ResourceRows,
  r: ClearingResource,
  called: ReadonlyMap<string, ReadonlySet<number>>,
  shared: Map<string, CallLink>,
): Built['resCols'][number] {
  const T = inp.periods;
  const st = r.storage;
  const { socRows, socCols } = st ? addStorageRows(lp, st, T) : { socRows: [], socCols: [] };
  // Capability rows in the periods with a linked call: -withdraw <= own net + calls <= inject.
  const pow: number[] = [];
  const cap = r.capability;
  if (cap)
    for (const t of called.get(r.id) ?? []) pow[t] = lp.addRow(-cap.maxWithdrawW * MW, cap.maxInjectW * MW);
  const link = r.serviceOf === undefined ? undefined : shared.get(r.serviceOf);
  const soc = st ? socRows : link?.soc;
  const eta = st?.efficiency ?? link?.eta ?? 1;
  const powRow = link ? link.pow : pow;
  if (called.has(r.id)) shared.set(r.id, { soc: socRows, eta, pow });
  const needHead = ANCILLARY_PRODUCTS.some((p) => r.ancillary?.[p] && rows.ancRow[p]);
  const head = needHead ? addHeadroomRows(lp, r, T) : null;
  const { sell, buy } = addEnergySteps(lp, inp, r, {
    bal: rows.balRow,
    i: rows.busOf(r.bus),
    soc,
    eta,
    powRow,
    head,
  });
  const anc = head ? addAncillarySteps(lp, inp, r, rows.ancRow, head) : {};
  rows.basic.push(...socCols);
  return { sell, buy, ...(st ? { soc: socCols } : {}), anc };
}

/**
 * Storage couples the periods: a SoC row per period (the first fixed at the initial charge) and a
 * SoC column carrying the charge into the next period, floored at the end of the horizon.
 */
function addStorageRows(lp: LpBuilder, st: NonNullable<ClearingResource['storage']>, T: number) {
  const socRows: number[] = [];
  const socCols: number[] = [];
  const e = st.energyWh * MW;
  const s0 = Math.min(st.soc0Wh, st.energyWh) * MW;
  const sEnd = Math.min(st.endSocMinWh ?? st.soc0Wh, st.energyWh) * MW;
  for (let t = 0; t < T; t++) socRows.push(lp.addRow(t === 0 ? s0 : 0, t === 0 ? s0 : 0));
  for (let t = 0; t < T; t++) {
    const rows = [socRows[t]];
    const vals = [1];
    if (t + 1 < T) {
      rows.push(socRows[t + 1]);
      vals.push(-1);
    }
    // End of horizon: keep at least the initial charge so the day does not sell tomorrow's energy.
    socCols.push(lp.addCol(0, t === T - 1 ? sEnd : 0, e, rows, vals));
  }
  return { socRows, socCols };
}

/** Headroom rows per period: ancillary up/down calls fit within the offered sell/buy quantity. */
function addHeadroomRows(lp: LpBuilder, r: ClearingResource, T: number) {
  const up: number[] = [];
  const down: number[] = [];
  for (let t = 0; t < T; t++) {
    const sellQ = (r.sell[t] ?? []).reduce((s, x) => s + x.quantity_w, 0) * MW;
    const buyQ = (r.buy[t] ?? []).reduce((s, x) => s + x.quantity_w, 0) * MW;
    up.push(lp.addRow(-Infinity, sellQ));
    down.push(lp.addRow(-Infinity, buyQ));
  }
  return { up, down };
}

/**
 * A column per sell and buy step and period: in the bus balance, the SoC row (at the efficiency),
 * the capability row of a called period and the headroom rows.
 */
function addEnergySteps(
  lp: LpBuilder,
  inp: ClearingInput,
  r: ClearingResource,
  q: {
    bal: readonly number[][];
    i: number;
    soc: readonly number[] | undefined;
    eta: number;
    powRow: readonly number[];
    head: { up: number[]; down: number[] } | null;
  },
) {
  const dur = inp.durationH;
  const { bal, i, soc, eta, powRow, head } = q;
  const sell: number[][] = [];
  const buy: number[][] = [];
  for (let t = 0; t < inp.periods; t++) {
    const s: number[] = [];
    for (const step of r.sell[t] ?? []) {
      const rows = [bal[t][i]];
      const vals = [1];
      if (soc?.length) {
        rows.push(soc[t]);
        vals.push(dur / eta);
      }
      if (powRow[t] !== undefined) {
        rows.push(powRow[t]);
        vals.push(1);
      }
      if (head) {
        rows.push(head.up[t], head.down[t]);
        vals.push(1, -1);
      }
      s.push(lp.addCol(step.price_per_mwh * dur, 0, step.quantity_w * MW, rows, vals));
    }
    const b: number[] = [];
    for (const step of r.buy[t] ?? []) {
      const rows = [bal[t][i]];
      const vals = [-1];
      if (soc?.length) {
        rows.push(soc[t]);
        vals.push(-dur * eta);
      }
      if (powRow[t] !== undefined) {
        rows.push(powRow[t]);
        vals.push(-1);
      }
      if (head) {
        rows.push(head.up[t], head.down[t]);
        vals.push(-1, 1);
      }
      b.push(lp.addCol(-step.price_per_mwh * dur, 0, step.quantity_w * MW, rows, vals));
    }
    sell.push(s);
    buy.push(b);
  }
  return { sell, buy };
}

/** A column per ancillary step: in the product's requirement row and the resource's headroom row. */
function addAncillarySteps(
  lp: LpBuilder,
  inp: ClearingInput,
  r: ClearingResource,
  ancRow: Partial<Record<AncillaryProduct, number[]>>,
  head: { up: number[]; down: number[] },
) {
  const anc: Partial<Record<AncillaryProduct, number[][]>> = {};
  for (const p of ANCILLARY_PRODUCTS) {
    const curves = r.ancillary?.[p];
    if (!curves || !ancRow[p]) continue;
    anc[p] = [];
    for (let t = 0; t < inp.periods; t++) {
      const h = p === 'reg_down' ? head.down[t] : head.up[t];
      anc[p]!.push(
        (curves[t] ?? []).map((step) =>
          lp.addCol(step.price_per_mwh * inp.durationH, 0, step.quantity_w * MW, [ancRow[p]![t], h], [1, 1]),
        ),
      );
    }
  }
  return anc;
}

function extract(inp: ClearingInput, b: Built, sol: LpSolution): ClearingResult {
  const T = inp.periods;
  const dur = inp.durationH;
  const f = inp.feeder;
  const x = sol.x;
  const prices: Map<string, BusPrice>[] = [];
  for (let t = 0; t < T; t++) {
    const m = new Map<string, BusPrice>();
    const lam = inp.interfacePrice[t];
    const root = sol.rowDual[b.balRow[t][0]] / dur;
    const n = b.busIds.length;
    const cong = new Float64Array(n);
    const volt = new Float64Array(n);
    // Energy + loss along the path: each branch scales its parent's price by (1 + loss factor).
    const el = new Float64Array(n).fill(lam);
    cong[0] = root - lam;
    for (let i = 1; i < n; i++) {
      const p = f!.parent[i];
      const g = 1 + (inp.losses?.factor[t][i] ?? 0);
      el[i] = g * el[p];
      cong[i] = g * cong[p] - sol.colDual[b.flowCol[t][i]] / dur;
      volt[i] = g * volt[p] - (2 * f!.rPu[i] * sol.rowDual[b.voltRow[t][i]]) / dur;
    }
    for (let i = 0; i < n; i++) {
      m.set(b.busIds[i], {
        dlmp: sol.rowDual[b.balRow[t][i]] / dur,
        energy: lam,
        loss: el[i] - lam,
        congestion: cong[i],
        voltage: volt[i],
      });
    }
    prices.push(m);
  }
  const schedules = new Map<string, { netW: number[]; socWh?: number[] }>();
  const ancillaryAwards = new Map<string, Partial<Record<AncillaryProduct, number[]>>>();
  inp.resources.forEach((r, k) => {
    const c = b.resCols[k];
    const netW: number[] = [];
    for (let t = 0; t < T; t++) {
      let v = 0;
      for (const j of c.sell[t]) v += x[j];
      for (const j of c.buy[t]) v -= x[j];
      netW.push(clean(v * LP_BASE_VA));
    }
    schedules.set(r.id, c.soc ? { netW, socWh: c.soc.map((j) => clean(x[j] * LP_BASE_VA)) } : { netW });
    const aw: Partial<Record<AncillaryProduct, number[]>> = {};
    for (const p of ANCILLARY_PRODUCTS) {
      const cols = c.anc[p];
      if (!cols) continue;
      aw[p] = cols.map((steps) => clean(steps.reduce((s, j) => s + x[j], 0) * LP_BASE_VA));
    }
    if (Object.keys(aw).length) ancillaryAwards.set(r.id, aw);
  });
  const ancillaryPrice: Partial<Record<AncillaryProduct, number[]>> = {};
  for (const p of ANCILLARY_PRODUCTS) {
    const rows = b.ancRow[p];
    if (rows) ancillaryPrice[p] = rows.map((row) => sol.rowDual[row] / dur);
  }
  return {
    objective: sol.objective,
    interfaceImportW: b.ifaceCol.map((j) => clean(x[j] * LP_BASE_VA)),
    prices,
    schedules,
    ancillaryAwards,
    ancillaryPrice,
    shedW: b.shedCol.map((cols) => clean(cols.reduce((s, j) => s + x[j], 0) * LP_BASE_VA)),
    spillW: b.spillCol.map((cols) => clean(cols.reduce((s, j) => s + x[j], 0) * LP_BASE_VA)),
    bigCounts: { cols: b.lp.numCols, rows: b.lp.numRows },
  };
}

/** Loss constants per period, booked as extra demand at each branch's sending (parent) bus. */
function lossConstants(f: CompiledFeeder, l: BranchLossLinearization, T: number): Float64Array[] {
  return Array.from({ length: T }, (_, t) => {
    const d = new Float64Array(f.buses.length);
    for (let i = 1; i < d.length; i++) d[f.parent[i]] += l.constantMw[t][i];
    return d;
  });
}

/** Rounds solver noise away (sub-milliwatt). */
function clean(w: number): number {
  const r = Math.round(w * 1000) / 1000;
  return r === 0 ? 0 : r;
}

export async function clearArea(inp: ClearingInput): Promise<ClearingResult> {
  const area = await openArea(inp);
  try {
    return area.solve(inp.interfacePrice, 'LDA clearing');
  } finally {
    area.dispose();
  }
}

/**
 * One LDA clearing LP loaded into HiGHS once and re-solved at other interface prices (only the
 * interface columns' costs change), optionally warm-started from an earlier basis.
 */
export interface AreaModel {
  solve(interfacePrice: readonly number[], what: string, warmFrom?: Basis): ClearingResult;
  /** The clearing result of a solution of this LP solved elsewhere (the curve worker's copy). */
  fromSolution(interfacePrice: readonly number[], sol: LpSolution, what: string): ClearingResult;
  /** Interface import per period (W) only, without extracting schedules and prices. */
  importW(interfacePrice: readonly number[], what: string, warmFrom?: Basis): number[];
  /** The basis the model holds: the last solve's optimal one, also after `setLosses`. */
  basis(): Basis;
  /**
   * True once the model has been solved: it holds an optimal basis (of this LP, or of the LP before
   * the last `setLosses`).
   */
  readonly solved: boolean;
  /** Simplex iterations of every solve of this model so far. */
  readonly iterations: number;
  /**
   * Replaces the loss linearization in the loaded model (only the flows' coefficients in their
   * parent balance rows and the balance rows' loss constants change; the basis stays loaded, so
   * the next solve starts warm from the last one). Needs a feeder.
   */
  setLosses(losses: BranchLossLinearization | undefined): void;
  /** The input the loaded model currently represents (its losses follow `setLosses`). */
  readonly input: ClearingInput;
  /** The LP as built, for another HiGHS instance to hold the same model (curve-worker.ts). */
  readonly lp: AreaLp;
  /** The edits that give the LP as built the loss linearization currently set. */
  lossEdits(): LpEdits;
  dispose(): void;
}

/** An area's LP as built and where its interface columns are (per period). */
export interface AreaLp {
  readonly arrays: LpArrays;
  readonly ifaceCols: Int32Array;
  readonly durationH: number;
}

/** Interface import (W) from the interface columns' values (per unit), rounded like schedules. */
export function importFromPu(x: ArrayLike<number>): number[] {
  return Array.from(x, (v) => clean(v * LP_BASE_VA));
}

export async function openArea(inp: ClearingInput): Promise<AreaModel> {
  checkInput(inp);
  const highs = await getHighs();
  const agg = inp.fast === false ? null : aggregateByBus(inp.resources, inp.periods, inp.feeder === null);
  let cur = inp;
  let lpInp = agg ? { ...inp, resources: agg.resources } : inp;
  const b = build(lpInp);
  const arrays = b.lp.toArrays();
  const model: Model = modelFromArrays(highs, arrays);
  let fresh = true;
  // HiGHS keeps the basis across coefficient edits for the next solve but will not hand it out
  // until solved again: the last optimal basis, taken before the first edit.
  let edited: Basis | undefined;
  let iterations = 0;
  const run = (price: readonly number[], what: string, warmFrom?: Basis): LpSolution => {
    for (let t = 0; t < inp.periods; t++) model.changeColCost(b.ifaceCol[t], price[t] * inp.durationH);
    if (warmFrom) model.setBasis(warmFrom);
    else if (fresh && inp.fast !== false) model.setBasis(crash(b, lpInp, price));
    fresh = false;
    edited = undefined;
    const sol = runModel(highs, model, what);
    iterations += sol.iterations;
    return sol;
  };
  const result = (price: readonly number[], sol: LpSolution, what: string) => {
    const res = extract({ ...lpInp, interfacePrice: price }, b, sol);
    if (!agg) return res;
    return agg.disaggregate(res) ?? solvePlain(highs, { ...cur, interfacePrice: price }, what);
  };
  return {
    solve: (price, what, warmFrom) => result(price, run(price, what, warmFrom), what),
    fromSolution: result,
    importW(price, what, warmFrom) {
      const sol = run(price, what, warmFrom);
      return importFromPu(b.ifaceCol.map((j) => sol.x[j]));
    },
    basis: () => edited ?? model.getBasis(),
    get solved() {
      return !fresh;
    },
    get iterations() {
      return iterations;
    },
    setLosses(losses) {
      if (!inp.feeder) throw new RangeError('losses need a feeder (a copper plate is lossless)');
      const { losses: _, ...rest } = cur;
      cur = losses ? { ...rest, losses } : rest;
      lpInp = agg ? { ...cur, resources: agg.resources } : cur;
      if (!fresh && !edited) edited = model.getBasis();
      applyEdits(model, lossEdits(inp, b, losses));
    },
    lossEdits: () => lossEdits(inp, b, cur.losses),
    lp: { arrays, ifaceCols: Int32Array.from(b.ifaceCol), durationH: inp.durationH },
    get input() {
      return cur;
    },
    dispose: () => model.dispose(),
  };
}

/**
 * The balance rows' bounds (load plus loss constants) and the flows' coefficients in their parent
 * balance rows (-1 - loss factor) for `losses` (none: lossless), as absolute values.
 */
function lossEdits(inp: ClearingInput, b: Built, losses: BranchLossLinearization | undefined): LpEdits {
  const f = inp.feeder;
  if (!f) return NO_EDITS;
  const lossAt = losses ? lossConstants(f, losses, inp.periods) : null;
  const nb = b.busIds.length;
  const rows = new Int32Array(inp.periods * nb);
  const bound = new Float64Array(rows.length);
  const coefRows = new Int32Array(inp.periods * (nb - 1));
  const coefCols = new Int32Array(coefRows.length);
  const coefValues = new Float64Array(coefRows.length);
  let r = 0;
  let c = 0;
  for (let t = 0; t < inp.periods; t++) {
    for (let i = 0; i < nb; i++) {
      rows[r] = b.balRow[t][i];
      bound[r++] = b.loadMw[t][i] + (lossAt?.[t][i] ?? 0);
      if (i === 0) continue;
      coefRows[c] = b.balRow[t][f.parent[i]];
      coefCols[c] = b.flowCol[t][i];
      coefValues[c++] = -1 - (losses?.factor[t][i] ?? 0);
    }
  }
  return { rows, rowLower: bound, rowUpper: bound, coefRows, coefCols, coefValues };
}

const NO_EDITS: LpEdits = {
  rows: new Int32Array(0),
  rowLower: new Float64Array(0),
  rowUpper: new Float64Array(0),
  coefRows: new Int32Array(0),
  coefCols: new Int32Array(0),
  coefValues: new Float64Array(0),
};

/**
 * Every resource answering the interface price on its own, the feeder carrying whatever results:
 * basic interface, flow, voltage and SoC columns, bus duals = interface price. Dual feasible, so
 * the dual simplex starts from the price-taking schedule instead of from scratch.
 */
function crash(b: Built, inp: ClearingInput, price: readonly number[]) {
  const y = new Float64Array(b.lp.numRows);
  const f = inp.feeder;
  b.balRow.forEach((rows, t) => {
    // Basic flows have zero reduced cost: a bus's dual is its parent's times (1 + loss factor).
    const bus = new Float64Array(rows.length).fill(price[t] * inp.durationH);
    if (f)
      for (let i = 1; i < rows.length; i++) bus[i] = (1 + (inp.losses?.factor[t][i] ?? 0)) * bus[f.parent[i]];
    rows.forEach((r, i) => {
      y[r] = bus[i];
    });
  });
  return b.lp.crashBasis(b.basic, y);
}

/** The straightforward path: every resource its own columns, cold solve. */
function solvePlain(highs: Highs, inp: ClearingInput, what: string): ClearingResult {
  const b = build(inp);
  const model = b.lp.toModel(highs);
  try {
    return extract(inp, b, runModel(highs, model, what));
  } finally {
    model.dispose();
  }
}

/**
 * Net interface import as a function of the interface price, per period: the area's consolidated
 * T-D bid curve. Re-solves the same LP with the interface price shifted by each offset (all periods
 * at once, so storage keeps its arbitrage spread), then enforces that import never rises with price
 * (the LP's import is monotone in its own cost up to ties).
 */
export async function interfaceCurve(
  inp: ClearingInput,
  priceOffsets: readonly number[],
  limits?: BidPriceLimits,
): Promise<{ base: ClearingResult; curve: { pricePerMWh: number; importW: number }[][] }> {
  const area = await openArea(inp);
  try {
    const { base, curve } = sampleCurve(area, inp, priceOffsets, limits);
    return { base, curve };
  } finally {
    area.dispose();
  }
}

/**
 * The provisional clearing and the T-D curve. Afterwards the model that walked the upper chain (the
 * area's, or the curve worker's copy) holds the optimal basis of the highest sample.
 */
export interface CurveSamples {
  readonly base: ClearingResult;
  readonly curve: { pricePerMWh: number; importW: number }[][];
  /** Simplex iterations of the base solve and every sample (both threads). */
  readonly iterations: number;
}

/**
 * The interface prices of the curve sample at `offset`, per period. Inside the ISO's bid price
 * `limits` the whole profile shifts as one: the offset is cut where the cheapest (dearest) period
 * meets the floor (cap), rather than each period clamped alone. Clamping periods alone would flatten
 * the far samples (most hours on the floor), so storage there would pick its hours by its own bids
 * instead of by the day's price shape, and the curve, forced non-increasing in price, would carry
 * that reshuffle into every higher point of the hours it leaves. A period already outside the
 * limits at the forecast is clamped alone.
 */
export function samplePrices(inp: ClearingInput, offset: number, limits?: BidPriceLimits): number[] {
  if (!limits) return inp.interfacePrice.map((p) => p + offset);
  const { floorPerMWh: floor, capPerMWh: cap } = limits;
  const d =
    offset < 0
      ? Math.max(offset, Math.min(0, floor - Math.min(...inp.interfacePrice)))
      : Math.min(offset, Math.max(0, cap - Math.max(...inp.interfacePrice)));
  return inp.interfacePrice.map((p) => Math.min(cap, Math.max(floor, p + d)));
}

/**
 * Solves `area` at the interface prices of `inp` (the provisional clearing) and at each shifted
 * price. The samples walk outward from the base price in chains (`curveChains`), each warm-started
 * from its neighbour's basis, so every re-solve moves only a few breakpoints (3x fewer simplex
 * iterations than jumping from -200 to +200 in one sweep). Where the chains start:
 * - a fresh model solves the base first (from the price-taking crash); the first chain goes on
 *   from the basis still loaded (setting a basis costs a refactorization and the dual edge
 *   weights), later ones from a copy of the base's;
 * - a model already solved (`AreaModel.solved`: the refiner's lossless pre-solve, its losses since
 *   set) walks the `main` chains from the basis it holds, and solves the base from a copy of that
 *   basis, then the `worker` chains from the base's. The base is then off the main chains' path
 *   (10k benchmark: 3.6k simplex iterations from the pre-solve's basis to the -5 sample against
 *   2.4k + 1.9k through the base), so the curve worker can take it (curve-parallel.ts).
 */
export function sampleCurve(
  area: AreaModel,
  inp: ClearingInput,
  priceOffsets: readonly number[],
  limits?: BidPriceLimits,
): CurveSamples {
  const it0 = area.iterations;
  const { offsets, main, worker } = curveChains(priceOffsets);
  const raw = new Map<number, number[]>();
  const held = area.solved ? area.basis() : undefined;
  if (held)
    main.forEach((chain, k) => {
      walkChain(area, inp, chain, k === 0 ? undefined : held, raw, limits);
    });
  const base = area.solve(
    inp.interfacePrice,
    'LDA provisional clearing',
    held && main.length ? held : undefined,
  );
  raw.set(0, base.interfaceImportW);
  const after = held ? worker : [...main, ...worker];
  const baseBasis = after.length > 1 ? area.basis() : undefined;
  after.forEach((chain, k) => {
    walkChain(area, inp, chain, k === 0 ? undefined : baseBasis, raw, limits);
  });
  const curve = monotoneCurve(inp, offsets, raw, limits);
  return { base, curve, iterations: area.iterations - it0 };
}

/**
 * All offsets (with 0) ascending, and the chains that sample them, each walking outward from the
 * base price, in two groups for two threads: the lower side on the main thread, the upper side in
 * the worker. The lower side costs more (every step far below the base reschedules many storage
 * units: with 10k resources on 120 buses, -80 to -200 $/MWh takes ~16k dual simplex iterations
 * against ~3k for +5 to +10); splitting it (docs/markets.md) balanced the iterations but not the
 * time, so it stays one chain.
 */
export function curveChains(priceOffsets: readonly number[]): {
  offsets: number[];
  main: number[][];
  worker: number[][];
} {
  const offsets = [...new Set([0, ...priceOffsets])].sort((a, c) => a - c);
  const down = offsets.filter((d) => d < 0).reverse();
  const up = offsets.filter((d) => d > 0);
  const nonEmpty = (chains: number[][]) => chains.filter((c) => c.length > 0);
  return { offsets, main: nonEmpty([down]), worker: nonEmpty([up]) };
}

/**
 * The distinct interface price vectors that `chain` solves, in order, and for each of its offsets
 * the index of its vector: a sample whose prices (limited by `samplePrices`) equal its neighbour's
 * is that sample again, not re-solved.
 */
export function chainPrices(
  inp: ClearingInput,
  chain: readonly number[],
  limits?: BidPriceLimits,
): { prices: number[][]; of: number[] } {
  const prices: number[][] = [];
  const of = chain.map((d) => {
    const price = samplePrices(inp, d, limits);
    const prev = prices[prices.length - 1];
    if (!prev || price.some((p, t) => p !== prev[t])) prices.push(price);
    return prices.length - 1;
  });
  return { prices, of };
}

/**
 * Re-solves `area` at each distinct price vector of `chain` (`chainPrices`) in order, the first warm
 * from `from` (undefined: the basis the model holds), each next from its neighbour's, still loaded.
 */
export function walkChain(
  area: AreaModel,
  inp: ClearingInput,
  chain: readonly number[],
  from: Basis | undefined,
  raw: Map<number, number[]>,
  limits?: BidPriceLimits,
): void {
  const { prices, of } = chainPrices(inp, chain, limits);
  const solved = prices.map((price, k) =>
    area.importW(price, `T-D curve at offset ${chain[of.indexOf(k)]}`, k ? undefined : from),
  );
  chain.forEach((d, k) => {
    raw.set(d, solved[of[k]]);
  });
}

/** The sampled imports as a curve per period, import forced non-increasing in price. */
export function monotoneCurve(
  inp: ClearingInput,
  offsets: readonly number[],
  raw: ReadonlyMap<number, readonly number[]>,
  limits?: BidPriceLimits,
): { pricePerMWh: number; importW: number }[][] {
  const prices = offsets.map((d) => samplePrices(inp, d, limits));
  return Array.from({ length: inp.periods }, (_, t) => {
    const pts: { pricePerMWh: number; importW: number }[] = [];
    let prev = Infinity;
    offsets.forEach((d, k) => {
      const q = Math.min(prev, raw.get(d)![t]);
      prev = q;
      pts.push({ pricePerMWh: prices[k][t], importW: q });
    });
    return pts;
  });
}

function checkInput(inp: ClearingInput): void {
  if (!(inp.periods >= 1) || inp.interfacePrice.length !== inp.periods) {
    throw new RangeError(
      `need one interface price per period (${inp.periods}), got ${inp.interfacePrice.length}`,
    );
  }
  for (const r of inp.resources) {
    if (r.sell.length > inp.periods || r.buy.length > inp.periods) {
      throw new RangeError(`resource ${r.id} has curves for more than ${inp.periods} periods`);
    }
  }
}
