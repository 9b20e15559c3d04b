import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Basis } from 'highs';
import {
  type AreaModel,
  type BidPriceLimits,
  type ClearingInput,
  type CurveSamples,
  curveChains,
  monotoneCurve,
  sampleCurve,
  walkChain,
} from './clearing.ts';
import type { CurveWorkerData, CurveWorkerReply, CurveWorkerRequest } from './curve-worker.ts';

// From sources (tsx, no build) the worker must register tsx itself: Node 20 does not hand a loader
// to worker threads. From the bundle (npm run build) the worker is its own plain-JS entry beside us.
const fromSources = import.meta.url.endsWith('.ts');
const bootstrap = fromSources
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.resolve('./curve-worker.ts'))}); })`
  : '';
function spawnWorker(data: CurveWorkerData): Worker {
  return fromSources
    ? new Worker(bootstrap, { eval: true, workerData: data })
    : new Worker(new URL('./curve-worker.js', import.meta.url), { workerData: data });
}

/**
 * The curve worker (the `worker` group of `curveChains`), started with the area's input (possibly before its loss linearization is
 * known, so it loads its LP while this thread runs the lossless pre-solve). Undefined when the curve
 * is sampled serially: a single core, or a small area, where starting the worker (~0.4 s: tsx,
 * HiGHS wasm, its own LP) costs more than the chain (1,000 resources: 0.46 s serial vs 0.84 s).
 */
export interface CurveWorker {
  readonly inp: ClearingInput;
  run(base: Basis, losses: ClearingInput['losses']): Promise<CurveWorkerReply>;
  terminate(): Promise<number>;
}

export function startCurveWorker(
  inp: ClearingInput,
  priceOffsets: readonly number[],
  limits?: BidPriceLimits,
  minResources = 2_000,
): CurveWorker | undefined {
  const { main, worker: chains } = curveChains(priceOffsets);
  if (availableParallelism() < 2 || inp.resources.length < minResources || !main.length || !chains.length)
    return undefined;
  const data: CurveWorkerData = { inp, chains, ...(limits ? { limits } : {}) };
  const worker = spawnWorker(data);
  const reply = new Promise<CurveWorkerReply>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`T-D curve worker exited (code ${code})`)));
  });
  reply.catch(() => {}); // awaited by run(); keeps an early failure from being unhandled meanwhile
  return {
    inp,
    run(base, losses) {
      worker.postMessage({ base, losses } satisfies CurveWorkerRequest);
      return reply;
    },
    terminate: () => worker.terminate(),
  };
}

/**
 * `sampleCurve` with the T-D curve's chains on two cores: the `worker` group runs in a worker
 * thread with its own HiGHS instance and its own copy of the LP (loaded while this thread solves
 * the base case), the `main` group here. Each chain walks exactly as in `sampleCurve` (same start
 * basis, same order, the first main chain from the basis still loaded), so the samples are the
 * same. `worker` (from `startCurveWorker` with `inp` up to its losses, and the same `limits`) is
 * consumed; without one the curve is sampled serially.
 */
export async function sampleCurveParallel(
  area: AreaModel,
  inp: ClearingInput,
  priceOffsets: readonly number[],
  worker: CurveWorker | undefined,
  limits?: BidPriceLimits,
): Promise<CurveSamples> {
  if (!worker) return sampleCurve(area, inp, priceOffsets, limits);
  const { offsets, main } = curveChains(priceOffsets);
  try {
    const it0 = area.iterations;
    const base = area.solve(inp.interfacePrice, 'LDA provisional clearing');
    const bases = new Map<number, Basis>([[0, area.basis()]]);
    const raw = new Map<number, number[]>([[0, base.interfaceImportW]]);
    const reply = worker.run(bases.get(0)!, inp.losses);
    main.forEach((chain, k) => {
      walkChain(area, inp, chain, k === 0 ? undefined : bases.get(0)!, raw, bases, limits);
    });
    const upper = await reply;
    for (const [d, w] of upper.raw) raw.set(d, w);
    for (const [d, b] of upper.bases) bases.set(d, b);
    const iterations = area.iterations - it0 + upper.iterations;
    return { base, curve: monotoneCurve(inp, offsets, raw, limits), bases, iterations };
  } finally {
    await worker.terminate();
  }
}
