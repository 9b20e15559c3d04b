/**
 * Predictive quantiles from empirical residuals of out-of-sample forecasts the model made for the
 * days just before the issue time, grouped by local hour of day (uncertainty differs between 03:00
 * and 18:00). Hours with too few residuals fall back to the pooled distribution.
 */
import { quantiles } from './stats.ts';

export const LEVELS = [0.1, 0.5, 0.9] as const;

export interface ResidualQuantiles {
  /** [q10, q50, q90] per local hour 0…23 */
  byHour: number[][];
  pooled: number[];
  count: number;
}

export function fitResidualQuantiles(
  hours: number[],
  residuals: number[],
  minPerHour = 12,
): ResidualQuantiles {
  const groups: number[][] = Array.from({ length: 24 }, () => []);
  for (let i = 0; i < residuals.length; i++) groups[Math.min(23, hours[i])].push(residuals[i]);
  const pooled = residuals.length ? quantiles(residuals, LEVELS) : [0, 0, 0];
  return {
    byHour: groups.map((g) => (g.length >= minPerHour ? quantiles(g, LEVELS) : pooled)),
    pooled,
    count: residuals.length,
  };
}

/** Applies residual quantiles to a point forecast; the result is ordered P10 ≤ P50 ≤ P90 by construction. */
export function applyQuantiles(
  point: number,
  q: number[],
  scale = 1,
  lower = Number.NEGATIVE_INFINITY,
  upper = Number.POSITIVE_INFINITY,
): [number, number, number] {
  const clip = (x: number) => Math.min(upper, Math.max(lower, x));
  return [clip(point + q[0] * scale), clip(point + q[1] * scale), clip(point + q[2] * scale)];
}
