/**
 * Is a canonical value physically plausible? The ranges live in points.ts (once, with their units);
 * this adds the device's nameplate where one is known. Returns the reason a value is implausible, or
 * undefined when it is fine. Used by the cloud's ingest (a refused value is quarantined with the
 * reason, never stored as telemetry) and usable by any other consumer of canonical values.
 */
import { CANONICAL_POINTS, type CanonicalPoint, NAMEPLATE_MARGIN, type Nameplate } from './points.ts';

const RANGES = CANONICAL_POINTS as Record<string, { unit: string; min: number; max: number }>;

/** The largest active power the nameplate allows in either direction, when it names one. */
export function nameplatePowerW(np: Nameplate | undefined): number | undefined {
  if (!np) return undefined;
  let max: number | undefined;
  for (const r of [np.w_max, np.va_max, np.w_charge_max, np.w_discharge_max])
    if (typeof r === 'number' && Number.isFinite(r) && r > 0) max = Math.max(max ?? 0, r);
  return max;
}

export function implausible(
  point: CanonicalPoint | string,
  value: number,
  nameplateW?: number,
): string | undefined {
  if (!Number.isFinite(value)) return `${point}: not a finite number`;
  const r = RANGES[point];
  if (!r) return undefined;
  const unit = r.unit ? ` ${r.unit}` : '';
  if (value < r.min || value > r.max) return `${point}=${value} outside ${r.min}..${r.max}${unit}`;
  if (point === 'w' && nameplateW !== undefined && Math.abs(value) > nameplateW * NAMEPLATE_MARGIN)
    return `w=${value} beyond nameplate ${nameplateW} W × ${NAMEPLATE_MARGIN}`;
  return undefined;
}
