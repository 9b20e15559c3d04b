/**
 * Demand-response measurement and verification: the "10 of 10" customer baseline with a day-of
 * (same-day) multiplicative adjustment, as used by NYISO/PJM-style programmes.
 *
 * - Baseline window: the 10 most recent eligible days before the event day (not event days, not
 *   excluded days such as weekends/holidays, which the caller leaves out of `history`).
 * - Unadjusted baseline for each hour = mean load of that hour over the 10 days.
 * - Day-of adjustment: ratio of the actual load to the unadjusted baseline over the adjustment
 *   window (default the 2 hours that end 2 hours before the event starts, so pre-cooling or
 *   advance notice does not inflate it), capped to [1 - cap, 1 + cap] (default cap 20%).
 * - Performance (load reduction) per event hour = adjusted baseline - actual, in W (hourly means).
 */

export interface DayLoad {
  /** UTC day index (epoch ms / 86 400 000). */
  readonly day: number;
  /** 24 hourly mean loads (W). */
  readonly hourlyW: readonly number[];
}

export interface BaselineOptions {
  readonly days?: number;
  /** Adjustment window: hours [eventStart - offset - length, eventStart - offset). */
  readonly adjustmentOffsetH?: number;
  readonly adjustmentLengthH?: number;
  /** Cap on the adjustment ratio's distance from 1. */
  readonly cap?: number;
}

export interface BaselineResult {
  readonly usedDays: number[];
  readonly unadjustedW: number[];
  readonly adjustment: number;
  readonly adjustedW: number[];
  /** Per event hour: adjusted baseline minus actual (W); positive = load reduced. */
  readonly reductionW: number[];
}

export function tenOfTenBaseline(
  history: readonly DayLoad[],
  eventDay: DayLoad,
  eventHours: { start: number; end: number },
  opts: BaselineOptions = {},
): BaselineResult {
  const n = opts.days ?? 10;
  const offset = opts.adjustmentOffsetH ?? 2;
  const len = opts.adjustmentLengthH ?? 2;
  const cap = opts.cap ?? 0.2;
  if (!(eventHours.start >= 0 && eventHours.end <= 24 && eventHours.start < eventHours.end)) {
    throw new RangeError('event hours must satisfy 0 <= start < end <= 24');
  }
  const prior = history
    .filter((d) => d.day < eventDay.day)
    .sort((a, b) => b.day - a.day)
    .slice(0, n);
  if (prior.length < n)
    throw new RangeError(`baseline needs ${n} eligible days before the event, has ${prior.length}`);
  for (const d of [...prior, eventDay]) {
    if (d.hourlyW.length !== 24) throw new RangeError(`day ${d.day}: need 24 hourly values`);
  }
  const unadjustedW = Array.from({ length: 24 }, (_, h) => prior.reduce((s, d) => s + d.hourlyW[h], 0) / n);
  const from = eventHours.start - offset - len;
  const to = eventHours.start - offset;
  let adjustment = 1;
  if (from >= 0) {
    let actual = 0;
    let base = 0;
    for (let h = from; h < to; h++) {
      actual += eventDay.hourlyW[h];
      base += unadjustedW[h];
    }
    if (base > 0) adjustment = Math.min(1 + cap, Math.max(1 - cap, actual / base));
  }
  const adjustedW = unadjustedW.map((w) => w * adjustment);
  const reductionW: number[] = [];
  for (let h = eventHours.start; h < eventHours.end; h++) reductionW.push(adjustedW[h] - eventDay.hourlyW[h]);
  return { usedDays: prior.map((d) => d.day), unadjustedW, adjustment, adjustedW, reductionW };
}
