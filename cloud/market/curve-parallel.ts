import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Basis } from 'highs';
import {
  type AreaModel,
  type BidPriceLimits,
  type ClearingInput,
  type CurveSamples,
  chainPrices,
  curveChains,
  monotoneCurve,
  sampleCurve,
  walkChain,
} from './clearing.ts';
import type { CurveWorkerReply, CurveWorkerRequest } from './curve-worker.ts';

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
 * (`load`) and, once the base case is solved, the loss linearization and the base basis (`run`).
 * Undefined when the curve is sampled serially: a single core, or a small area, where starting the
 * worker costs more than the chain (1,000 resources: 0.46 s serial vs 0.84 s).
 */
export interface CurveWorker {
  /** Copies `area`'s LP into the worker (again when the area is re-opened); no-op for the same area. */
  load(area: AreaModel): void;
  run(area: AreaModel, base: Basis, chains: number[][][]): Promise<CurveWorkerReply>;
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
  const reply = new Promise<CurveWorkerReply>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`T-D curve worker exited (code ${code})`)));
  });
  reply.catch(() => {}); // awaited by run(); keeps an early failure from being unhandled meanwhile
  let holds: AreaModel | undefined;
  const post = (req: CurveWorkerRequest) => worker.postMessage(req);
  const load = (area: AreaModel) => {
    if (holds === area) return;
    holds = area;
    post({ type: 'load', lp: area.lp });
  };
  return {
    load,
    run(area, base, chainsPrices) {
      load(area);
      post({ type: 'walk', edits: area.lossEdits(), base, chains: chainsPrices });
      return reply;
    },
    terminate: () => worker.terminate(),
  };
}

/**
 * `sampleCurve` with the T-D curve's chains on two cores: the `worker` group of `curveChains` runs
 * in the worker's copy of the LP, the `main` group here. Each chain walks exactly as in
 * `sampleCurve` (same start basis, same order, the first main chain from the basis still loaded),
 * so the samples are the same. `worker` (from `startCurveWorker`) is consumed; without one the
 * curve is sampled serially.
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
  try {
    worker.load(area);
    const it0 = area.iterations;
    const base = area.solve(inp.interfacePrice, 'LDA provisional clearing');
    const bases = new Map<number, Basis>([[0, area.basis()]]);
    const raw = new Map<number, number[]>([[0, base.interfaceImportW]]);
    const plans = upper.map((chain) => chainPrices(inp, chain, limits));
    const reply = worker.run(
      area,
      bases.get(0)!,
      plans.map((p) => p.prices),
    );
    main.forEach((chain, k) => {
      walkChain(area, inp, chain, k === 0 ? undefined : bases.get(0)!, raw, bases, limits);
    });
    const got = await reply;
    upper.forEach((chain, c) => {
      chain.forEach((d, k) => {
        const s = got.chains[c][plans[c].of[k]];
        raw.set(d, s.importW);
        bases.set(d, s.basis);
      });
    });
    const iterations = area.iterations - it0 + got.iterations;
    return { base, curve: monotoneCurve(inp, offsets, raw, limits), bases, iterations };
  } finally {
    await worker.terminate();
  }
}
