/**
 * Local-calendar arithmetic for IANA time zones using the platform's Intl (no dependency).
 * Offsets are memoized per zone in 15-minute UTC bins: every zone's transitions fall on quarter hours,
 * so a bin has one offset, and a year of 15-minute data costs at most 35,040 Intl calls per zone
 * however many sites share it.
 */
const DAY_MS = 86_400_000;
const BIN_MS = 900_000;

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsetMemo = new Map<string, Map<number, number>>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new Error(`unknown time zone "${timeZone}" (expected an IANA name such as Europe/Berlin)`);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws a clear error for an unknown IANA zone name. */
export function assertTimeZone(timeZone: string): void {
  formatter(timeZone);
}

function computeOffset(timeZone: string, t: number): number {
  const parts = formatter(timeZone).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const local = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return local - Math.floor(t / 1000) * 1000;
}

/** Offset of local wall-clock time from UTC in ms at instant t (local = t + offset). */
export function offsetMs(timeZone: string, t: number): number {
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return 0;
  let memo = offsetMemo.get(timeZone);
  if (!memo) {
    memo = new Map();
    offsetMemo.set(timeZone, memo);
  }
  const bin = Math.floor(t / BIN_MS);
  let off = memo.get(bin);
  if (off === undefined) {
    off = computeOffset(timeZone, bin * BIN_MS);
    memo.set(bin, off);
  }
  return off;
}

export interface LocalTime {
  /** Local calendar day as days since 1970-01-01. */
  day: number;
  /** Milliseconds since local midnight (wall clock). */
  msOfDay: number;
  /** 0 = Sunday … 6 = Saturday. */
  weekday: number;
}

export function localTime(timeZone: string, t: number): LocalTime {
  const local = t + offsetMs(timeZone, t);
  const day = Math.floor(local / DAY_MS);
  return { day, msOfDay: local - day * DAY_MS, weekday: weekdayOfDay(day) };
}

export function weekdayOfDay(day: number): number {
  return (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
}

/**
 * First UTC instant of a local calendar day: local midnight, or the end of the DST gap in zones
 * whose clocks skip midnight itself.
 */
export function localDayStart(timeZone: string, day: number): number {
  let t = day * DAY_MS - offsetMs(timeZone, day * DAY_MS) - 3 * 3_600_000;
  t = Math.floor(t / BIN_MS) * BIN_MS;
  for (let i = 0; i < 200; i++, t += BIN_MS) {
    if (localTime(timeZone, t).day >= day) return t;
  }
  throw new Error(`cannot find the start of local day ${day} in ${timeZone}`);
}

/** The instant with the same local wall-clock time `days` days earlier (DST-aware). */
export function sameLocalTimeDaysAgo(timeZone: string, t: number, days: number): number {
  const back = t - days * DAY_MS;
  return back + (offsetMs(timeZone, t) - offsetMs(timeZone, back));
}

/** 'YYYY-MM-DD' → local day number; throws naming the bad value. */
export function parseLocalDate(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s.trim());
  if (!m) throw new Error(`invalid date "${s}" (expected YYYY-MM-DD)`);
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const back = new Date(ms);
  if (back.getUTCMonth() !== Number(m[2]) - 1 || back.getUTCDate() !== Number(m[3])) {
    throw new Error(`invalid date "${s}"`);
  }
  return ms / DAY_MS;
}

export function formatLocalDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}
