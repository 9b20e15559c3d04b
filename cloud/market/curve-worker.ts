import { parentPort, workerData } from 'node:worker_threads';
import type { Basis } from 'highs';
import { type BidPriceLimits, type ClearingInput, openArea, walkChain } from './clearing.ts';

/**
 * Worker half of `sampleCurveParallel` (curve-parallel.ts): loads its own copy of the area's LP
 * into its own HiGHS instance while the main thread solves the base case, then takes the loss
 * linearization and walks its chains of curve offsets from the base basis the main thread sends.
 */
export interface CurveWorkerData {
  readonly inp: ClearingInput;
  /** Chains of curve offsets, each walked from the base basis (clearing.ts `curveChains`). */
  readonly chains: readonly (readonly number[])[];
  readonly limits?: BidPriceLimits;
}

export interface CurveWorkerRequest {
  /** Optimal basis of the base solve. */
  readonly base: Basis;
  /** The loss linearization the base solve had (the worker's LP was loaded with `inp.losses`). */
  readonly losses: ClearingInput['losses'];
}

export interface CurveWorkerReply {
  readonly raw: [number, number[]][];
  readonly bases: [number, Basis][];
  readonly iterations: number;
}

const { inp, chains, limits } = workerData as CurveWorkerData;
const port = parentPort!;
const area = await openArea(inp);
port.once('message', ({ base, losses }: CurveWorkerRequest) => {
  try {
    if (losses !== undefined || inp.losses !== undefined) area.setLosses(losses);
    const raw = new Map<number, number[]>();
    const bases = new Map<number, Basis>();
    for (const chain of chains) walkChain(area, inp, chain, base, raw, bases, limits);
    port.postMessage({
      raw: [...raw],
      bases: [...bases],
      iterations: area.iterations,
    } satisfies CurveWorkerReply);
  } finally {
    area.dispose();
  }
});
