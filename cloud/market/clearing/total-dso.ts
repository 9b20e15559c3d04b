import type { BidPriceLimits, TdAward, TdBid } from '../../../protocols/market/td-interface.ts';
import type { Bid } from '../model/bids.ts';
import type { ResourceRegistry } from '../model/resources.ts';
import { DEFAULT_CURVE_OFFSETS } from '../model/settings.ts';
import { HOUR_MS } from '../model/time.ts';
import { type AreaModel, clearArea, openArea } from './clearing.ts';
import { sampleCurveParallel, startCurveWorker } from './curve-parallel.ts';
import { aggregateSteps, resourcesFromBids } from './curves.ts';
import type { CompiledFeeder } from './feeder.ts';
import {
  ANCILLARY_PRODUCTS,
  type AncillaryProduct,
  type ClearingInput,
  type ClearingResource,
  type ClearingResult,
} from './types.ts';

/**
 * The layered "Total DSO" day-ahead market, steps 1-7 of the architecture brief. Pure computation:
 * the ISO is passed in as an object with `clearDayAhead` (the simulated ISO in sim-devices/iso, or a
 * gateway to a real one).
 */

export interface IsoGateway {
  clearDayAhead(bid: TdBid): Promise<TdAward>;
  /** The ISO's bid price limits: the T-D curve is sampled inside them (none: unlimited). */
  readonly bidPriceLimits?: BidPriceLimits;
}

export interface DayAheadInput {
  readonly dso: string;
  readonly interfaceId: string;
  readonly dayStart: number;
  readonly registry: ResourceRegistry;
  /** Step 1: accepted DA bids for the day (validated by the bid book). */
  readonly bids: readonly Bid[];
  /** Curves already built from the bids (benchmarks, simulations); default: built from `bids`. */
  readonly resources?: readonly ClearingResource[];
  readonly feeder: CompiledFeeder | null;
  /** Non-participating load forecast per bus, 24 hourly values (W). */
  readonly loadForecastW: ReadonlyMap<string, readonly number[]>;
  /** Forecast interface LMP per hour for the provisional clearing ($/MWh). */
  readonly forecastLmp: readonly number[];
  readonly interfaceLimitW?: number;
  readonly iso: IsoGateway;
  /** Network refinement of the provisional and final clearings: losses, grid services (grid-services.ts). */
  readonly refine?: DayAheadRefiner;
  /** Price offsets at which the consolidated T-D curve is sampled ($/MWh around the forecast). */
  readonly curveOffsets?: readonly number[];
}

export interface DayAheadResult {
  readonly provisional: ClearingResult;
  readonly tdBid: TdBid;
  readonly isoAward: TdAward;
  readonly final: ClearingResult;
  readonly lmp: number[];
  readonly timings: Record<string, number>;
  /**
   * Simplex iterations per phase, both threads (the machine-independent measure of the work; the
   * final counts only re-solves of the loaded model).
   */
  readonly iterations: Record<string, number>;
}

export interface DayAheadRefiner {
  /**
   * The provisional clearing's input; `area` is `inp` loaded (unsolved), which the refiner may solve
   * and re-linearize in place (`setLosses`) so the curve's base solve starts warm.
   */
  provisional(inp: ClearingInput, area?: AreaModel): Promise<ClearingInput>;
  /**
   * The final clearing. `reuse`, when given, solves the loaded provisional model (same columns and
   * rows as `inp` apart from loss coefficients) warm.
   */
  final(inp: ClearingInput, provisional: ClearingResult, reuse?: LoadedModel): Promise<ClearingResult>;
}

/**
 * The provisional model still loaded after the curve, for the final clearing: each solve starts
 * from the basis the model holds (after the curve, the highest sample's), then from the last solve's.
 */
export interface LoadedModel {
  setLosses(losses: ClearingInput['losses']): void;
  solve(interfacePrice: readonly number[], what: string): Promise<ClearingResult>;
}

export async function runDayAhead(inp: DayAheadInput): Promise<DayAheadResult> {
  const T = 24;
  const timings: Record<string, number> = {};
  const tick = (name: string, t0: number) => {
    timings[name] = performance.now() - t0;
  };
  let t0 = performance.now();
  const periodOf = (s: number) => (s - inp.dayStart) / HOUR_MS;
  const resources = inp.resources ?? resourcesFromBids(inp.bids, inp.registry, T, periodOf);
  const base: Omit<ClearingInput, 'interfacePrice'> = {
    feeder: inp.feeder,
    periods: T,
    durationH: 1,
    fixedLoadW: inp.loadForecastW,
    resources,
    ...(inp.interfaceLimitW !== undefined ? { interfaceLimitW: inp.interfaceLimitW } : {}),
  };
  // Step 2: provisional LDA clearing with the forecast interface LMP; step 3's curve comes from the
  // same LP re-solved at shifted interface prices. The model stays loaded for step 6.
  const provIn: ClearingInput = { ...base, interfacePrice: inp.forecastLmp };
  const offsets = inp.curveOffsets ?? DEFAULT_CURVE_OFFSETS;
  const limits = inp.iso.bidPriceLimits;
  // The curve worker starts (HiGHS) while this thread builds the LP, then loads a copy of it while
  // this thread pre-solves (refiner) and solves.
  const worker = startCurveWorker(provIn, offsets);
  let area = await openArea(provIn);
  try {
    worker?.load(area);
    const prov = inp.refine ? await inp.refine.provisional(provIn, area) : provIn;
    if (!sameButLosses(prov, area.input)) {
      const loaded = area;
      area = await openArea(prov);
      loaded.dispose();
    } else if (prov.losses !== area.input.losses) area.setLosses(prov.losses);
    const preIterations = area.iterations;
    const samples = await sampleCurveParallel(area, prov, offsets, worker, limits);
    const iterations: Record<string, number> = {
      provisional_and_curve: preIterations + samples.iterations,
    };
    const curveEnd = area.iterations;
    const { base: provisional, curve } = samples;
    tick('provisional_and_curve_ms', t0);
    // Step 3: consolidated bid curve plus the area's ancillary offers (sum of its resources' offers).
    const tdBid: TdBid = {
      dso: inp.dso,
      interface_id: inp.interfaceId,
      hours: curve.map((pts, t) => ({
        interval_start: inp.dayStart + t * HOUR_MS,
        points: dedupePrices(pts).map((p) => ({ price_per_mwh: p.pricePerMWh, import_w: p.importW })),
        ancillary: ANCILLARY_PRODUCTS.flatMap((p) => {
          const steps = aggregateSteps(resources.map((r) => r.ancillary?.[p]?.[t] ?? []));
          return steps.length ? [{ product: p, steps }] : [];
        }),
      })),
    };
    // Steps 4-5: the ISO clears and returns the interface award and LMP.
    t0 = performance.now();
    const isoAward = await inp.iso.clearDayAhead(tdBid);
    tick('iso_ms', t0);
    const lmp = isoAward.hours.map((h) => h.lmp_per_mwh);
    // Step 6: re-optimize with the known LMP; the ancillary awards become requirements in the area.
    const req: Partial<Record<AncillaryProduct, number[]>> = {};
    for (const p of ANCILLARY_PRODUCTS) {
      const w = isoAward.hours.map((h) => h.ancillary[p]?.award_w ?? 0);
      if (w.some((x) => x > 0)) req[p] = w;
    }
    t0 = performance.now();
    const finalIn: ClearingInput = {
      ...base,
      ...(prov.losses ? { losses: prov.losses } : {}),
      interfacePrice: lmp,
      ancillaryRequirementW: req,
    };
    // Without ancillary requirements only the interface price (and, refined, the loss linearization)
    // changes: re-solve the loaded model where the curve left it, at the highest sample (the curve
    // worker's copy when there is one; this thread extracts). From there the 10k benchmark's final
    // takes 5.0k simplex iterations against 8.7-10.4k from the sample nearest to the LMP, whether
    // the LMP is above or below the forecast (docs/markets.md).
    let workerIterations = 0;
    const loaded: LoadedModel = {
      setLosses: (l) => area.setLosses(l),
      solve: async (price, what) => {
        if (!worker) return area.solve(price, what);
        const sol = await worker.solve(area, price);
        workerIterations += sol.iterations;
        return area.fromSolution(price, sol, what);
      },
    };
    const reuse = Object.keys(req).length ? undefined : loaded;
    const final = inp.refine
      ? await inp.refine.final(finalIn, provisional, reuse)
      : reuse
        ? await reuse.solve(lmp, 'LDA final clearing')
        : await clearArea(finalIn);
    tick('final_ms', t0);
    iterations.final = area.iterations - curveEnd + workerIterations;
    // Step 7: final schedules/prices/awards are `final` (published by the caller).
    return { provisional, tdBid, isoAward, final, lmp, timings, iterations };
  } finally {
    area.dispose();
    await worker?.terminate();
  }
}

/** True when `a` is `b` apart from the loss linearization (the loaded model can follow it). */
function sameButLosses(a: ClearingInput, b: ClearingInput): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  keys.delete('losses');
  return [...keys].every((k) => a[k as keyof ClearingInput] === b[k as keyof ClearingInput]);
}

function dedupePrices(pts: { pricePerMWh: number; importW: number }[]) {
  const out: { pricePerMWh: number; importW: number }[] = [];
  for (const p of pts) {
    const last = out[out.length - 1];
    if (last && p.pricePerMWh <= last.pricePerMWh) continue;
    out.push(p);
  }
  return out;
}
