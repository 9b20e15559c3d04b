import { RT_INTERVAL_MS } from './bids.ts';
import { type ClearingResource, type ClearingResult, clearArea } from './clearing.ts';
import type { CompiledFeeder } from './feeder.ts';

/**
 * Real-time market: one 5-minute interval cleared on 5-minute forecasts. Non-participating load is
 * a forecast (fixed withdrawal), not a bid. Resources offer their full curves again (re-bid or
 * carried over from day-ahead); what they are paid in real time is only the deviation from their
 * day-ahead schedule at the real-time DLMP (two-settlement). Storage starts from its measured state
 * of charge and has no end-of-horizon floor inside one interval.
 */

export interface RealTimeInput {
  readonly feeder: CompiledFeeder | null;
  readonly intervalStart: number;
  /** Interface (ISO real-time) price for the interval, $/MWh. */
  readonly interfacePrice: number;
  readonly interfaceLimitW?: number;
  /** 5-minute forecast of non-participating net load per bus (W). */
  readonly loadForecastW: ReadonlyMap<string, number>;
  readonly resources: readonly ClearingResource[];
  /** Measured state of charge per storage resource (Wh). */
  readonly socWh?: ReadonlyMap<string, number>;
  /** Day-ahead schedule of each resource for the hour containing the interval (W). */
  readonly daScheduleW: ReadonlyMap<string, number>;
}

export interface RealTimeResult {
  readonly clearing: ClearingResult;
  /** RT schedule minus DA schedule per resource (W), the quantity settled at RT prices. */
  readonly deviationW: Map<string, number>;
}

export async function clearRealTime(inp: RealTimeInput): Promise<RealTimeResult> {
  const resources = inp.resources.map((r) => {
    if (!r.storage) return r;
    const soc = inp.socWh?.get(r.id) ?? r.storage.soc0Wh;
    return { ...r, storage: { ...r.storage, soc0Wh: soc, endSocMinWh: 0 } };
  });
  const clearing = await clearArea({
    feeder: inp.feeder,
    periods: 1,
    durationH: RT_INTERVAL_MS / 3_600_000,
    interfacePrice: [inp.interfacePrice],
    ...(inp.interfaceLimitW !== undefined ? { interfaceLimitW: inp.interfaceLimitW } : {}),
    fixedLoadW: new Map([...inp.loadForecastW].map(([bus, w]) => [bus, [w]])),
    resources,
  });
  const deviationW = new Map<string, number>();
  for (const [id, s] of clearing.schedules) deviationW.set(id, s.netW[0] - (inp.daScheduleW.get(id) ?? 0));
  return { clearing, deviationW };
}
