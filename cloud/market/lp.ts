import type { Highs, Model } from 'highs';
import { getHighs } from '../lp/highs.ts';

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

  /** Loads the LP into a persistent HiGHS model (caller disposes it). */
  toModel(highs: Highs): Model {
    const inf = highs.infinity;
    const fix = (a: number[]) =>
      Float64Array.from(a, (x) => (x === Infinity ? inf : x === -Infinity ? -inf : x));
    const model = highs.createModel({
      numCols: this.numCols,
      numRows: this.numRows,
      colCost: Float64Array.from(this.cost),
      colLower: fix(this.lb),
      colUpper: fix(this.ub),
      rowLower: fix(this.rowLb),
      rowUpper: fix(this.rowUb),
      matrix: {
        format: 'csc',
        numRows: this.numRows,
        numCols: this.numCols,
        starts: Int32Array.from(this.#starts),
        indices: Int32Array.from(this.#idx),
        values: Float64Array.from(this.#val),
      },
    });
    model.options.set({ output_flag: false });
    return model;
  }
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
