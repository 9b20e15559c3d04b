import { parentPort } from 'node:worker_threads';
import type { Basis, Model } from 'highs';
import { getHighs } from '../lp/highs.ts';
import { type AreaLp, importFromPu } from './clearing.ts';
import { applyEdits, type LpEdits, modelFromArrays, runModel } from './lp.ts';

/**
 * Worker half of `sampleCurveParallel` (curve-parallel.ts). It holds a copy of the area's LP as the
 * main thread built it (typed arrays: no second build in JavaScript, which would compete with the
 * main thread's first solve for the two cores) and re-solves it at the interface prices it is sent.
 */
export type CurveWorkerRequest =
  | { readonly type: 'load'; readonly lp: AreaLp }
  | {
      readonly type: 'walk';
      /** The loss linearization of the main thread's model (`AreaModel.lossEdits`). */
      readonly edits: LpEdits;
      /** Optimal basis of the base solve: each chain starts from it. */
      readonly base: Basis;
      /** Per chain, the distinct price vectors to solve in order (clearing.ts `chainPrices`). */
      readonly chains: readonly (readonly (readonly number[])[])[];
    };

export interface CurveWorkerReply {
  /** Per chain and price vector: interface import (W) and the optimal basis. */
  readonly chains: { importW: number[]; basis: Basis }[][];
  readonly iterations: number;
}

const port = parentPort!;
const highs = await getHighs();
let loaded: { model: Model; lp: AreaLp } | undefined;

port.on('message', (req: CurveWorkerRequest) => {
  if (req.type === 'load') {
    loaded?.model.dispose();
    loaded = { model: modelFromArrays(highs, req.lp.arrays), lp: req.lp };
    return;
  }
  if (!loaded) throw new Error('T-D curve worker: walk before load');
  const { model, lp } = loaded;
  applyEdits(model, req.edits);
  let iterations = 0;
  const chains = req.chains.map((prices) =>
    prices.map((price, k) => {
      lp.ifaceCols.forEach((j, t) => {
        model.changeColCost(j, price[t] * lp.durationH);
      });
      if (k === 0) model.setBasis(req.base);
      const sol = runModel(highs, model, 'T-D curve sample (worker)');
      iterations += sol.iterations;
      return { importW: importFromPu(Array.from(lp.ifaceCols, (j) => sol.x[j])), basis: model.getBasis() };
    }),
  );
  port.postMessage({ chains, iterations } satisfies CurveWorkerReply);
});
