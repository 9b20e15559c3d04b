import type { TouWindow } from './schema.ts';

/**
 * Local calendar of a tariff: the wall-clock parts of an instant in an IANA time zone, and the UTC
 * instants where local days and months start (for fixed charges and billing months). Uses the
 * platform's Intl time-zone data; no offsets are hard-coded, so daylight saving moves with the zone.
 */

export interface LocalParts {
  readonly year: number;
  readonly month: number; // 1–12
  readonly day: number; // 1–31
  readonly hour: number; // 0–23
  readonly minute: number;
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(tz, f);
  }
  return f;
}

const BLOCK_MS = 15 * 60_000;
const blocks = new Map<string, LocalParts>();

/**
 * Local parts of t. Every zone's offset is a multiple of 15 minutes and changes only on a 15-minute
 * UTC boundary, so the parts of a 15-minute UTC block are computed once (the Intl call is the cost of
 * a bill) and the minutes within it added.
 */
export function localParts(t: number, tz: string): LocalParts {
  const within = ((t % BLOCK_MS) + BLOCK_MS) % BLOCK_MS;
  const key = `${tz}|${t - within}`;
  let b = blocks.get(key);
  if (!b) {
    if (blocks.size >= 200_000) blocks.clear();
    b = intlParts(t - within, tz);
    blocks.set(key, b);
  }
  return within ? { ...b, minute: b.minute + Math.floor(within / 60_000) } : b;
}

function intlParts(t: number, tz: string): LocalParts {
  const p: Record<string, string> = {};
  for (const x of formatter(tz).formatToParts(t)) p[x.type] = x.value;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    hour: Number(p.hour) % 24,
    minute: Number(p.minute),
    weekday: WEEKDAYS.indexOf(p.weekday),
  };
}

/** The zone's offset from UTC at instant t (ms; local = utc + offset). */
function offsetAt(t: number, tz: string): number {
  const p = localParts(t, tz);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
  return asUtc - Math.floor(t / 60_000) * 60_000;
}

/** The UTC instant of local midnight starting (year, month, day) in tz (month may be 13 = next January). */
export function localMidnight(year: number, month: number, day: number, tz: string): number {
  const guess = Date.UTC(year, month - 1, day);
  let t = guess - offsetAt(guess, tz);
  t = guess - offsetAt(t, tz); // a second pass settles a guess on the other side of a DST change
  return t;
}

/** [start, end) in UTC of the local day containing t. */
export function localDay(t: number, tz: string): [number, number] {
  const p = localParts(t, tz);
  return [localMidnight(p.year, p.month, p.day, tz), localMidnight(p.year, p.month, p.day + 1, tz)];
}

/** [start, end) in UTC of the local calendar month containing t (the billing month). */
export function localMonth(t: number, tz: string): [number, number] {
  const p = localParts(t, tz);
  return [localMidnight(p.year, p.month, 1, tz), localMidnight(p.year, p.month + 1, 1, tz)];
}

export function monthKey(p: LocalParts): string {
  return `${p.year}-${String(p.month).padStart(2, '0')}`;
}

/** Whether local parts fall in a window: its months, day type and hours [from, to) (wrapping past midnight). */
export function inWindow(p: LocalParts, w: TouWindow): boolean {
  if (w.months && !w.months.includes(p.month)) return false;
  const weekend = p.weekday === 0 || p.weekday === 6;
  if (w.days === 'weekday' && weekend) return false;
  if (w.days === 'weekend' && !weekend) return false;
  return w.from < w.to ? p.hour >= w.from && p.hour < w.to : p.hour >= w.from || p.hour < w.to;
}
