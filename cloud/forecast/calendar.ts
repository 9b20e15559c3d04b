/**
 * Local-calendar view of a regular series: a matrix of local days × wall-clock slots, plus day types.
 * Wall-clock slots make "same time yesterday" mean what a person means across DST changes: on the
 * spring-forward day the skipped slots stay empty, on the fall-back day the repeated hour keeps its
 * first occurrence.
 */
import type { RegularSeries } from './series.ts';
import { DAY_MS } from './series.ts';
import { localDayStart, localTime, parseLocalDate, weekdayOfDay } from './timezone.ts';

export interface DayMatrix {
  firstDay: number;
  nDays: number;
  slotsPerDay: number;
  slotMs: number;
  /** values[(day - firstDay) * slotsPerDay + slot], NaN where missing */
  values: Float64Array;
}

export function slotsPerDay(stepMs: number): number {
  if (DAY_MS % stepMs !== 0) throw new Error(`resolution ${stepMs / 60000} min does not divide a day`);
  return DAY_MS / stepMs;
}

/** Builds the day matrix for local days [firstDay, firstDay + nDays) from a series (in place of a copy per model). */
export function dayMatrix(s: RegularSeries, timeZone: string, firstDay: number, nDays: number): DayMatrix {
  const spd = slotsPerDay(s.stepMs);
  const values = new Float64Array(nDays * spd).fill(Number.NaN);
  const filled = new Uint8Array(nDays * spd);
  const t0 = localDayStart(timeZone, firstDay);
  const t1 = localDayStart(timeZone, firstDay + nDays);
  let i = Math.max(0, Math.ceil((t0 - s.start) / s.stepMs));
  const iEnd = Math.min(s.values.length, Math.ceil((t1 - s.start) / s.stepMs));
  for (; i < iEnd; i++) {
    const t = s.start + i * s.stepMs;
    const lt = localTime(timeZone, t);
    const d = lt.day - firstDay;
    if (d < 0 || d >= nDays) continue;
    const k = d * spd + Math.floor(lt.msOfDay / s.stepMs);
    if (filled[k]) continue; // repeated fall-back hour: keep the first
    filled[k] = 1;
    values[k] = s.values[i];
  }
  return { firstDay, nDays, slotsPerDay: spd, slotMs: s.stepMs, values };
}

export function cell(m: DayMatrix, day: number, slot: number): number {
  const d = day - m.firstDay;
  if (d < 0 || d >= m.nDays || slot < 0 || slot >= m.slotsPerDay) return Number.NaN;
  return m.values[d * m.slotsPerDay + slot];
}

export const WEEKDAY = 0;
export const SATURDAY = 1;
export const SUNDAY_OR_HOLIDAY = 2;

export function holidaySet(holidays: Iterable<string | number> | undefined): Set<number> {
  const set = new Set<number>();
  for (const h of holidays ?? []) set.add(typeof h === 'number' ? h : parseLocalDate(h));
  return set;
}

/** Day type for load shapes: holidays behave like Sundays. */
export function dayType(day: number, holidays: Set<number>): number {
  if (holidays.has(day)) return SUNDAY_OR_HOLIDAY;
  const wd = weekdayOfDay(day);
  return wd === 0 ? SUNDAY_OR_HOLIDAY : wd === 6 ? SATURDAY : WEEKDAY;
}

export interface TargetCell {
  t: number;
  day: number;
  slot: number;
  hour: number;
}

export function targetCells(timeZone: string, issueTime: number, stepMs: number, n: number): TargetCell[] {
  const out: TargetCell[] = [];
  for (let j = 0; j < n; j++) {
    const t = issueTime + j * stepMs;
    const lt = localTime(timeZone, t);
    out.push({
      t,
      day: lt.day,
      slot: Math.floor(lt.msOfDay / stepMs),
      hour: Math.floor(lt.msOfDay / 3_600_000),
    });
  }
  return out;
}
