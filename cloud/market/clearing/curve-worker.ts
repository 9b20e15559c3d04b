import { parentPort } from 'node:worker_threads';
import type { Basis, Model } from 'highs';
import { getHighs } from '../../lp/highs.ts';
import { type AreaLp, importFromPu } from './clearing.ts';
import { applyEdits, type LpEdits, type LpSolution, modelFromArrays, runModel } from './lp.ts';

/**
 * Worker half of `sampleCurveParallel` (curve-parallel.ts). It holds a copy of the area's LP as the
 * main thread built it (typed arrays: no second build in JavaScript, which would compete with the
 * main thread's first solve for the two cores), walks its chains of the T-D curve, and then solves
 * the final clearing from the basis it holds (the highest sample's) for the main thread to extract.
 * Every request carries the main model's loss linearization (absolute edits, so order is free).
 */
export type CurveWorkerRequest =
  | { readonly type: 'load'; readonly lp: AreaLp }
  | {
      readonly type: 'walk';
      readonly edits: LpEdits;
      /** Each chain starts from this basis; with `basePrice` the base solve does, and the chains from its. */
      readonly start: Basis;
      /** The provisional clearing's prices, when the base is solved here (clearing.ts `sampleCurve`). */
      readonly basePrice?: readonly number[];
      /** Per chain, the distinct price vectors to solve in order (clearing.ts `chainPrices`). */
      readonly chains: readonly (readonly (readonly number[])[])[];
    }
  | { readonly type: 'solve'; readonly edits: LpEdits; readonly price: readonly number[] };

export interface CurveWalkReply {
  /** The base solve's solution, when asked for (`basePrice`). */
  readonly base?: LpSolution;
  /** Per chain and price vector: interface import (W). */
  readonly chains: number[][][];
  readonly iterations: number;
}

const port = parentPort!;
const highs = await getHighs();
let loaded: { model: Model; lp: AreaLp } | undefined;

function solve(edits: LpEdits, price: readonly number[], warm: Basis | undefined, what: string): LpSolution {
  if (!loaded) throw new Error('T-D curve worker: solve before load');
  const { model, lp } = loaded;
  applyEdits(model, edits);
  lp.ifaceCols.forEach((j, t) => {
    model.changeColCost(j, price[t] * lp.durationH);
  });
  if (warm) model.setBasis(warm);
  return runModel(highs, model, what);
}

port.on('message', (req: CurveWorkerRequest) => {
  if (req.type === 'load') {
    loaded?.model.dispose();
    loaded = { model: modelFromArrays(highs, req.lp.arrays), lp: req.lp };
  } else if (req.type === 'walk') {
    const base =
      req.basePrice && solve(req.edits, req.basePrice, req.start, 'LDA provisional clearing (worker)');
    let from = base ? undefined : req.start; // the first chain from the base's basis, still loaded
    const baseBasis = base && req.chains.length > 1 ? loaded!.model.getBasis() : undefined;
    let iterations = base?.iterations ?? 0;
    const chains = req.chains.map((prices) => {
      const imports = prices.map((price, k) => {
        const sol = solve(req.edits, price, k === 0 ? from : undefined, 'T-D curve sample (worker)');
        iterations += sol.iterations;
        return importFromPu(Array.from(loaded!.lp.ifaceCols, (j) => sol.x[j]));
      });
      from = baseBasis ?? req.start;
      return imports;
    });
    port.postMessage({ ...(base ? { base } : {}), chains, iterations } satisfies CurveWalkReply);
  } else {
    const sol = solve(req.edits, req.price, undefined, 'LDA final clearing (worker)');
    port.postMessage(sol);
  }
});
