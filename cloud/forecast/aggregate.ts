/**
 * Aggregation of site forecasts to a group (VPP, feeder node, distribution area).
 *
 * P50 and mean add up. Quantiles do not: the sum of member P10s is the group P10 only if all members
 * err together (perfect correlation); with independent errors the spreads add in quadrature. We treat
 * each member's distance P50→P10 and P50→P90 as a scaled standard deviation and combine them with one
 * pairwise correlation ρ:  spread = sqrt((1−ρ)·Σsᵢ² + ρ·(Σsᵢ)²).  ρ = 1 reproduces the sum of
 * quantiles, ρ = 0 independence. Defaults: PV ρ = 1 (sites in one group share the clouds),
 * load ρ = 0.3 (households vary independently around a common weather/calendar signal).
 * This ignores skew beyond the asymmetric lower/upper spreads; it is a planning approximation.
 */
import type { Forecast, ForecastKind } from './types.ts';

export const DEFAULT_CORRELATION: Record<ForecastKind, number> = { pv: 1, load: 0.3 };

export interface GroupForecast extends Omit<Forecast, 'details'> {
  members: number;
  correlation: number;
}

export function aggregate(forecasts: Forecast[], options: { correlation?: number } = {}): GroupForecast {
  if (forecasts.length === 0) throw new Error('aggregate: no forecasts to aggregate');
  const first = forecasts[0];
  const n = first.p50.length;
  for (const f of forecasts) {
    if (f.kind !== first.kind) throw new Error(`aggregate: mixed kinds (${first.kind} and ${f.kind})`);
    if (f.start !== first.start || f.stepMs !== first.stepMs || f.p50.length !== n) {
      throw new Error('aggregate: forecasts must share start, step and length');
    }
  }
  const rho = options.correlation ?? DEFAULT_CORRELATION[first.kind];
  if (!(rho >= 0 && rho <= 1)) throw new Error(`aggregate: correlation must be within 0…1, got ${rho}`);
  const combine = (sum: number, sumSq: number) => Math.sqrt(Math.max(0, (1 - rho) * sumSq + rho * sum * sum));
  const mean = new Array<number>(n).fill(0);
  const p10 = new Array<number>(n);
  const p50 = new Array<number>(n).fill(0);
  const p90 = new Array<number>(n);
  for (let j = 0; j < n; j++) {
    let lo = 0;
    let lo2 = 0;
    let hi = 0;
    let hi2 = 0;
    for (const f of forecasts) {
      mean[j] += f.mean[j];
      p50[j] += f.p50[j];
      const l = f.p50[j] - f.p10[j];
      const h = f.p90[j] - f.p50[j];
      lo += l;
      lo2 += l * l;
      hi += h;
      hi2 += h * h;
    }
    p10[j] = p50[j] - combine(lo, lo2);
    p90[j] = p50[j] + combine(hi, hi2);
  }
  return {
    kind: first.kind,
    modelVersion: `aggregate/1(${[...new Set(forecasts.map((f) => f.modelVersion))].join(',')})`,
    issuedAt: Math.max(...forecasts.map((f) => f.issuedAt)),
    start: first.start,
    stepMs: first.stepMs,
    mean,
    p10,
    p50,
    p90,
    members: forecasts.length,
    correlation: rho,
  };
}
