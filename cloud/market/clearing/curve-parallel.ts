import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Basis } from 'highs';
import {
  type AreaModel,
  type CurveSamples,
  chainPrices,
  curveChains,
  monotoneCurve,
  sampleCurve,
  walkChain,
} from './clearing.ts';
import type { CurveWalkReply, CurveWorkerRequest } from './curve-worker.ts';
import type { LpSolution } from './lp.ts';
import type { BidPriceLimits, ClearingInput } from './types.ts';

// From sources (tsx, no build) the worker must register tsx itself: Node 20 does not hand a loader
// to worker threads. From the bundle (npm run build) the worker is its own plain-JS entry beside us.
const fromSources = import.meta.url.endsWith('.ts');
const bootstrap = fromSources
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.resolve('./curve-worker.ts'))}); })`
  : '';
function spawnWorker(): Worker {
  return fromSources
    ? new Worker(bootstrap, { eval: true })
    : new Worker(new URL('./curve-worker.js', import.meta.url));
}

/**
 * The curve worker (the `worker` group of `curveChains`): a thread with its own HiGHS instance,
 * started before the area's LP is built so it loads meanwhile. It takes a copy of the LP as built
 * (`load`), walks its chains from the base basis (`walk`), and then solves at other prices from the
 * basis it holds (`solve`). The caller terminates it. Undefined when the curve is sampled serially:
 * a single core, or a small area, where starting the worker costs more than the chain (1,000
 * resources: 0.46 s serial vs 0.84 s).
 */
export interface CurveWorker {
  /** Copies `area`'s LP into the worker (again when the area is re-opened); no-op for the same area. */
  load(area: AreaModel): void;
  /** Walks `chains` from `start`; with `basePrice`, solves the base from `start` first (clearing.ts `sampleCurve`). */
  walk(
    area: AreaModel,
    start: Basis,
    chains: number[][][],
    basePrice?: readonly number[],
  ): Promise<CurveWalkReply>;
  /** Solves the worker's copy of `area` (with its current losses) at `price`, warm from what it holds. */
  solve(area: AreaModel, price: readonly number[]): Promise<LpSolution>;
  terminate(): Promise<number>;
}

export function startCurveWorker(
  inp: ClearingInput,
  priceOffsets: readonly number[],
  minResources = 2_000,
): CurveWorker | undefined {
  const { main, worker: chains } = curveChains(priceOffsets);
  if (availableParallelism() < 2 || inp.resources.length < minResources || !main.length || !chains.length)
    return undefined;
  const worker = spawnWorker();
  // Replies come in request order; a failure fails every pending and later request.
  const pending: { resolve: (v: never) => void; reject: (e: Error) => void }[] = [];
  let failed: Error | undefined;
  const fail = (e: Error) => {
    failed ??= e;
    for (const p of pending.splice(0)) p.reject(failed);
  };
  worker.on('message', (m) => pending.shift()?.resolve(m as never));
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`T-D curve worker exited (code ${code})`)));
  const ask = <T>(req: CurveWorkerRequest): Promise<T> => {
    if (failed) return Promise.reject(failed);
    const reply = new Promise<T>((resolve, reject) => pending.push({ resolve, reject }));
    worker.postMessage(req);
    return reply;
  };
  let holds: AreaModel | undefined;
  const load = (area: AreaModel) => {
    if (holds === area) return;
    holds = area;
    worker.postMessage({ type: 'load', lp: area.lp } satisfies CurveWorkerRequest);
  };
  return {
    load,
    walk(area, start, chainsPrices, basePrice) {
      load(area);
      const edits = area.lossEdits();
      return ask({ type: 'walk', edits, start, chains: chainsPrices, ...(basePrice ? { basePrice } : {}) });
    },
    solve(area, price) {
      load(area);
      return ask({ type: 'solve', edits: area.lossEdits(), price });
    },
    terminate: () => {
      failed ??= new Error('T-D curve worker terminated');
      return worker.terminate();
    },
  };
}

/**
 * `sampleCurve` with the T-D curve's chains on two cores: the `worker` group of `curveChains` runs
 * in the worker's copy of the LP, the `main` group here, each chain from the same basis as in
 * `sampleCurve`, so the samples are the same. On a model already solved (the lossless pre-solve)
 * the worker also solves the base, which this thread extracts. Without a worker the curve is
 * sampled serially. The worker stays up, holding the highest sample's basis; the caller
 * terminates it.
 */
export async function sampleCurveParallel(
  area: AreaModel,
  inp: ClearingInput,
  priceOffsets: readonly number[],
  worker: CurveWorker | undefined,
  limits?: BidPriceLimits,
): Promise<CurveSamples> {
  if (!worker) return sampleCurve(area, inp, priceOffsets, limits);
  const { offsets, main, worker: upper } = curveChains(priceOffsets);
  worker.load(area);
  const it0 = area.iterations;
  const held = area.solved;
  let base = held ? undefined : area.solve(inp.interfacePrice, 'LDA provisional clearing');
  const start = area.basis();
  const plans = upper.map((chain) => chainPrices(inp, chain, limits));
  const prices = plans.map((p) => p.prices);
  const reply = worker.walk(area, start, prices, held ? inp.interfacePrice : undefined);
  reply.catch(() => {}); // awaited below; a main-thread failure must not leave it unhandled
  const raw = new Map<number, number[]>();
  main.forEach((chain, k) => {
    walkChain(area, inp, chain, k === 0 ? undefined : start, raw, limits);
  });
  const got = await reply;
  base ??= area.fromSolution(inp.interfacePrice, got.base!, 'LDA provisional clearing');
  raw.set(0, base.interfaceImportW);
  upper.forEach((chain, c) => {
    chain.forEach((d, k) => {
      raw.set(d, got.chains[c][plans[c].of[k]]);
    });
  });
  const iterations = area.iterations - it0 + got.iterations;
  return { base, curve: monotoneCurve(inp, offsets, raw, limits), iterations };
}
