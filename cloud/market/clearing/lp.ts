import type { Highs, Model } from 'highs';
import { getHighs } from '../../lp/highs.ts';

export { getHighs };

/**
 * A small sparse LP builder over HiGHS (WebAssembly, the shared loader in cloud/lp). Columns are
 * added with their coefficients in already-created rows, so the matrix is assembled directly in
 * compressed-column form: no text model, no per-solve parsing, which matters for 10^5-10^6 variable
 * day-ahead problems.
 */

export class LpError extends Error {
  override name = 'LpError';
}

export class LpBuilder {
  readonly cost: number[] = [];
  readonly lb: number[] = [];
  readonly ub: number[] = [];
  readonly rowLb: number[] = [];
  readonly rowUb: number[] = [];
  readonly #starts: number[] = [0];
  readonly #idx: number[] = [];
  readonly #val: number[] = [];

  addRow(lb: number, ub: number): number {
    this.rowLb.push(lb);
    this.rowUb.push(ub);
    return this.rowLb.length - 1;
  }

  /** Adds a column; `rows`/`vals` are its coefficients (each row at most once). */
  addCol(
    cost: number,
    lb: number,
    ub: number,
    rows: readonly number[] = [],
    vals: readonly number[] = [],
  ): number {
    this.cost.push(cost);
    this.lb.push(lb);
    this.ub.push(ub);
    for (let k = 0; k < rows.length; k++) {
      if (vals[k] === 0) continue;
      this.#idx.push(rows[k]);
      this.#val.push(vals[k]);
    }
    this.#starts.push(this.#idx.length);
    return this.cost.length - 1;
  }

  get numCols(): number {
    return this.cost.length;
  }

  get numRows(): number {
    return this.rowLb.length;
  }

  /**
   * A dual-feasible starting basis: `basic` columns (one per equality row; the caller guarantees
   * they form a nonsingular block) plus the slacks of all inequality rows; every other column sits
   * at the bound its reduced cost c - A'y prefers, y being the duals that belong to that basis.
   * The dual simplex then only has to repair primal infeasibilities.
   */
  crashBasis(basic: readonly number[], y: Float64Array): { colStatus: Int32Array; rowStatus: Int32Array } {
    const LOWER = 0;
    const BASIC = 1;
    const UPPER = 2;
    const ZERO = 3;
    const colStatus = new Int32Array(this.numCols);
    const isBasic = new Uint8Array(this.numCols);
    for (const j of basic) isBasic[j] = 1;
    for (let j = 0; j < this.numCols; j++) {
      if (isBasic[j]) {
        colStatus[j] = BASIC;
        continue;
      }
      let rc = this.cost[j];
      for (let k = this.#starts[j]; k < this.#starts[j + 1]; k++) rc -= this.#val[k] * y[this.#idx[k]];
      const lo = Number.isFinite(this.lb[j]);
      const hi = Number.isFinite(this.ub[j]);
      colStatus[j] = (rc < 0 && hi) || !lo ? (hi ? UPPER : ZERO) : LOWER;
    }
    const rowStatus = Int32Array.from(this.rowLb, (lo, i) => (lo === this.rowUb[i] ? LOWER : BASIC));
    return { colStatus, rowStatus };
  }

  /** The LP as typed arrays (infinite bounds as +-Infinity): cheap to copy to another thread. */
  toArrays(): LpArrays {
    return {
      colCost: Float64Array.from(this.cost),
      colLower: Float64Array.from(this.lb),
      colUpper: Float64Array.from(this.ub),
      rowLower: Float64Array.from(this.rowLb),
      rowUpper: Float64Array.from(this.rowUb),
      starts: Int32Array.from(this.#starts),
      indices: Int32Array.from(this.#idx),
      values: Float64Array.from(this.#val),
    };
  }

  /** Loads the LP into a persistent HiGHS model (caller disposes it). */
  toModel(highs: Highs): Model {
    return modelFromArrays(highs, this.toArrays());
  }
}

/** An LP in compressed-column form (`LpBuilder.toArrays`). */
export interface LpArrays {
  readonly colCost: Float64Array;
  readonly colLower: Float64Array;
  readonly colUpper: Float64Array;
  readonly rowLower: Float64Array;
  readonly rowUpper: Float64Array;
  readonly starts: Int32Array;
  readonly indices: Int32Array;
  readonly values: Float64Array;
}

/** Loads `lp` into a persistent HiGHS model (caller disposes it). */
export function modelFromArrays(highs: Highs, lp: LpArrays): Model {
  const inf = highs.infinity;
  const fix = (a: Float64Array) => a.map((x) => (x === Infinity ? inf : x === -Infinity ? -inf : x));
  const numCols = lp.colCost.length;
  const numRows = lp.rowLower.length;
  const model = highs.createModel({
    numCols,
    numRows,
    colCost: lp.colCost,
    colLower: fix(lp.colLower),
    colUpper: fix(lp.colUpper),
    rowLower: fix(lp.rowLower),
    rowUpper: fix(lp.rowUpper),
    matrix: { format: 'csc', numRows, numCols, starts: lp.starts, indices: lp.indices, values: lp.values },
  });
  model.options.set({ output_flag: false });
  return model;
}

/** Row bounds and matrix coefficients to overwrite in a loaded model (absolute values). */
export interface LpEdits {
  readonly rows: Int32Array;
  readonly rowLower: Float64Array;
  readonly rowUpper: Float64Array;
  readonly coefRows: Int32Array;
  readonly coefCols: Int32Array;
  readonly coefValues: Float64Array;
}

export function applyEdits(model: Model, e: LpEdits): void {
  for (let k = 0; k < e.rows.length; k++) model.changeRowBounds(e.rows[k], e.rowLower[k], e.rowUpper[k]);
  for (let k = 0; k < e.coefRows.length; k++)
    model.changeCoefficient(e.coefRows[k], e.coefCols[k], e.coefValues[k]);
}

export interface LpSolution {
  readonly objective: number;
  readonly x: Float64Array;
  /** Row duals: d(objective)/d(row bound). */
  readonly rowDual: Float64Array;
  /** Reduced costs: c - A'y. */
  readonly colDual: Float64Array;
  /** Simplex iterations the solve took (the machine-independent measure of its work). */
  readonly iterations: number;
}

/** Runs the model and returns primal/dual values, or throws LpError naming the status. */
export function runModel(highs: Highs, model: Model, what: string): LpSolution {
  model.run();
  const status = model.getModelStatus();
  if (status !== highs.constants.modelStatus.optimal) {
    throw new LpError(`${what}: LP not solved to optimality (HiGHS model status ${status})`);
  }
  const s = model.getSolution();
  return {
    objective: model.getObjectiveValue(),
    x: s.colValue,
    rowDual: s.rowDual,
    colDual: s.colDual,
    iterations: Number(model.info.get('simplex_iteration_count')),
  };
}

export async function solveLp(b: LpBuilder, what: string): Promise<LpSolution> {
  const highs = await getHighs();
  const model = b.toModel(highs);
  try {
    return runModel(highs, model, what);
  } finally {
    model.dispose();
  }
}
