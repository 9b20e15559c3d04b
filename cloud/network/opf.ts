/**
 * Linearized distribution OPF (LinDistFlow with iterated loss linearization) and DLMPs.
 *
 * Per radial feeder and interval, HiGHS solves the LP
 *
 *   min  LMP * P0 + sum(up offers) price * x - sum(down offers) price * x
 *   s.t. P balance per bus: P_j - r_j l_j - sum_children P_c + flex_j = d_j
 *        Q balance per bus: Q_j - x_j l_j - sum_children Q_c          = q_j
 *        voltage drop:      w_j - w_parent + 2 (r_j P_j + x_j Q_j) - |z_j|^2 l_j = 0
 *        thermal cuts:      cos(t) P_end + sin(t) Q_end <= S_rated   (tangents of the circle)
 *        vmin_j^2 <= w_j <= vmax_j^2,  0 <= x <= quantity
 *
 * with P_j, Q_j the sending-end flows into bus j's parent branch, w = |V|^2 and l_j the squared
 * branch current (P_j^2 + Q_j^2) / w_parent, linearized in P, Q and w at the current operating
 * point taken from the exact power flow (these are the exact DistFlow equations to first order);
 * the LP is re-solved at the exact power flow of its own solution until the dispatch stops moving
 * (and tangent cuts are added where the polygon lets a branch exceed its circle). At that fixed
 * point the LP constraints hold exactly at the exact AC solution of the radial feeder.
 *
 * DLMPs are the duals of the P balance rows (d cost / d demand at the bus). They are split with
 * the KKT conditions of the state variables (P0, Q0, P_j, Q_j, w_j), whose equality system is
 * square and tree-structured: DLMP = A^-T (c - G^T mu - colDual_w), so solving A^T y = r for the
 * three right-hand sides separately gives energy+loss (r = LMP on P0), congestion (thermal duals)
 * and voltage (voltage-bound duals); energy is the LMP and loss the rest of the first part.
 */
import type { Highs } from 'highs';
import { getHighs } from '../lp/highs.ts';
import { findViolations, type Violation } from './feasibility.ts';
import { BASE_POWER_VA, type Network } from './model.ts';
import type { Offer } from './offers.ts';
import {
  demandWithOverrides,
  describeSweep,
  type InjectionOverrides,
  PowerFlowError,
  type PowerFlowResult,
  type SweepResult,
  sweep,
} from './powerflow.ts';
import { compileRadial, type Radial } from './topology.ts';

export interface DlmpOptions extends InjectionOverrides {
  /** Energy price at the T-D interface (the ISO's LMP), $/MWh. */
  readonly lmp_per_mwh: number;
  readonly offers?: readonly Offer[];
  readonly slackVoltagePu?: number;
  /** Loss-linearization iterations before giving up on a fixed point. */
  readonly maxIterations?: number;
}

export interface BusPrice {
  readonly bus: string;
  readonly v_pu: number;
  readonly dlmp_per_mwh: number;
  readonly energy_per_mwh: number;
  readonly loss_per_mwh: number;
  readonly congestion_per_mwh: number;
  readonly voltage_per_mwh: number;
  /** Marginal cost of reactive demand at the bus, $/Mvarh (the reactive DLMP). */
  readonly q_price_per_mvarh: number;
}

export interface ClearedOffer extends Offer {
  readonly cleared_w: number;
}

export interface DlmpResult {
  /** The loss linearization reached a fixed point (dispatch stable, no cut added). */
  readonly converged: boolean;
  readonly iterations: number;
  readonly lmp_per_mwh: number;
  /** Objective of the final LP: interface energy cost plus offer costs minus bid values, $/h. */
  readonly cost_per_h: number;
  readonly import_w: number;
  readonly losses_w: number;
  readonly buses: BusPrice[];
  readonly offers: ClearedOffer[];
  readonly binding: {
    readonly voltage: Array<{ bus: string; limit: 'min' | 'max'; shadow_per_mwh: number }>;
    readonly thermal: Array<{ branch: string; from_bus: string; to_bus: string; shadow_per_mwh: number }>;
  };
  /** Exact AC power flow at the OPF dispatch, and how far the LP's own state is from it. */
  readonly powerflow: PowerFlowResult;
  readonly check: {
    readonly max_voltage_error_pu: number;
    readonly import_error_w: number;
    readonly violations: Violation[];
    /** |sum of components - LP dual| over all buses, $/MWh (should be ~0). */
    readonly decomposition_residual_per_mwh: number;
  };
}

export class OpfError extends Error {
  override name = 'OpfError';
  constructor(
    message: string,
    /** Limit violations of the base case (no flexibility), to show what could not be fixed. */
    readonly violations: Violation[] = [],
  ) {
    super(message);
  }
}

interface Cut {
  readonly bus: number;
  /** Constrained end of the branch: 0 = parent end (flow towards the bus), 1 = bus end (flow away). */
  readonly end: 0 | 1;
  readonly angle: number;
}

/**
 * First-order expansion of each parent branch's squared current l = (P^2+Q^2)/w_parent at an
 * exact power-flow point: l ~= lP P + lQ Q + lW w_parent (no constant: l is homogeneous of degree
 * one). With it the LP is the tangent of the exact DistFlow equations, so its duals are the exact
 * marginal costs (losses respond to flows and to voltage). All zero = lossless LinDistFlow.
 */
interface Linearization {
  lP: Float64Array;
  lQ: Float64Array;
  lW: Float64Array;
}

function linearize(radial: Radial, s: SweepResult | undefined): Linearization {
  const { n, parent } = radial;
  const lin: Linearization = { lP: new Float64Array(n), lQ: new Float64Array(n), lW: new Float64Array(n) };
  if (!s) return lin; // Lossless LinDistFlow when no power flow point exists.
  const { vr, vi, ir, ii } = s;
  for (let j = 1; j < n; j++) {
    const p = parent[j];
    const w = vr[p] * vr[p] + vi[p] * vi[p];
    const P = vr[p] * ir[j] + vi[p] * ii[j];
    const Q = vi[p] * ir[j] - vr[p] * ii[j];
    const l = (P * P + Q * Q) / w;
    lin.lP[j] = (2 * P) / w;
    lin.lQ[j] = (2 * Q) / w;
    lin.lW[j] = -l / w;
  }
  return lin;
}

/**
 * Coefficients of bus j's parent-branch rows on (P_j, Q_j, w_parent):
 * P balance   (1 - r lP) P - r lQ Q - r lW w_p      (received active power)
 * Q balance   -x lP P + (1 - x lQ) Q - x lW w_p     (received reactive power)
 * voltage     (2r - z2 lP) P + (2x - z2 lQ) Q - (1 + z2 lW) w_p  (+ w_j)
 */
function branchCoefficients(radial: Radial, lin: Linearization, j: number) {
  const r = radial.r[j];
  const x = radial.x[j];
  const z2 = r * r + x * x;
  return {
    pbP: 1 - r * lin.lP[j],
    pbQ: -r * lin.lQ[j],
    pbW: -r * lin.lW[j],
    qbP: -x * lin.lP[j],
    qbQ: 1 - x * lin.lQ[j],
    qbW: -x * lin.lW[j],
    vdP: 2 * r - z2 * lin.lP[j],
    vdQ: 2 * x - z2 * lin.lQ[j],
    vdW: -(1 + z2 * lin.lW[j]),
  };
}

/** Sending-end (parent end) flow of each branch and receiving-end flow, from a sweep. */
function branchEnds(radial: Radial, s: SweepResult) {
  const { n, parent, r, x } = radial;
  const out = {
    sp: new Float64Array(n),
    sq: new Float64Array(n),
    rp: new Float64Array(n),
    rq: new Float64Array(n),
  };
  for (let j = 1; j < n; j++) {
    const p = parent[j];
    out.sp[j] = s.vr[p] * s.ir[j] + s.vi[p] * s.ii[j];
    out.sq[j] = s.vi[p] * s.ir[j] - s.vr[p] * s.ii[j];
    const i2 = s.ir[j] * s.ir[j] + s.ii[j] * s.ii[j];
    out.rp[j] = out.sp[j] - r[j] * i2;
    out.rq[j] = out.sq[j] - x[j] * i2;
  }
  return out;
}

interface LpLayout {
  readonly nState: number;
  col: {
    P0: number;
    Q0: number;
    P: (j: number) => number;
    Q: (j: number) => number;
    w: (j: number) => number;
    x: (k: number) => number;
  };
  row: {
    PB: (j: number) => number;
    QB: (j: number) => number;
    VD: (j: number) => number;
    cut: (c: number) => number;
  };
}

function layout(n: number): LpLayout {
  const m = n - 1;
  return {
    nState: 2 + 3 * m,
    col: {
      P0: 0,
      Q0: 1,
      P: (j) => 1 + j,
      Q: (j) => 1 + m + j,
      w: (j) => 1 + 2 * m + j,
      x: (k) => 2 + 3 * m + k,
    },
    row: { PB: (j) => j, QB: (j) => n + j, VD: (j) => 2 * n + j - 1, cut: (c) => 3 * n - 1 + c },
  };
}

/** Coefficients of a cut on (P_j, Q_j, w_parent); the branch's rating is its right-hand side. */
function cutRow(cut: Cut, lin: Linearization, radial: Radial): { cp: number; cq: number; cw: number } {
  const c = Math.cos(cut.angle);
  const s = Math.sin(cut.angle);
  if (cut.end === 0) return { cp: c, cq: s, cw: 0 };
  // Flow leaving bus j into the branch is minus the received power (see branchCoefficients).
  const k = branchCoefficients(radial, lin, cut.bus);
  return { cp: -(c * k.pbP + s * k.qbP), cq: -(c * k.pbQ + s * k.qbQ), cw: -(c * k.pbW + s * k.qbW) };
}

interface LpSolution {
  x: Float64Array;
  colValue: Float64Array;
  colDual: Float64Array;
  rowDual: Float64Array;
  objective: number;
}

function solveLp(
  highs: Highs,
  radial: Radial,
  lin: Linearization,
  pD: Float64Array,
  qD: Float64Array,
  w0: number,
  offers: readonly LpOffer[],
  cuts: readonly Cut[],
  lmp: number,
): LpSolution | undefined {
  const { n, parent, vmin, vmax, childStart, childIdx } = radial;
  const L = layout(n);
  const nCols = L.nState + offers.length;
  const nRows = 3 * n - 1 + cuts.length;
  const inf = highs.infinity;

  const colCost = new Float64Array(nCols);
  const colLower = new Float64Array(nCols).fill(-inf);
  const colUpper = new Float64Array(nCols).fill(inf);
  colCost[L.col.P0] = lmp;
  for (let j = 1; j < n; j++) {
    colLower[L.col.w(j)] = vmin[j] * vmin[j];
    colUpper[L.col.w(j)] = vmax[j] * vmax[j];
  }
  offers.forEach((o, k) => {
    colCost[L.col.x(k)] = o.cost;
    colLower[L.col.x(k)] = 0;
    colUpper[L.col.x(k)] = o.qty;
  });

  const rowLower = new Float64Array(nRows);
  const rowUpper = new Float64Array(nRows);
  const starts = new Int32Array(nRows + 1);
  const idx: number[] = [];
  const val: number[] = [];
  const offersAt = new Map<number, number[]>();
  offers.forEach((o, k) => {
    const list = offersAt.get(o.bus) ?? [];
    list.push(k);
    offersAt.set(o.bus, list);
  });
  let row = 0;
  const put = (c: number, v: number) => {
    idx.push(c);
    val.push(v);
  };
  const end = (lo: number, hi: number) => {
    rowLower[row] = lo;
    rowUpper[row] = hi;
    starts[++row] = idx.length;
  };

  const coef = Array.from({ length: n }, (_, j) =>
    j === 0 ? undefined : branchCoefficients(radial, lin, j),
  );
  // A w_parent term is a constant when the parent is the slack bus (w fixed at w0).
  const wTerm = (j: number, c: number): number => {
    if (c === 0) return 0;
    if (parent[j] === 0) return c * w0;
    put(L.col.w(parent[j]), c);
    return 0;
  };
  for (let j = 0; j < n; j++) {
    let rhs = pD[j];
    const k = coef[j];
    if (!k) put(L.col.P0, 1);
    else {
      put(L.col.P(j), k.pbP);
      put(L.col.Q(j), k.pbQ);
      rhs -= wTerm(j, k.pbW);
    }
    for (let e = childStart[j]; e < childStart[j + 1]; e++) put(L.col.P(childIdx[e]), -1);
    for (const o of offersAt.get(j) ?? []) put(L.col.x(o), offers[o].sign);
    end(rhs, rhs);
  }
  for (let j = 0; j < n; j++) {
    let rhs = qD[j];
    const k = coef[j];
    if (!k) put(L.col.Q0, 1);
    else {
      put(L.col.P(j), k.qbP);
      put(L.col.Q(j), k.qbQ);
      rhs -= wTerm(j, k.qbW);
    }
    for (let e = childStart[j]; e < childStart[j + 1]; e++) put(L.col.Q(childIdx[e]), -1);
    end(rhs, rhs);
  }
  for (let j = 1; j < n; j++) {
    const k = coef[j]!;
    put(L.col.w(j), 1);
    put(L.col.P(j), k.vdP);
    put(L.col.Q(j), k.vdQ);
    const rhs = -wTerm(j, k.vdW);
    end(rhs, rhs);
  }
  for (const cut of cuts) {
    const { cp, cq, cw } = cutRow(cut, lin, radial);
    put(L.col.P(cut.bus), cp);
    put(L.col.Q(cut.bus), cq);
    const rhs = radial.rating[cut.bus] - wTerm(cut.bus, cw);
    end(-inf, rhs);
  }

  return highs.withModel(
    {
      numCols: nCols,
      numRows: nRows,
      colCost,
      colLower,
      colUpper,
      rowLower,
      rowUpper,
      matrix: {
        format: 'csr',
        numRows: nRows,
        numCols: nCols,
        starts,
        indices: Int32Array.from(idx),
        values: Float64Array.from(val),
      },
    },
    (model) => {
      // Presolve costs more than it saves on these small, sparse LPs.
      model.options.set({ output_flag: false, presolve: 'off' });
      model.run();
      if (model.getModelStatus() !== highs.constants.modelStatus.optimal) return undefined;
      const sol = model.getSolution();
      return {
        x: sol.colValue.slice(L.nState),
        colValue: sol.colValue,
        colDual: sol.colDual,
        rowDual: sol.rowDual,
        objective: model.getObjectiveValue(),
      };
    },
  );
}

/**
 * Solves A_E^T y = rhs for the state columns (see the header), returning the P- and Q-balance
 * parts of y. The system follows the tree: the w_i column ties bus i's voltage-drop dual to its
 * children's duals, and the P_j, Q_j columns tie bus j's balance duals to its parent's. Eliminating
 * from the leaves expresses each bus's duals as an affine map of its parent's (2x2 per bus), then
 * one pass from the slack bus resolves them. O(n).
 */
function transposedSolve(
  radial: Radial,
  lin: Linearization,
  rP0: number,
  rQ0: number,
  rP: Float64Array,
  rQ: Float64Array,
  rw: Float64Array,
): { yP: Float64Array; yQ: Float64Array } {
  const { n, parent } = radial;
  // Per bus j: (yP_j, yQ_j) = M_j (yP_parent, yQ_parent) + m_j, and yVD_j = g_j . (yP_j, yQ_j) + h_j.
  const M = new Float64Array(4 * n);
  const m = new Float64Array(2 * n);
  const g = new Float64Array(2 * n);
  const h = rw.slice();
  for (let j = n - 1; j >= 1; j--) {
    const k = branchCoefficients(radial, lin, j);
    // Rows of the P_j and Q_j columns: a11 yP + a12 yQ + vdP yVD = rP + yP_parent, etc.
    const a11 = k.pbP + k.vdP * g[2 * j];
    const a12 = k.qbP + k.vdP * g[2 * j + 1];
    const a21 = k.pbQ + k.vdQ * g[2 * j];
    const a22 = k.qbQ + k.vdQ * g[2 * j + 1];
    const det = a11 * a22 - a12 * a21;
    const i11 = a22 / det;
    const i12 = -a12 / det;
    const i21 = -a21 / det;
    const i22 = a11 / det;
    M.set([i11, i12, i21, i22], 4 * j);
    const b1 = rP[j] - k.vdP * h[j];
    const b2 = rQ[j] - k.vdQ * h[j];
    m[2 * j] = i11 * b1 + i12 * b2;
    m[2 * j + 1] = i21 * b1 + i22 * b2;
    // The w_parent column: yVD_p = rw_p + sum over children j of e_j . u_j, with
    // e_j . u_j = -vdW yVD_j - pbW yP_j - qbW yQ_j. Fold into the parent's g and h.
    const p = parent[j];
    if (p === 0) continue;
    const e1 = -k.vdW * g[2 * j] - k.pbW;
    const e2 = -k.vdW * g[2 * j + 1] - k.qbW;
    g[2 * p] += e1 * i11 + e2 * i21;
    g[2 * p + 1] += e1 * i12 + e2 * i22;
    h[p] += e1 * m[2 * j] + e2 * m[2 * j + 1] - k.vdW * h[j];
  }
  const yP = new Float64Array(n);
  const yQ = new Float64Array(n);
  yP[0] = rP0;
  yQ[0] = rQ0;
  for (let j = 1; j < n; j++) {
    const p = parent[j];
    yP[j] = M[4 * j] * yP[p] + M[4 * j + 1] * yQ[p] + m[2 * j];
    yQ[j] = M[4 * j + 2] * yP[p] + M[4 * j + 3] * yQ[p] + m[2 * j + 1];
  }
  return { yP, yQ };
}

const DISPATCH_TOL_PU = 1e-7; // 0.1 W
const LOADING_TOL = 1e-6; // relative, for adding cuts (below the feasibility tolerance)
const CUT_ANGLE_TOL = 1e-3; // rad

/** DLMPs and the optimal flexibility dispatch of one interval. */
export async function solveDlmp(network: Network, options: DlmpOptions): Promise<DlmpResult> {
  const highs = await getHighs();
  return solveDlmpWith(highs, network, options);
}

/** An offer as the LP sees it: bus index, direction sign, quantity (pu) and signed cost. */
interface LpOffer {
  bus: number;
  sign: 1 | -1;
  qty: number;
  cost: number;
}

function lpOffers(radial: Radial, options: DlmpOptions): LpOffer[] {
  return (options.offers ?? []).map((o) => {
    const bus = radial.indexOf.get(o.bus);
    if (bus === undefined) throw new RangeError(`offer ${o.id}: unknown bus "${o.bus}"`);
    const up = o.direction === 'up';
    return {
      bus,
      sign: (up ? 1 : -1) as 1 | -1,
      qty: o.quantity_w / BASE_POWER_VA,
      cost: up ? o.price_per_mwh : -o.price_per_mwh,
    };
  });
}

/**
 * The starting thermal cuts: the tangents at each rated branch's flow in the base case, or an
 * octagon around every rated branch when the base case has no AC solution.
 */
function initialCuts(radial: Radial, point: SweepResult | undefined): Cut[] {
  const { n } = radial;
  const cuts: Cut[] = [];
  if (point) {
    const ends = branchEnds(radial, point);
    for (let j = 1; j < n; j++) {
      if (radial.rating[j] <= 0) continue;
      cuts.push({ bus: j, end: 0, angle: Math.atan2(ends.sq[j], ends.sp[j]) });
      cuts.push({ bus: j, end: 1, angle: Math.atan2(-ends.rq[j], -ends.rp[j]) });
    }
  } else {
    for (let j = 1; j < n; j++) {
      if (radial.rating[j] <= 0) continue;
      for (let a = 0; a < 8; a++) cuts.push({ bus: j, end: 0, angle: (a * Math.PI) / 4 });
    }
  }
  return cuts;
}

/** Adds a tangent cut at each branch end the exact flow loads beyond its rating; true if any was new. */
function addViolatedCuts(radial: Radial, point: SweepResult, cuts: Cut[]): boolean {
  const { n } = radial;
  const hasCut = (c: Cut) =>
    cuts.some(
      (k) => k.bus === c.bus && k.end === c.end && Math.abs(angleDiff(k.angle, c.angle)) < CUT_ANGLE_TOL,
    );
  let added = false;
  const ends = branchEnds(radial, point);
  for (let j = 1; j < n; j++) {
    const rating = radial.rating[j];
    if (rating <= 0) continue;
    const candidates: Cut[] = [];
    if (Math.hypot(ends.sp[j], ends.sq[j]) > rating * (1 + LOADING_TOL)) {
      candidates.push({ bus: j, end: 0, angle: Math.atan2(ends.sq[j], ends.sp[j]) });
    }
    if (Math.hypot(ends.rp[j], ends.rq[j]) > rating * (1 + LOADING_TOL)) {
      candidates.push({ bus: j, end: 1, angle: Math.atan2(-ends.rq[j], -ends.rp[j]) });
    }
    for (const c of candidates) {
      if (!hasCut(c)) {
        cuts.push(c);
        added = true;
      }
    }
  }
  return added;
}

/** The final LP of the iteration, with what its duals are to be read against. */
interface OpfFixedPoint {
  sol: LpSolution;
  /** Exact power flow at the LP's dispatch. */
  point: SweepResult;
  /** The linearization and the number of cuts the final LP was built with. */
  solLin: Linearization;
  solCuts: number;
  cuts: Cut[];
  converged: boolean;
  iterations: number;
}

/** The problem of one interval, as solveDlmpWith prepared it. */
interface OpfProblem {
  network: Network;
  radial: Radial;
  pD: Float64Array;
  qD: Float64Array;
  v0: number;
  lmp: number;
  offers: LpOffer[];
}

/** Re-solves the LP at the exact power flow of its own solution until the dispatch stops moving. */
function iterateToFixedPoint(highs: Highs, prob: OpfProblem, maxIt: number): OpfFixedPoint {
  const { network, radial, pD, qD, v0, lmp, offers } = prob;
  const w0 = v0 * v0;
  const exact = (xv: Float64Array | undefined): SweepResult => {
    if (!xv) return sweep(radial, pD, qD, v0);
    const p = pD.slice();
    offers.forEach((o, k) => {
      p[o.bus] -= o.sign * xv[k];
    });
    return sweep(radial, p, qD, v0);
  };

  let point: SweepResult | undefined;
  try {
    point = exact(undefined);
  } catch (err) {
    if (!(err instanceof PowerFlowError)) throw err;
    point = undefined; // Base case has no AC solution; start from lossless LinDistFlow.
  }

  const cuts = initialCuts(radial, point);
  let lin = linearize(radial, point);
  let sol: LpSolution | undefined;
  let prevX: Float64Array | undefined;
  let iterations = 0;
  let converged = false;
  let solLin = lin;
  let solCuts = cuts.length;
  for (; iterations < maxIt && !converged; ) {
    iterations++;
    sol = solveLp(highs, radial, lin, pD, qD, w0, offers, cuts, lmp);
    if (!sol) {
      const base = point ? findViolations(network, describeSweep(network, radial, point, pD, qD)) : [];
      throw new OpfError(
        'OPF infeasible: the offered flexibility cannot keep every bus within its voltage limits and every rated branch within its rating',
        base,
      );
    }
    solLin = lin;
    solCuts = cuts.length;
    point = exact(sol.x);
    const stable = prevX !== undefined && maxAbsDiff(prevX, sol.x) < DISPATCH_TOL_PU;
    const added = addViolatedCuts(radial, point, cuts);
    // Done when the dispatch stopped moving, or when the LP's own state already agrees with the
    // exact power flow at its dispatch (the linearization is exact there to solver precision).
    converged = !added && (stable || offers.length === 0 || lpAgreesWithExact(radial, sol, point, v0));
    prevX = sol.x;
    lin = linearize(radial, point);
  }
  if (!sol || !point) throw new OpfError('OPF did not run');
  return { sol, point, solLin, solCuts, cuts, converged, iterations };
}

/** DLMP components per bus (energy+loss, congestion, voltage) from the final LP's duals. */
function priceComponents(radial: Radial, fp: OpfFixedPoint, lmp: number) {
  const { n } = radial;
  const { sol, solLin, solCuts, cuts } = fp;
  // Components from the final LP's duals (its own linearization and cut set).
  const L = layout(n);
  const zeros = () => new Float64Array(n);
  const el = transposedSolve(radial, solLin, lmp, 0, zeros(), zeros(), zeros());
  const cP = zeros();
  const cQ = zeros();
  const cW = zeros();
  const thermalShadow = new Map<number, number>();
  for (let c = 0; c < solCuts; c++) {
    const mu = sol.rowDual[L.row.cut(c)];
    if (mu === 0) continue;
    const { cp, cq, cw } = cutRow(cuts[c], solLin, radial);
    cP[cuts[c].bus] -= cp * mu;
    cQ[cuts[c].bus] -= cq * mu;
    const p = radial.parent[cuts[c].bus];
    if (p !== 0) cW[p] -= cw * mu;
    thermalShadow.set(cuts[c].bus, (thermalShadow.get(cuts[c].bus) ?? 0) + mu);
  }
  const cong = transposedSolve(radial, solLin, 0, 0, cP, cQ, cW);
  const rw = zeros();
  for (let j = 1; j < n; j++) rw[j] = -sol.colDual[L.col.w(j)];
  const volt = transposedSolve(radial, solLin, 0, 0, zeros(), zeros(), rw);
  return { el, cong, volt, thermalShadow };
}

/** The voltage bounds and thermal cuts with a non-zero shadow price in the final LP. */
function bindingConstraints(
  network: Network,
  radial: Radial,
  sol: LpSolution,
  thermalShadow: ReadonlyMap<number, number>,
): DlmpResult['binding'] {
  const L = layout(radial.n);
  const voltageBinding: DlmpResult['binding']['voltage'] = [];
  for (let j = 1; j < radial.n; j++) {
    const d = sol.colDual[L.col.w(j)];
    if (Math.abs(d) > 1e-9) {
      // Shadow price per unit of squared voltage, reported per pu of voltage magnitude.
      const v = Math.sqrt(sol.colValue[L.col.w(j)]);
      voltageBinding.push({ bus: radial.busIds[j], limit: d > 0 ? 'min' : 'max', shadow_per_mwh: 2 * v * d });
    }
  }
  const thermalBinding: DlmpResult['binding']['thermal'] = [];
  for (const [j, mu] of thermalShadow) {
    if (Math.abs(mu) <= 1e-9) continue;
    const br = network.branches[radial.branchOf[j]];
    thermalBinding.push({ branch: br.id, from_bus: br.from_bus, to_bus: br.to_bus, shadow_per_mwh: -mu });
  }
  return { voltage: voltageBinding, thermal: thermalBinding };
}

function solveDlmpWith(highs: Highs, network: Network, options: DlmpOptions): DlmpResult {
  const radial = compileRadial(network);
  const { n } = radial;
  const v0 = options.slackVoltagePu ?? network.slack_voltage_pu;
  const lmp = options.lmp_per_mwh;
  if (!Number.isFinite(lmp)) throw new RangeError(`interface price must be a finite number, got ${lmp}`);
  const [pD, qD] = demandWithOverrides(network, radial, options);
  const offers = lpOffers(radial, options);
  const maxIt = options.maxIterations ?? 20;

  const fp = iterateToFixedPoint(highs, { network, radial, pD, qD, v0, lmp, offers }, maxIt);
  const { sol, point, converged, iterations } = fp;
  const L = layout(n);
  const { el, cong, volt, thermalShadow } = priceComponents(radial, fp, lmp);

  const pf = describeSweep(network, radial, point, applyDispatch(pD, offers, sol.x), qD);
  const vByBus = new Map(pf.buses.map((b) => [b.bus, b.v_pu]));
  let residual = 0;
  let vErr = 0;
  const prices: BusPrice[] = new Array(n);
  for (let j = 0; j < n; j++) {
    const dual = sol.rowDual[L.row.PB(j)];
    const sum = el.yP[j] + cong.yP[j] + volt.yP[j];
    residual = Math.max(residual, Math.abs(sum - dual));
    const vLp = j === 0 ? v0 : Math.sqrt(sol.colValue[L.col.w(j)]);
    const vExact = vByBus.get(radial.busIds[j])!;
    vErr = Math.max(vErr, Math.abs(vLp - vExact));
    prices[j] = {
      bus: radial.busIds[j],
      v_pu: vExact,
      dlmp_per_mwh: dual,
      energy_per_mwh: lmp,
      loss_per_mwh: el.yP[j] - lmp,
      congestion_per_mwh: cong.yP[j],
      voltage_per_mwh: volt.yP[j],
      q_price_per_mvarh: sol.rowDual[L.row.QB(j)],
    };
  }

  return {
    converged,
    iterations,
    lmp_per_mwh: lmp,
    cost_per_h: sol.objective,
    import_w: pf.slack_p_w,
    losses_w: pf.losses_w,
    buses: network.buses.map((b) => prices[radial.indexOf.get(b.id)!]),
    offers: (options.offers ?? []).map((o, k) => ({
      ...o,
      cleared_w: Math.max(0, sol.x[k]) * BASE_POWER_VA,
    })),
    binding: bindingConstraints(network, radial, sol, thermalShadow),
    powerflow: pf,
    check: {
      max_voltage_error_pu: vErr,
      import_error_w: Math.abs(sol.colValue[L.col.P0] * BASE_POWER_VA - pf.slack_p_w),
      violations: findViolations(network, pf),
      decomposition_residual_per_mwh: residual,
    },
  };
}

const AGREE_V_PU = 1e-7;
const AGREE_P_PU = 1e-6; // 1 W

function lpAgreesWithExact(radial: Radial, sol: LpSolution, s: SweepResult, v0: number): boolean {
  const L = layout(radial.n);
  let slackP = 0;
  for (let e = radial.childStart[0]; e < radial.childStart[1]; e++) {
    const j = radial.childIdx[e];
    slackP += v0 * s.ir[j]; // slack angle is 0: P = V0 * Re(I)
  }
  const lpP0 = sol.colValue[L.col.P0];
  // Compare the feeder-head flows (the slack bus's own demand is the same on both sides).
  let lpHead = 0;
  for (let e = radial.childStart[0]; e < radial.childStart[1]; e++)
    lpHead += sol.colValue[L.col.P(radial.childIdx[e])];
  if (Math.abs(lpHead - slackP) > AGREE_P_PU || !Number.isFinite(lpP0)) return false;
  for (let j = 1; j < radial.n; j++) {
    const v = Math.hypot(s.vr[j], s.vi[j]);
    if (Math.abs(Math.sqrt(sol.colValue[L.col.w(j)]) - v) > AGREE_V_PU) return false;
  }
  return true;
}

function applyDispatch(
  pD: Float64Array,
  offers: ReadonlyArray<{ bus: number; sign: 1 | -1 }>,
  x: Float64Array,
): Float64Array {
  const p = pD.slice();
  offers.forEach((o, k) => {
    p[o.bus] -= o.sign * x[k];
  });
  return p;
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function angleDiff(a: number, b: number): number {
  const d = (a - b) % (2 * Math.PI);
  return d > Math.PI ? d - 2 * Math.PI : d < -Math.PI ? d + 2 * Math.PI : d;
}

export interface DlmpInterval extends InjectionOverrides {
  /** Interval start, UTC epoch ms. */
  readonly start: number;
  readonly lmp_per_mwh: number;
  /** Offers of this interval; defaults to the schedule's shared offers. */
  readonly offers?: readonly Offer[];
}

export interface DlmpScheduleResult {
  readonly intervals: Array<DlmpResult & { start: number }>;
}

/**
 * Day-ahead style multi-interval DLMPs (e.g. 24 hourly intervals): one OPF per interval. Intervals
 * are independent until storage with energy limits couples them (not modelled yet).
 */
export async function solveDlmpSchedule(
  network: Network,
  schedule: { intervals: readonly DlmpInterval[]; offers?: readonly Offer[]; slackVoltagePu?: number },
): Promise<DlmpScheduleResult> {
  const highs = await getHighs();
  return {
    intervals: schedule.intervals.map((iv) => ({
      start: iv.start,
      ...solveDlmpWith(highs, network, {
        ...iv,
        offers: iv.offers ?? schedule.offers,
        ...(schedule.slackVoltagePu !== undefined ? { slackVoltagePu: schedule.slackVoltagePu } : {}),
      }),
    })),
  };
}
