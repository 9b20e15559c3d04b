/**
 * Connects the VPP service to the cloud's other services when they are configured:
 * - network limits: the grid service's feeder model (cloud/grid) checks each placed site's projected
 *   net export at the meter (measured now + its share of the move) with the exact power flow;
 * - forecasts: the forecast service's latest P50 load and PV per site (cloud/forecast-service) feed
 *   the envelope; a site without a forecast covering the requested intervals falls back to
 *   persistence.
 */
import type { ForecastService } from '../forecast-service/service.ts';
import type { GridService } from '../grid/service.ts';
import { describeViolation } from '../network/feasibility.ts';
import type { SiteForecastProvider } from './envelope.ts';
import type { NetworkCheck } from './feasibility.ts';

export function networkCheckFromGrid(grid: GridService): NetworkCheck | undefined {
  if (!grid.network) return undefined;
  return async ({ start, injections }) => {
    const reasons: string[] = [];
    const sites = await grid.placement();
    const placed = injections.filter((i) => sites.buses.has(i.site));
    const unplaced = sites.unplaced.filter((u) => injections.some((i) => i.site === u.site));
    if (unplaced.length)
      reasons.push(
        `not checked (not placed on the feeder): ${unplaced.map((u) => `${u.site} (${u.reason})`).join('; ')}`,
      );
    if (placed.length === 0) return { feasible: true, reasons };
    const report = await grid.checkSchedule({
      intervals: [
        {
          start,
          sites: Object.fromEntries(placed.map((i) => [i.site, { p_w: (i.meterW ?? 0) + i.deltaW }])),
        },
      ],
    });
    reasons.push(...report.intervals.flatMap((iv) => iv.violations.map(describeViolation)));
    return { feasible: report.feasible, reasons };
  };
}

export function forecastProviderFrom(forecasts: ForecastService): SiteForecastProvider {
  return async (site, start, stepMs, steps) => {
    const series: Record<'load' | 'pv', number[]> = { load: [], pv: [] };
    for (const kind of ['load', 'pv'] as const) {
      const { forecast: f } = await forecasts.latest('site', site, kind);
      if (!f) return undefined;
      for (let j = 0; j < steps; j++) {
        const k = Math.floor((start + j * stepMs - f.start) / f.stepMs);
        if (k < 0 || k >= f.p50.length) return undefined;
        series[kind].push(f.p50[k]);
      }
    }
    return series;
  };
}
