import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Basis } from 'highs';
import {
  type AreaModel,
  type ClearingInput,
  type CurveSamples,
  curveChains,
  monotoneCurve,
  sampleCurve,
  walkChain,
} from './clearing.ts';
import type { CurveWorkerData, CurveWorkerReply } from './curve-worker.ts';

// Sources run through tsx (no build), whose loader hooks a worker thread does not inherit on Node
// 20: the worker registers tsx itself before importing its module.
const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.resolve('./curve-worker.ts'))}); })`;

/**
 * `sampleCurve` with the two chains of the T-D curve on two cores: the upper chain runs in a worker
 * thread with its own HiGHS instance and its own copy of the LP (loaded while this thread solves
 * the base case), the lower chain here. Each chain walks exactly as in `sampleCurve` (same start
 * basis, same order), so the samples are the same. Serial on a single core, and for small areas,
 * where starting the worker (~0.4 s: tsx, HiGHS wasm, its own LP) costs more than the chain
 * (1,000 resources: 0.46 s serial vs 0.84 s with the worker).
 */
export async function sampleCurveParallel(
  area: AreaModel,
  inp: ClearingInput,
  priceOffsets: readonly number[],
  minResources = 2_000,
): Promise<CurveSamples> {
  const { offsets, down, up } = curveChains(priceOffsets);
  const serial = availableParallelism() < 2 || inp.resources.length < minResources;
  if (serial || !down.length || !up.length) return sampleCurve(area, inp, priceOffsets);
  const data: CurveWorkerData = { inp, chain: up };
  const worker = new Worker(bootstrap, { eval: true, workerData: data });
  const reply = new Promise<CurveWorkerReply>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`T-D curve worker exited (code ${code})`)));
  });
  reply.catch(() => {}); // awaited below; keeps an early failure from being unhandled meanwhile
  try {
    const base = area.solve(inp.interfacePrice, 'LDA provisional clearing');
    const bases = new Map<number, Basis>([[0, area.basis()]]);
    const raw = new Map<number, number[]>([[0, base.interfaceImportW]]);
    worker.postMessage(bases.get(0));
    walkChain(area, inp, down, bases.get(0)!, raw, bases);
    const upper = await reply;
    for (const [d, w] of upper.raw) raw.set(d, w);
    for (const [d, b] of upper.bases) bases.set(d, b);
    return { base, curve: monotoneCurve(inp, offsets, raw), bases };
  } finally {
    await worker.terminate();
  }
}
