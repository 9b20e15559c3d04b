import { RT_INTERVAL_MS } from '../model/time.ts';
import type { CompiledFeeder } from './feeder.ts';
import { clearWithLosses, lossSurplusAt } from './losses.ts';
import type { ClearingInput, ClearingResource, ClearingResult } from './types.ts';

/**
 * Real-time market: one 5-minute interval cleared on 5-minute forecasts. Non-participating load is
 * a forecast (fixed withdrawal), not a bid. Resources offer their full curves again (re-bid or
 * carried over from day-ahead); what they are paid in real time is only the deviation from their
 * day-ahead schedule at the real-time DLMP (two-settlement). Storage starts from its measured state
 * of charge and has no end-of-horizon floor inside one interval.
 *
 * With a feeder and `lossIterations` > 0 the interval prices marginal losses as the day-ahead does
 * (losses.ts `clearWithLosses`: lossless solve, then that many AC linearizations and re-clears), so
 * RT DLMPs carry a loss component and the settlement of the deviations leaves a loss surplus.
 */

export interface RealTimeInput {
  readonly feeder: CompiledFeeder | null;
  readonly intervalStart: number;
  /** Interface (ISO real-time) price for the interval, $/MWh. */
  readonly interfacePrice: number;
  readonly interfaceLimitW?: number;
  /** 5-minute forecast of non-participating net load per bus (W). */
  readonly loadForecastW: ReadonlyMap<string, number>;
  /**
   * Injections per bus (W, + = into the grid) fixed outside this market and already scheduled day
   * ahead, e.g. the DA grid-service calls (service-calls.ts): cleared as less load, but neither a
   * load nor a deviation, so they are not settled again here.
   */
  readonly fixedInjectionW?: ReadonlyMap<string, number>;
  readonly resources: readonly ClearingResource[];
  /** Measured state of charge per storage resource (Wh). */
  readonly socWh?: ReadonlyMap<string, number>;
  /** Day-ahead schedule of each resource for the hour containing the interval (W). */
  readonly daScheduleW: ReadonlyMap<string, number>;
  /** Day-ahead non-participating load per bus for the hour (W): the reference of load deviations. */
  readonly daLoadW?: ReadonlyMap<string, number>;
  /** Day-ahead interface import for the hour (W). */
  readonly daImportW?: number;
  /** Loss re-linearizations (`market.lossIterations`); 0 or absent = lossless. Needs a feeder. */
  readonly lossIterations?: number;
  /** Length of the interval (ms); default 5 minutes (`market.realtime.intervalMs`). */
  readonly durationMs?: number;
}

export interface RealTimeResult {
  readonly clearing: ClearingResult;
  /** The one-period clearing input the result was cleared with (its `losses` when lossy). */
  readonly input: ClearingInput;
  /** RT schedule minus DA schedule per resource (W), the quantity settled at RT prices. */
  readonly deviationW: Map<string, number>;
  /** RT forecast minus DA load per bus (W, consumption), over the buses of either. */
  readonly loadDeviationW: Map<string, number>;
  /** Exact AC losses at the RT schedule (W); null when the interval is cleared lossless. */
  readonly lossW: number | null;
  /**
   * Loss surplus of the deviations ($/h): what they pay and are paid at their buses' energy + loss
   * price minus the interface import deviation at the interface price. 0 when lossless. Booked to
   * the DGO as `loss_surplus` so that what is left in the clearing account is congestion (+ rounding).
   */
  readonly lossSurplusPerH: number;
}

export async function clearRealTime(inp: RealTimeInput): Promise<RealTimeResult> {
  const resources = inp.resources.map((r) => {
    if (!r.storage) return r;
    const soc = inp.socWh?.get(r.id) ?? r.storage.soc0Wh;
    return { ...r, storage: { ...r.storage, soc0Wh: soc, endSocMinWh: 0 } };
  });
  const input: ClearingInput = {
    feeder: inp.feeder,
    periods: 1,
    durationH: (inp.durationMs ?? RT_INTERVAL_MS) / 3_600_000,
    interfacePrice: [inp.interfacePrice],
    ...(inp.interfaceLimitW !== undefined ? { interfaceLimitW: inp.interfaceLimitW } : {}),
    fixedLoadW: netLoadW(inp.loadForecastW, inp.fixedInjectionW),
    resources,
  };
  const lossy = await clearWithLosses(input, inp.lossIterations ?? 0);
  const clearing = lossy.result;
  const deviationW = new Map<string, number>();
  for (const [id, s] of clearing.schedules) deviationW.set(id, s.netW[0] - (inp.daScheduleW.get(id) ?? 0));
  // From the loads alone: a fixed injection is the same day ahead and in real time.
  const loadDeviationW = new Map<string, number>();
  for (const [bus, w] of inp.daLoadW ?? []) loadDeviationW.set(bus, -w);
  for (const [bus, w] of inp.loadForecastW) loadDeviationW.set(bus, (loadDeviationW.get(bus) ?? 0) + w);
  let lossSurplusPerH = 0;
  if (lossy.losses) {
    const busOf = new Map(inp.resources.map((r) => [r.id, r.bus]));
    const inj: [string, number][] = [...loadDeviationW].map(([bus, w]) => [bus, -w]);
    for (const [id, w] of deviationW) inj.push([busOf.get(id)!, w]);
    const importDev = clearing.interfaceImportW[0] - (inp.daImportW ?? 0);
    lossSurplusPerH = lossSurplusAt(inj, importDev, clearing.prices[0], inp.interfacePrice);
  }
  return {
    clearing,
    input: lossy.losses ? { ...input, losses: lossy.losses } : input,
    deviationW,
    loadDeviationW,
    lossW: lossy.lossW?.[0] ?? null,
    lossSurplusPerH,
  };
}

/** One-period fixed load per bus: the forecast less the fixed injections. */
function netLoadW(
  loadW: ReadonlyMap<string, number>,
  injectionW: ReadonlyMap<string, number> | undefined,
): Map<string, number[]> {
  const out = new Map([...loadW].map(([bus, w]) => [bus, w]));
  for (const [bus, w] of injectionW ?? []) out.set(bus, (out.get(bus) ?? 0) - w);
  return new Map([...out].map(([bus, w]) => [bus, [w]]));
}
